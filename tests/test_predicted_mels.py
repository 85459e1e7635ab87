"""The acoustic model that predicts the mels a vocoder fine-tunes on comes from a training
checkpoint or from a voice bundle: both give the same mels, and a bundle that does not fit the
corpus says why."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from autovoice.errors import AutovoiceError  # noqa: E402


@pytest.fixture(scope="module")
def voice(tmp_path_factory):
    from benchmarks._tiny_voice import ACOUSTIC, MEL_HEAD, _config, make_tiny_voice

    root = tmp_path_factory.mktemp("predicted")
    bundle = make_tiny_voice(root, acoustic_steps=3, vocoder=MEL_HEAD, speakers=1, sentences=3)
    return root, bundle, _config(root, 2, ACOUSTIC)


@pytest.mark.slow
def test_a_bundle_predicts_the_mels_its_checkpoint_does(voice, tmp_path):
    from autovoice.plugins import Registry
    from autovoice.training.finetune import predict_mels

    root, bundle, config = voice
    registry = Registry.discover()
    n = predict_mels(config, root / "runs" / "acoustic", tmp_path / "ckpt", registry=registry)
    m = predict_mels(config, bundle, tmp_path / "bundle", registry=registry)
    assert n == m == 3
    files = sorted(p.name for p in (tmp_path / "ckpt").glob("*.npy"))
    assert files == sorted(p.name for p in (tmp_path / "bundle").glob("*.npy")) and files
    for name in files:
        a, b = np.load(tmp_path / "ckpt" / name), np.load(tmp_path / "bundle" / name)
        assert a.shape == b.shape and a.shape[0] == config.audio.n_mels
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_a_bundle_of_other_audio_settings_is_refused(voice, tmp_path):
    from autovoice.plugins import Registry
    from autovoice.training.finetune import predict_mels

    _, bundle, config = voice
    other = tmp_path / "other"
    shutil.copytree(bundle, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["audio"]["f_max"] = 7000.0
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AutovoiceError, match="audio settings differ"):
        predict_mels(config, other, tmp_path / "out", registry=Registry.discover())


@pytest.mark.slow
def test_a_bundle_becomes_an_acoustic_checkpoint_that_predicts_the_same(voice, tmp_path):
    import attrs

    from autovoice.plugins import Registry
    from autovoice.training.finetune import predict_mels, write_acoustic_checkpoint

    _, bundle, config = voice
    registry = Registry.discover()
    saved = write_acoustic_checkpoint(bundle, config, tmp_path / "ckpt", registry=registry, step=7)
    assert saved.name == "step-000000007"
    predict_mels(config, saved, tmp_path / "from-ckpt", registry=registry)
    predict_mels(config, bundle, tmp_path / "from-bundle", registry=registry)
    for path in sorted((tmp_path / "from-bundle").glob("*.npy")):
        np.testing.assert_array_equal(np.load(tmp_path / "from-ckpt" / path.name), np.load(path))
    other = attrs.evolve(config, model=attrs.evolve(config.model, name="voice_converter"))
    with pytest.raises(AutovoiceError, match="acoustic model"):
        write_acoustic_checkpoint(bundle, other, tmp_path / "no", registry=registry, step=1)


@pytest.mark.slow
def test_the_mels_a_vocoder_fine_tunes_on_are_the_decoders_before_the_variance_scale(
    voice, tmp_path
):
    """A voice whose acoustic model scales each band's variance at inference gives the
    vocoder's fine-tuning the decoder's own teacher-forced mels, unscaled: fine-tuned against
    the recordings on scaled mels, the vocoder learns to undo the scale (docs/default-voice.md)."""
    from autovoice.plugins import Registry
    from autovoice.training.finetune import predict_mels

    _, bundle, config = voice
    scaled = tmp_path / "scaled"
    shutil.copytree(bundle, scaled)
    manifest = json.loads((scaled / "manifest.json").read_text())
    manifest["acoustic"]["options"]["variance_scale"] = 2.0
    (scaled / "manifest.json").write_text(json.dumps(manifest))
    registry = Registry.discover()
    predict_mels(config, bundle, tmp_path / "plain", registry=registry)
    predict_mels(config, scaled, tmp_path / "wide", registry=registry)
    files = sorted((tmp_path / "plain").glob("*.npy"))
    assert files
    for path in files:
        a, b = np.load(path), np.load(tmp_path / "wide" / path.name)
        assert np.abs(a - a.mean(1, keepdims=True)).max() > 0.05
        np.testing.assert_array_equal(b, a)
    from autovoice.training.finetune import acoustic_model

    model, _, _ = acoustic_model(scaled, registry, config)
    assert model.variance_scale == 2.0  # the voice does scale at inference

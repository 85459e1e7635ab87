"""The design document's API entries one by one: each is the real implementation under the
document's name, and what an entry needed underneath (weight norm folded and still exportable,
checkpoint aliases, ``train_epoch``, tuple collation, TensorRT without TensorRT)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnxruntime = pytest.importorskip("onnxruntime")

from autovoice.config import AudioConfig  # noqa: E402
from autovoice.corpus.demo import make_demo_corpus  # noqa: E402
from autovoice.data.collate import CollateError  # noqa: E402
from autovoice.errors import BackendError, PluginUnavailableError, UnknownPluginError  # noqa: E402
from autovoice.models.hifigan import HiFiGAN  # noqa: E402
from autovoice.models.transformer import ModelInputError, VoiceTransformer  # noqa: E402
from autovoice.training.checkpoint_manager import (  # noqa: E402
    CheckpointManager,
    NoCheckpointError,
)
from autovoice.training.data_pipeline import TUPLE_KEYS, get_collate_fn  # noqa: E402
from autovoice.training.trainer import TrainingError  # noqa: E402
from autovoice_models.hifigan.generator import Generator  # noqa: E402

from test_torch_free import run_clean  # noqa: E402  # isort: skip
from test_trainer import make_config, make_trainer, toy_recipe  # noqa: E402  # isort: skip

HIFIGAN = {
    "n_mels": 20,
    "upsample_rates": (4, 4),
    "upsample_kernel_sizes": (8, 8),
    "upsample_initial_channel": 16,
    "resblock": 2,
    "resblock_kernel_sizes": (3,),
    "resblock_dilations": ((1, 3),),
}
TRANSFORMER = {
    "n_symbols": 12,
    "n_speakers": 3,
    "n_mels": 20,
    "d_model": 16,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "heads": 2,
    "ff_dim": 32,
    "ff_kernel": 3,
    "predictor_channels": 16,
    "predictor_kernel": 3,
    "aligner_dim": 8,
    "dropout": 0.0,
}


# -- models ---------------------------------------------------------------------------------


def test_a_folded_generator_still_exports_and_folds_again_as_a_no_op():
    torch.manual_seed(0)
    generator = Generator(**HIFIGAN).eval()
    mel = torch.randn(2, 20, 7)
    with torch.no_grad():
        before = generator(mel)
        generator.prepare_for_export()
        copy_of_folded = generator.folded_copy()
        assert torch.equal(copy_of_folded(mel), before)
        assert torch.equal(generator.prepare_for_export()(mel), before)
    assert not copy_of_folded.has_weight_norm and copy_of_folded is not generator


def _run(path: Path, **inputs: np.ndarray) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


def test_hifigan_exports_with_a_dynamic_time_axis_and_is_left_as_it_was(tmp_path):
    torch.manual_seed(0)
    model = HiFiGAN(**HIFIGAN)
    assert isinstance(model, Generator) and model.has_weight_norm
    path = model.export_to_onnx(tmp_path / "vocoder.onnx")
    assert model.has_weight_norm  # a folded copy was exported
    for frames in (5, 33):
        mel = np.random.default_rng(frames).normal(size=(1, 20, frames)).astype(np.float32)
        (audio,) = _run(path, mel=mel)
        with torch.no_grad():
            expected = model.eval()(torch.from_numpy(mel)).numpy()
        assert audio.shape == (1, frames * 16)
        np.testing.assert_allclose(audio, expected, atol=1e-4)
    model.prepare_for_export()
    assert model.export_to_onnx(tmp_path / "folded.onnx").is_file()


def _batch(speakers: list[int]) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "tokens": torch.tensor([[3, 4, 5, 6, 7], [8, 9, 2, 0, 0]]),
        "token_lengths": torch.tensor([5, 3]),
        "mels": torch.randn(2, 20, 14, generator=generator),
        "mel_lengths": torch.tensor([14, 9]),
        "speakers": torch.tensor(speakers),
        "pitch": torch.full((2, 14), 120.0),
    }


def test_forward_for_training_takes_the_batch_and_a_speaker_id():
    torch.manual_seed(0)
    model = VoiceTransformer(**TRANSFORMER).eval()
    given = copy.deepcopy(model).forward_for_training(_batch([0, 0]), speaker_id=2)
    inside = copy.deepcopy(model).forward_for_training(_batch([2, 2]))
    other = copy.deepcopy(model).forward_for_training(_batch([0, 0]))
    assert {"loss", "mel_loss", "duration_loss", "bin_loss"} <= set(given)
    assert all(torch.equal(given[k], inside[k]) for k in given)
    assert not torch.equal(given["mel_loss"], other["mel_loss"])
    with pytest.raises(ModelInputError, match="mel_spec must be the batch mapping"):
        model.forward_for_training(torch.zeros(2, 20, 14), 0)
    with pytest.raises(ModelInputError, match="speaker_id must be an int"):
        model.forward_for_training(_batch([0, 0]), speaker_id="two")


def test_voice_transformer_exports_its_inference_graph(tmp_path):
    torch.manual_seed(0)
    model = VoiceTransformer(**TRANSFORMER)
    path = model.export_to_onnx(tmp_path / "acoustic.onnx")
    assert model.training  # left as it was
    for length in (4, 11):
        outputs = _run(
            path,
            tokens=np.arange(1, length + 1, dtype=np.int64)[None] % 12,
            token_lengths=np.array([length], np.int64),
            speakers=np.array([1], np.int64),
            pace=np.ones(1, np.float32),
            pitch_shift=np.zeros(1, np.float32),
            energy_scale=np.ones(1, np.float32),
        )
        mel, mel_lengths, durations = outputs
        assert mel.shape[:2] == (1, 20) and durations.shape == (1, length)
        assert int(mel_lengths[0]) == int(durations.sum())


# -- checkpoints ----------------------------------------------------------------------------


def _save(manager: CheckpointManager, model: torch.nn.Module, step: int, metrics: dict) -> None:
    with torch.no_grad():
        model.weight.fill_(float(step))
    manager.save(model, None, None, epoch=0, step=step, metrics=metrics, config={})


def test_best_and_latest_checkpoint_names_stand_for_those_checkpoints(tmp_path):
    folder = tmp_path / "checkpoints"
    manager = CheckpointManager(checkpoint_dir=folder, max_keep=5, keep_best=3)
    model = torch.nn.Linear(2, 2)
    for step, loss in ((1, 3.0), (2, 1.0), (3, 2.0)):
        _save(manager, model, step, {"val_loss": loss})
    best = manager.load(str(folder / "best_checkpoint.pt"), model, restore_rng=False)
    assert best.step == 2 and torch.all(model.weight == 2.0)
    latest = manager.load(f"{folder}/latest_checkpoint.pt", model, restore_rng=False)
    assert latest.step == 3 and torch.all(model.weight == 3.0)
    _, step, _ = manager.resume_from_checkpoint(
        str(folder / "best_checkpoint.pt"), model, None, None
    )
    assert step == 2
    highest = CheckpointManager(folder, metric_name="val_loss", mode="max")
    assert highest.locate(str(folder / "best_checkpoint.pt"))[1] == "step-000000001"


def test_an_alias_with_nothing_to_stand_for_names_what_exists(tmp_path):
    folder = tmp_path / "checkpoints"
    manager = CheckpointManager(folder)
    model = torch.nn.Linear(2, 2)
    with pytest.raises(NoCheckpointError, match=r"latest checkpoint .* holds no checkpoint"):
        manager.load(str(folder / "latest_checkpoint.pt"), model)
    _save(manager, model, 4, {})
    with pytest.raises(NoCheckpointError, match=r"metric 'val_loss' .* holds step-000000004"):
        manager.load(str(folder / "best_checkpoint.pt"), model)


# -- data -----------------------------------------------------------------------------------


def _items() -> list[dict]:
    return [
        {"id": "a", "tokens": np.array([3, 4, 5]), "mel": np.zeros((4, 6), np.float32),
         "speaker": np.int64(1)},
        {"id": "b", "tokens": np.array([6]), "mel": np.ones((4, 2), np.float32),
         "speaker": np.int64(0)},
    ]  # fmt: skip


def test_collate_fn_gives_tuples_in_the_documented_order():
    as_dict = get_collate_fn("voice", as_tuple=False)(_items())
    as_tuple = get_collate_fn("voice")(_items())
    assert len(as_tuple) == len(TUPLE_KEYS["voice"])
    for key, value in zip(TUPLE_KEYS["voice"], as_tuple, strict=True):
        assert torch.equal(value, as_dict[key])
    pad = float(np.log(AudioConfig().log_clamp))
    assert as_tuple[2][1, 0, -1] == pytest.approx(pad)  # padded mel frames hold silence
    assert get_collate_fn("voice", keys=["speakers"], mel_pad=0.0)(_items())[0].tolist() == [1, 0]


def test_collate_fn_names_what_is_wrong():
    with pytest.raises(UnknownPluginError, match="voice"):
        get_collate_fn("voices")
    with pytest.raises(CollateError, match="no source_mels"):
        get_collate_fn("paired")(_items())
    with pytest.raises(CollateError, match="keys must be a list"):
        get_collate_fn("voice", keys="tokens")


# -- the trainer ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    make_demo_corpus(out, speakers=2, sentences=12, seed=0, workers=1)
    return out


@pytest.mark.slow
def test_train_epoch_steps_once_per_batch_group_and_returns_their_mean_loss(corpus, tmp_path):
    config = make_config(corpus, tmp_path, "training.grad_accumulation=2")
    trainer = make_trainer(config, toy_recipe())
    loader = trainer.loaders["train"]
    batches = len(loader)
    loss = trainer.train_epoch(loader, 3)
    steps = batches // 2
    assert steps > 0 and trainer.step == steps and len(trainer.losses) == steps
    assert loss == pytest.approx(sum(trainer.losses) / steps)
    # epoch 3 from its first batch: its batches consumed, then the next epoch when all were
    done = (
        {"epoch": 4, "position": 0} if 2 * steps == batches else {"epoch": 3, "position": 2 * steps}
    )
    assert {k: loader.state_dict()[k] for k in done} == done
    with pytest.raises(TrainingError, match="epoch must be an integer"):
        trainer.train_epoch(loader, -1)
    with pytest.raises(TrainingError, match="gave a tuple batch"):
        trainer.train_epoch([(1, 2), (3, 4)], 0)


# -- TensorRT -------------------------------------------------------------------------------


def test_tensorrt_engine_imports_without_tensorrt_or_torch():
    result = run_clean(
        """
        import json, sys
        import autovoice.inference.tensorrt_engine, autovoice.inference.engine
        extra = None
        """
    )
    assert result == {"loaded": [], "extra": None}


def test_tensorrt_calls_without_tensorrt_give_the_install_hint(tmp_path):
    from autovoice.inference.tensorrt_engine import TensorRTEngine
    from autovoice.plugins import Registry

    if Registry.discover().get("backend", "tensorrt").availability().available:
        pytest.skip("TensorRT is usable here")
    engine = TensorRTEngine(tmp_path / "missing.plan")
    hint = r"tensorrt backend is unavailable: needs tensorrt.*pip install 'autovoice\[tensorrt\]'"
    with pytest.raises(PluginUnavailableError, match=hint):
        engine.build_engine(tmp_path / "model.onnx")
    with pytest.raises(PluginUnavailableError, match=hint):
        engine.infer({})


def test_build_engine_builds_with_the_profiles_given(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    import autovoice_tensorrt.build as build_module

    from _fake_tensorrt import FakeTensorRT, tiny_onnx  # isort: skip
    from autovoice.config import ExportConfig
    from autovoice.inference import tensorrt_engine

    trt = FakeTensorRT()
    monkeypatch.setattr(build_module, "tensorrt_module", lambda: trt)
    monkeypatch.setattr(build_module, "trt_logger", lambda: None)
    monkeypatch.setattr(tensorrt_engine, "require_tensorrt", lambda *a, **k: None)
    model = tiny_onnx(tmp_path / "tiny.onnx")
    engine = tensorrt_engine.TensorRTEngine()
    shapes = ((1, 1, 4), (2, 8, 4), (4, 64, 4))
    plan = engine.build_engine(model, tmp_path / "out" / "tiny.plan", profiles=[{"x": shapes}])
    assert plan.read_bytes() == b"plan bytes" and engine.engine_path == plan
    assert trt.config.profiles == [{"x": shapes}]
    export = ExportConfig(batch_min=1, batch_opt=2, batch_max=3, frames_opt=5, frames_max=9)
    default = engine.build_engine(model, export=export)
    assert default == model.with_suffix(".plan")
    assert trt.config.profiles == [{"x": ((1, export.frames_min, 4), (2, 5, 4), (3, 9, 4))}]
    with pytest.raises(BackendError, match=r"profiles\[0\]\['x'\] must be \(min, opt, max\)"):
        engine.build_engine(model, profiles=[{"x": shapes[:2]}])


def test_an_engine_from_a_config_is_torch_free():
    result = run_clean(
        """
        import json, sys
        from autovoice.config import Config, apply_overrides
        from autovoice.inference.engine import VoiceInferenceEngine
        config = apply_overrides(Config(), ["inference.device='cpu'"])
        engine = VoiceInferenceEngine(config)
        wave = engine.synthesize_speech("Hello world.", speaker_id=0, batch_size=1)
        extra = {"samples": len(wave), "backends": engine.backends}
        """
    )
    assert result["loaded"] == [] and result["extra"]["samples"] > 0
    assert result["extra"]["backends"]["acoustic"] == "onnxruntime"

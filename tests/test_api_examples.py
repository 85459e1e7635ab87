"""The design document's three usage examples (``../shared/SPEC.md``), run as written with
``autovoice`` as the package name, on a tiny config and a demo corpus made here; and the
checkpoint-based export entry points they lean on.

Each example's code sits between ``# -- the document's example`` and ``# --`` exactly as the
document gives it (a line of blanks left empty); what comes before sets up the names it uses
(``config``, ``model``, …), what comes after checks what it did.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from autovoice.config import Config, apply_overrides  # noqa: E402
from autovoice.corpus.demo import make_demo_corpus  # noqa: E402
from autovoice.errors import PluginUnavailableError  # noqa: E402
from autovoice.export import export_voice  # noqa: E402
from autovoice.plugins import Registry  # noqa: E402
from autovoice.training.build import build_trainer  # noqa: E402
from autovoice.training.runtime import Runtime  # noqa: E402
from autovoice.training.trainer import Trainer  # noqa: E402

pytestmark = pytest.mark.slow

ACOUSTIC = (
    "model.options.preset='tiny'",
    "model.options.d_model=32",
    "model.options.encoder_layers=1",
    "model.options.decoder_layers=1",
    "model.options.ff_dim=64",
    "model.options.predictor_channels=32",
    "model.options.aligner_dim=16",
    "data.options.segment_size=0",
    "data.options.pitch=true",
)
VOCODER = (
    "vocoder.name='hifigan'",
    "vocoder.options.preset='v3'",
    "vocoder.options.upsample_initial_channel=16",
    "vocoder.options.segment_size=2048",
    "vocoder.options.discriminators='none'",
    "data.options.segment_size=2048",
    "data.options.pitch=false",
)


def tiny_config(corpus: Path, *extra: str) -> Config:
    return apply_overrides(
        Config(),
        [
            f"data.corpus='{corpus}'",
            "data.val_fraction=0.2",
            "data.min_duration=0.1",
            "training.batch_size=2",
            "training.max_steps=2",
            "training.val_every=2",
            "training.checkpoint_every=2",
            "training.log_every=1000",
            "training.device='cpu'",
            *ACOUSTIC,
            *extra,
        ],
    )


def fit(config: Config, stage: str = "acoustic") -> Trainer:
    runtime = Runtime(torch.device("cpu"), "fp32")
    trainer = build_trainer(config, stage=stage, runtime=runtime, progress=False)
    trainer.fit()
    return trainer


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    make_demo_corpus(out, speakers=2, sentences=6, seed=0, workers=1)
    return out


@pytest.fixture(scope="module")
def runs(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training output folder with a tiny acoustic and a tiny vocoder run."""
    out = tmp_path_factory.mktemp("runs")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fit(tiny_config(corpus, f"training.output_dir='{out}'"))
        fit(tiny_config(corpus, f"training.output_dir='{out}'", *VOCODER), "vocoder")
    return out


@pytest.fixture(scope="module")
def voice(runs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("voice") / "voice"
    return export_voice(runs / "acoustic", runs / "vocoder", out)


@pytest.fixture
def torchrun(monkeypatch: pytest.MonkeyPatch):
    """One process group of one rank, as ``torchrun --nproc-per-node 1`` sets it up."""
    import socket

    import torch.distributed as dist

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for key, value in {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_RANK": "0",
    }.items():
        monkeypatch.setenv(key, value)
    dist.init_process_group("gloo")
    yield
    dist.destroy_process_group()


def test_training_with_checkpointing(corpus, tmp_path, monkeypatch, torchrun):
    monkeypatch.chdir(tmp_path)
    config = tiny_config(corpus, "training.output_dir='runs'", "checkpoint.uri='checkpoints'")
    trainer = fit(config)  # the run the example resumes: checkpoints/step-000000002
    saved = {k: v.clone() for k, v in trainer.modules["model"].state_dict().items()}
    model, optimizer, scheduler = trainer.modules, trainer.optimizers, trainer.schedulers
    with torch.no_grad():  # spoil the weights: resuming must bring the saved ones back
        for parameter in model["model"].parameters():
            parameter.zero_()
    start_epoch, num_epochs = 0, 2
    steps_before = trainer.step
    # -- the document's example
    # fmt: off
    from autovoice.training.checkpoint_manager import CheckpointManager
    from autovoice.training.data_pipeline import create_dataloaders

    # Initialize checkpoint manager
    checkpoint_mgr = CheckpointManager(
        checkpoint_dir='checkpoints',
        max_keep=5,        # Keep 5 most recent
        keep_best=3,       # Keep 3 best checkpoints
        metric_name='val_loss'
    )

    # Create dataloaders
    dataloaders = create_dataloaders(config, distributed=True)

    # Resume training
    epoch, step, checkpoint = checkpoint_mgr.resume_from_checkpoint(
        'checkpoints/best_checkpoint.pt',
        model=model,
        optimizer=optimizer,
        scheduler=scheduler
    )
    resumed = {k: v.clone() for k, v in model["model"].state_dict().items()}

    # Training loop
    for epoch in range(start_epoch, num_epochs):
        train_loss = trainer.train_epoch(dataloaders['train'], epoch)
        val_loss = trainer.validate(dataloaders['val'])

        # Save checkpoint
        checkpoint_mgr.save(
            model, optimizer, scheduler,
            epoch, step,
            metrics={'train_loss': train_loss, 'val_loss': val_loss},
            config=config
        )
    # fmt: on
    # --
    assert checkpoint.name == "step-000000002" and step == 2
    assert all(torch.equal(resumed[k], saved[k]) for k in saved)
    batches = len(dataloaders["train"])
    assert batches > 0 and trainer.step == steps_before + num_epochs * batches
    assert isinstance(train_loss, float) and np.isfinite(train_loss)
    assert isinstance(val_loss, float) and np.isfinite(val_loss)
    trained = model["model"].state_dict()
    assert any(not torch.equal(trained[k], saved[k]) for k in saved)
    (record,) = checkpoint_mgr.list_checkpoints()  # the loop saves at the resumed step
    assert record.metrics == {"train_loss": train_loss, "val_loss": val_loss}
    assert record.epoch == num_epochs - 1


def test_validate_with_a_loader_is_the_ranked_metric(corpus, tmp_path):
    config = tiny_config(corpus, f"training.output_dir='{tmp_path}'")
    trainer = fit(config)
    val = trainer.loaders["val"]
    assert trainer.validate(val) == trainer.validate()["val_loss"]
    renamed = apply_overrides(config, ["checkpoint.metric_name='mel_loss'"])
    trainer.config = renamed
    assert trainer.validate(val) == trainer.validate()["mel_loss"]
    trainer.config = apply_overrides(config, ["checkpoint.metric_name='nope'"])
    with pytest.raises(Exception, match=r"no metric 'nope'.*mel_loss"):
        trainer.validate(val)


def test_export_pipeline_without_tensorrt_names_the_install(corpus, tmp_path, monkeypatch):
    if Registry.discover().get("backend", "tensorrt").availability().available:
        pytest.skip("TensorRT is usable here: the tensorrt test group runs the example")
    monkeypatch.chdir(tmp_path)
    config = tiny_config(corpus)
    with pytest.raises(
        PluginUnavailableError, match=r"needs tensorrt.*pip install 'autovoice\[tensorrt\]'"
    ):
        # -- the document's example
        # fmt: off
        from autovoice.inference.model_exporter import build_tensorrt_engines

        # Export all models to TensorRT
        engine_paths = build_tensorrt_engines(
            config=config,
            models_dir='models/pytorch',
            engines_dir='models/engines',
            fp16=True  # Use FP16 for speed
        )
        # fmt: on
    # --
    assert not Path("models").exists()  # refused before anything was exported
    assert "engine_paths" not in locals()


@pytest.mark.gpu
@pytest.mark.tensorrt
def test_export_pipeline_builds_both_engines(corpus, tmp_path, monkeypatch):
    if not Registry.discover().get("backend", "tensorrt").availability().available:
        pytest.skip("needs TensorRT, cuda-python and a CUDA GPU")
    monkeypatch.chdir(tmp_path)
    config = tiny_config(corpus, "training.output_dir='models/pytorch'")
    fit(config)
    fit(apply_overrides(config, list(VOCODER)), "vocoder")
    # -- the document's example
    # fmt: off
    from autovoice.inference.model_exporter import build_tensorrt_engines

    # Export all models to TensorRT
    engine_paths = build_tensorrt_engines(
        config=config,
        models_dir='models/pytorch',
        engines_dir='models/engines',
        fp16=True  # Use FP16 for speed
    )
    # fmt: on
    # --
    assert set(engine_paths) == {"transformer", "vocoder"}
    for path in engine_paths.values():
        assert Path(path).is_file() and Path(path).parent == Path("models/engines")
    from autovoice.inference.tensorrt_engine import TensorRTEngine

    info = TensorRTEngine(engine_paths["vocoder"]).get_engine_info()
    assert info["precision"] == "fp16" and [t["name"] for t in info["inputs"]] == ["mel"]


def test_inference_with_dynamic_shapes(voice):
    config = apply_overrides(Config(), [f"inference.voice='{voice}'", "inference.device='cpu'"])
    # -- the document's example
    # fmt: off
    from autovoice.inference.engine import VoiceInferenceEngine

    # Initialize inference engine
    engine = VoiceInferenceEngine(config)

    # Synthesize speech (variable length supported)
    audio = engine.synthesize_speech(
        text="Hello world, this is a test.",
        speaker_id=0,
        batch_size=1
    )
    # fmt: on
    # --
    assert audio.dtype == np.float32 and audio.ndim == 1 and audio.size > 0
    assert np.isfinite(audio).all()
    assert engine.backends == {"acoustic": "onnxruntime", "vocoder": "onnxruntime"}
    same = VoiceInferenceEngine(voice, device="cpu").synthesize_speech(
        "Hello world, this is a test."
    )
    assert np.array_equal(audio, same)
    on_torch = apply_overrides(config, ["inference.backend='pytorch'"])
    assert VoiceInferenceEngine(on_torch).backends == {"acoustic": "pytorch", "vocoder": "pytorch"}


def test_load_pytorch_models_moves_every_stage_to_pytorch(voice):
    from autovoice.inference.engine import VoiceInferenceEngine

    engine = VoiceInferenceEngine(voice, device="cpu", backend="onnxruntime")
    text = "Hello world, this is a test."
    onnx = engine.synthesize_speech(text)
    assert engine.load_pytorch_models() == {"acoustic": "pytorch", "vocoder": "pytorch"}
    wave = engine.synthesize_speech(text)
    assert wave.shape == onnx.shape and np.abs(wave - onnx).max() < 1e-2


def test_preprocess_text_pads_masks_and_batches(voice):
    from autovoice.inference.engine import VoiceInferenceEngine

    engine = VoiceInferenceEngine(voice, device="cpu")
    texts = ["Hi.", "A much longer second sentence, with a clause."]
    batch = engine.preprocess_text(texts)
    lengths = batch["token_lengths"]
    assert batch["tokens"].shape == (2, lengths.max()) and lengths[0] < lengths[1]
    assert (batch["token_mask"].sum(1) == lengths).all()
    assert (batch["tokens"][0, lengths[0] :] == 0).all()
    single = engine.preprocess_text(texts[1])
    assert np.array_equal(single["tokens"][0], batch["tokens"][1])
    pieces = engine.preprocess_text([*texts, "Third."], batch_size=2)
    assert [p["tokens"].shape[0] for p in pieces] == [2, 1]
    with pytest.raises(Exception, match="batch_size"):
        engine.preprocess_text(texts, batch_size=0)


def test_checkpoint_exports_hold_to_pytorch(runs, tmp_path):
    from autovoice.export.errors import ExportValidationError
    from autovoice.inference.model_exporter import (
        export_transformer_to_onnx,
        export_vocoder_to_onnx,
        validate_exported_model,
    )

    acoustic = export_transformer_to_onnx(runs / "acoustic", tmp_path / "t.onnx", None)
    vocoder = export_vocoder_to_onnx(runs / "vocoder", tmp_path / "v.onnx", None)
    assert validate_exported_model(vocoder)["inputs"] == ["mel"]
    checked = validate_exported_model(acoustic, runs / "acoustic", tolerance=1e-3)
    assert checked["outputs"][:2] == ["mel", "mel_lengths"]
    assert checked["validation"]["max_abs_diff"] <= 1e-3
    with pytest.raises(ExportValidationError, match=r"is not the graph of .*acoustic"):
        validate_exported_model(vocoder, runs / "acoustic")
    with pytest.raises(Exception, match="vocoder"):
        export_vocoder_to_onnx(runs / "acoustic", tmp_path / "x.onnx")

"""The model and vocoder guide of docs/plugins.md is held to the real contract.

Every python block of the ``autovoice_models`` and ``autovoice_vocoders`` sections whose first
line is ``# package/module.py`` is written to that file; the two packages are registered as
plugins, each stage trains for two steps on a generated corpus through the trainer's own build
path, and the voice is exported (ONNX, parity-checked) and speaks on onnxruntime.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from autovoice.config import Config, apply_overrides  # noqa: E402
from autovoice.heads import HEADS  # noqa: E402
from autovoice.plugins import Registry  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PLUGINS_MD = ROOT / "docs" / "plugins.md"
SECTIONS = ("### `autovoice_models`", "### `autovoice_vocoders`")
FILE_BLOCK = re.compile(
    r"^```python\n# (?P<path>[A-Za-z_]\w*/[A-Za-z_]\w*\.py)\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
GUIDE_FILES = {
    "tiny_tts/__init__.py",
    "tiny_tts/model.py",
    "tiny_tts/recipe.py",
    "tiny_vocos/__init__.py",
    "tiny_vocos/recipe.py",
}
PACKAGES = ("tiny_tts", "tiny_vocos")


def guide_files(text: str) -> dict[str, str]:
    """``path -> source`` of the file blocks in the model and vocoder sections of ``text``."""
    start = text.index(SECTIONS[0])
    end = text.index("\n### ", text.index(SECTIONS[1]) + len(SECTIONS[1]))
    files: dict[str, str] = {}
    for block in FILE_BLOCK.finditer(text[start:end]):
        assert block["path"] not in files, f"docs/plugins.md shows {block['path']} twice"
        files[block["path"]] = block["body"]
    return files


def write_packages(files: dict[str, str], root: Path) -> None:
    for path, body in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory) -> list[ModuleType]:
    """The guide's two packages, written out and imported (and forgotten afterwards)."""
    root = tmp_path_factory.mktemp("guide-plugins")
    write_packages(guide_files(PLUGINS_MD.read_text(encoding="utf-8")), root)
    sys.path.insert(0, str(root))
    try:
        yield [importlib.import_module(name) for name in PACKAGES]
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.split(".")[0] in PACKAGES]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def registry(guide: list[ModuleType]) -> Registry:
    """The installed plugins (datasets, stores, backends, built-in models) and the guide's."""
    return Registry.discover(plugins=guide)


def test_the_guide_shows_each_file_of_both_packages_once():
    assert set(guide_files(PLUGINS_MD.read_text(encoding="utf-8"))) == GUIDE_FILES


def test_the_guides_specs_have_names_of_their_own(registry):
    """Not a head's name (``griffin_lim`` is a vocoder by itself), not a built-in's: the
    registry, which holds the built-ins too, refuses a clash, so getting here is half of it."""
    model, vocoder = registry.get("model", "tiny_tts"), registry.get("vocoder", "tiny_vocos")
    taken = {name for head in HEADS.values() for name in (head.name, head.label, head.plugin)}
    assert model.name not in taken and vocoder.name not in taken
    assert vocoder.head == "istft" and model.options_type is not None
    assert vocoder.options_type is None


def test_the_options_table_reaches_the_model_flat(registry):
    from autovoice.config.schema import AudioConfig, TrainingConfig

    spec = registry.get("model", "tiny_tts")
    options = spec.options_type(hidden=8, frames_per_token=3)
    recipe = spec.create(
        options, audio=AudioConfig(), n_symbols=20, n_speakers=2, training=TrainingConfig()
    )
    model = recipe.modules["model"]
    assert model.symbols.weight.shape == (20, 8) and model.frames_per_token == 3
    tokens = torch.tensor([[3, 4, 5], [6, 7, 0]])
    mel, lengths = recipe.export_module()(
        tokens, torch.tensor([3, 2]), torch.tensor([0, 1]), torch.tensor([1.0, 0.5])
    )
    assert lengths.tolist() == [9, 12] and mel.shape == (2, AudioConfig().n_mels, 12)


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Path:
    """Both stages trained for two steps through ``build_trainer``, then exported."""
    from autovoice.corpus.demo import make_demo_corpus
    from autovoice.export import export_voice
    from autovoice.training.build import build_trainer
    from autovoice.training.runtime import Runtime

    root = tmp_path_factory.mktemp("guide-voice")
    make_demo_corpus(root / "corpus", speakers=1, sentences=4, seed=0, workers=1)
    common = [
        f"data.corpus='{root / 'corpus'}'",
        "data.val_fraction=0.25",
        "data.min_duration=0.1",
        "data.options.segment_size=2048",
        "data.options.pitch=false",
        "training.batch_size=2",
        "training.max_steps=2",
        "training.val_every=2",
        "training.checkpoint_every=1000",
        "training.log_every=1000",
        "training.device='cpu'",
        f"training.output_dir='{root / 'runs'}'",
        "model.name='tiny_tts'",
        "model.options.hidden=16",
        "vocoder.name='tiny_vocos'",
    ]
    runtime = Runtime(torch.device("cpu"), "fp32")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            for stage in ("acoustic", "vocoder"):
                config = apply_overrides(Config(), common)
                trainer = build_trainer(
                    config, stage=stage, registry=registry, runtime=runtime, progress=False
                )
                trainer.fit()
        runs = root / "runs"
        return export_voice(runs / "acoustic", runs / "vocoder", root / "voice", registry=registry)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_the_guides_voice_trains_exports_and_speaks(voice, registry):
    from autovoice.inference import VoiceInferenceEngine

    manifest = json.loads((voice / "manifest.json").read_text(encoding="utf-8"))
    acoustic, vocoder = manifest["acoustic"], manifest["vocoder"]
    assert (acoustic["plugin"], acoustic["options"]["hidden"]) == ("tiny_tts", 16)
    assert (vocoder["plugin"], vocoder["head"]) == ("tiny_vocos", "istft")
    assert acoustic["checkpoint"]["step"] == vocoder["checkpoint"]["step"] == 2
    assert "validation" in acoustic and "validation" in vocoder  # ONNX held to PyTorch
    engine = VoiceInferenceEngine(voice, backend="onnxruntime", registry=registry, threads=1)
    assert engine.backends == {"acoustic": "onnxruntime", "vocoder": "onnxruntime+istft"}
    (wave,) = engine.synthesize_batch(["Hello there."])
    assert wave.dtype == np.float32 and wave.size > 0 and np.isfinite(wave).all()

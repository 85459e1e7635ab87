"""Export: checkpoints trained here become a voice bundle whose graphs match PyTorch, whose
manifest and checksums hold, and which ``autovoice info`` describes."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import attrs
import numpy as np
import onnx
import pytest
import torch
from safetensors.torch import load_file

from autovoice.bundle import BundleError, VoiceBundle, file_table
from autovoice.bundle.external import check_external_data
from autovoice.commands import export as export_command
from autovoice.commands import info as info_command
from autovoice.config import AudioConfig, Config, apply_overrides
from autovoice.corpus.demo import make_demo_corpus
from autovoice.errors import AutovoiceError
from autovoice.export import ExportError, ExportValidationError, bundle_writer
from autovoice.export.mels import check_audio_match
from autovoice.export.validate import ValidationLengths, validate_exported_model, vocoder_cases
from autovoice.plugins import Registry
from autovoice.training.build import build_trainer
from autovoice.training.checkpoints.manager import CheckpointManager
from autovoice.training.checkpoints.references import resolve_checkpoint

TOLERANCE = 1e-4
"""ONNX Runtime vs PyTorch, largest absolute difference (measured: about 1e-6 for the mel,
1e-8 for the waveform)."""
LENGTHS = ValidationLengths(tokens=(4, 16, 48), frames=(8, 24, 64))
COMMON = [
    "data.val_fraction=0.2",
    "data.min_duration=0.1",
    "training.batch_size=4",
    "training.max_steps=2",
    "training.val_every=1",
    "training.checkpoint_every=1",
    "training.log_every=1",
    "training.device='cpu'",
]
ACOUSTIC = [
    "data.options.segment_size=0",
    "data.options.pitch=true",
    "model.name='voice_transformer'",
    "model.options.preset='tiny'",
    "model.options.d_model=32",
    "model.options.ff_dim=64",
    "model.options.encoder_layers=1",
    "model.options.decoder_layers=1",
    "model.options.predictor_channels=32",
    "model.options.aligner_dim=32",
]
VOCODER = [
    "data.options.segment_size=1024",
    "data.options.pitch=false",
    "vocoder.name='hifigan'",
    "vocoder.options.preset='v2'",
    "vocoder.options.upsample_initial_channel=32",
    "vocoder.options.segment_size=1024",
    "vocoder.options.discriminators='none'",
    "training.val_every=2",
]


@attrs.frozen
class Runs:
    acoustic: Path
    vocoder: Path


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: small models gain nothing from more, and lose much on shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Runs:
    """Two training steps of a small acoustic model and of a small vocoder, a checkpoint each."""
    root = tmp_path_factory.mktemp("runs")
    make_demo_corpus(root / "corpus", speakers=2, sentences=6, seed=0)
    common = [*COMMON, f"data.corpus='{root / 'corpus'}'", f"training.output_dir='{root}'"]
    torch.manual_seed(0)
    for stage, extra in (("acoustic", ACOUSTIC), ("vocoder", VOCODER)):
        config = apply_overrides(Config(), [*common, *extra])
        build_trainer(config, stage=stage, registry=registry, progress=False).fit()
    return Runs(acoustic=root / "acoustic", vocoder=root / "vocoder")


@pytest.fixture(scope="module")
def bundle(runs: Runs, registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out") / "voice"
    return bundle_writer.export_voice(
        runs.acoustic,
        f"{runs.vocoder}@best",
        out,
        overrides=[f"export.tolerance={TOLERANCE}"],
        registry=registry,
        lengths=LENGTHS,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def latest(run: Path) -> Path:
    return sorted((run / "checkpoints").glob("step-*"))[-1]


def command(module, *argv: str) -> int:
    root = argparse.ArgumentParser(prog="autovoice")
    module.register(root.add_subparsers())
    args = root.parse_args(list(argv))
    return int(args.func(args))


# -- the manifest --------------------------------------------------------------------------------


def test_manifest_describes_the_voice_and_lists_every_file(bundle, runs, registry):
    manifest = json.loads((bundle / "manifest.json").read_text())
    checkpoint, _, _ = CheckpointManager(runs.acoustic / "checkpoints", recover=False).read(
        latest(runs.acoustic).name
    )
    assert (manifest["format"], manifest["format_version"], manifest["name"]) == (
        "autovoice-voice",
        2,
        "voice",
    )
    assert manifest["symbols"] == checkpoint.meta["symbols"]
    assert manifest["speakers"] == list(checkpoint.extra_state["speakers"])
    assert len(manifest["speakers"]) == 2
    assert manifest["audio"] == checkpoint.meta["config"]["audio"]
    on_disk = {p.name for p in bundle.iterdir()} - {"manifest.json"}
    assert (
        set(manifest["files"])
        == on_disk
        == {
            "acoustic.onnx",
            "acoustic.safetensors",
            "vocoder.onnx",
            "vocoder.safetensors",
        }
    )
    for name, entry in manifest["files"].items():
        assert entry == {"sha256": sha256(bundle / name), "size": (bundle / name).stat().st_size}
    assert set(manifest["tools"]) == {"autovoice", "torch", "onnx", "onnxruntime", "python"}
    assert manifest["tools"]["torch"] == torch.__version__


def test_stages_record_plugin_options_checkpoint_and_parity(bundle, runs):
    manifest = json.loads((bundle / "manifest.json").read_text())
    acoustic, vocoder = manifest["acoustic"], manifest["vocoder"]
    assert acoustic["plugin"] == "voice_transformer" and vocoder["plugin"] == "hifigan"
    assert acoustic["options"]["preset"] == "tiny" and acoustic["options"]["d_model"] == 32
    assert vocoder["options"]["upsample_initial_channel"] == 32
    assert (vocoder["head"], vocoder["head_options"]) == ("waveform", {})
    assert "head" not in acoustic
    for entry, run in ((acoustic, runs.acoustic), (vocoder, runs.vocoder)):
        where = latest(run)
        assert entry["checkpoint"]["step"] == int(where.name.split("-")[1])
        assert entry["checkpoint"]["sha256_meta"] == sha256(where / "meta.json")
        assert entry["opset"] == 17
        assert entry["validation"]["tolerance"] == TOLERANCE
        assert 0 <= entry["validation"]["max_abs_diff"] <= TOLERANCE
        assert len(entry["validation"]["cases"]) == 6


def test_every_file_of_a_bundle_has_the_same_permissions(bundle):
    """The weights are as readable as the graphs (safetensors alone would write them 0600)."""
    modes = {p.name: p.stat().st_mode & 0o777 for p in bundle.iterdir() if p.is_file()}
    assert modes and len(set(modes.values())) == 1, modes


def test_the_reader_sees_what_the_writer_wrote(bundle):
    voice = VoiceBundle.open(bundle)
    assert voice.audio.n_mels == 80 and len(voice.speakers) == 2
    assert voice.stage("acoustic").onnx == bundle / "acoustic.onnx"
    assert voice.stage("vocoder").signature.output_names == ["audio"]
    assert voice.limits == {"max_tokens": 1024, "max_frames": 4096}


def test_verify_names_the_file_with_a_flipped_byte(bundle, tmp_path):
    copy = Path(shutil.copytree(bundle, tmp_path / "voice"))
    data = bytearray((copy / "vocoder.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / "vocoder.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"vocoder\.onnx: checksum mismatch"):
        VoiceBundle.open(copy)
    VoiceBundle.open(copy, verify=False)  # the manifest itself is sound
    with open(copy / "acoustic.safetensors", "ab") as stream:
        stream.write(b"\0")
    with pytest.raises(BundleError, match=r"acoustic\.safetensors: size"):
        VoiceBundle.open(copy, verify=False).verify()


def test_manifest_problems_name_the_field(bundle, tmp_path):
    copy = Path(shutil.copytree(bundle, tmp_path / "voice"))
    manifest = json.loads((copy / "manifest.json").read_text())
    broken = {
        **manifest,
        "acoustic": {k: v for k, v in manifest["acoustic"].items() if k != "onnx"},
    }
    (copy / "manifest.json").write_text(json.dumps(broken))
    with pytest.raises(BundleError, match=r"manifest\.json: \$\.acoustic\.onnx: missing"):
        VoiceBundle.open(copy)
    (copy / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(BundleError, match=r"\$\.format_version: version 99 is newer"):
        VoiceBundle.open(copy)


# -- the graphs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["acoustic", "vocoder"])
def test_graphs_have_the_signature_names_and_dynamic_axes(bundle, stage):
    voice = VoiceBundle.open(bundle, verify=False)
    signature = voice.stage(stage).signature
    model = onnx.load(str(bundle / f"{stage}.onnx"))
    weights = {init.name for init in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in weights]

    def shape(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    assert [v.name for v in inputs] == signature.input_names
    assert [v.name for v in model.graph.output] == signature.output_names
    tensors = [*inputs, *model.graph.output]
    for value, spec in zip(tensors, [*signature.inputs, *signature.outputs], strict=True):
        assert shape(value) == list(spec.shape)
    axes = {v.name: {i: d for i, d in enumerate(shape(v)) if isinstance(d, str)} for v in tensors}
    assert {name: dims for name, dims in axes.items() if dims} == signature.dynamic_axes()
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]


def test_weights_are_the_folded_export_modules_and_match_the_graph(bundle, runs, registry):
    """The bundle's weights rebuild the vocoder (no weight norm left) and agree with its
    ONNX graph on new inputs within the tolerance."""
    source = bundle_writer.load_stage(runs.vocoder, "vocoder", registry)
    module = source.recipe.export_module()
    state = load_file(str(bundle / "vocoder.safetensors"))
    assert not [k for k in state if "parametrizations" in k or k.endswith(("weight_g", "weight_v"))]
    module.load_state_dict(state, strict=True)
    cases = vocoder_cases(n_mels=80, lengths=ValidationLengths(frames=(5, 24, 40)), seed=7)
    report = validate_exported_model(
        module, bundle / "vocoder.onnx", source.recipe.signature, cases, tolerance=TOLERANCE
    )
    assert report.worst <= TOLERANCE and len(report.cases) == 6


@pytest.mark.parametrize("stage", ["acoustic", "vocoder"])
def test_each_graph_reads_its_weights_from_its_stages_safetensors(bundle, stage):
    """No weight is stored twice: every initializer that the safetensors file holds byte for
    byte is a reference into it; what stays inside the graph differs from every weight."""
    refs = check_external_data(bundle / f"{stage}.onnx", allowed=(f"{stage}.safetensors",))
    state = load_file(str(bundle / f"{stage}.safetensors"))
    assert refs and {ref.tensor for ref in refs} <= set(state)
    inline = onnx.load(str(bundle / f"{stage}.onnx"), load_external_data=False).graph.initializer
    for tensor in inline:
        if tensor.data_location != onnx.TensorProto.EXTERNAL and tensor.name in state:
            array = onnx.numpy_helper.to_array(tensor)
            kept = state[tensor.name].numpy()
            assert array.shape != kept.shape or not np.array_equal(array, kept), tensor.name


def test_a_graph_reading_another_stages_weights_is_refused(bundle, tmp_path):
    copy = Path(shutil.copytree(bundle, tmp_path / "voice"))
    model = onnx.load(str(copy / "acoustic.onnx"), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "vocoder.safetensors"
    onnx.save(model, str(copy / "acoustic.onnx"))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"] = file_table(copy, manifest["files"])
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"acoustic\.onnx: tensor .* may only read acoustic"):
        VoiceBundle.open(copy)


def test_a_graph_outside_tolerance_fails_the_export_and_leaves_nothing(
    runs, registry, tmp_path, monkeypatch
):
    real = bundle_writer.export_onnx

    def drifting(module, signature, *args, **kwargs):  # the graph keeps the weights, not PyTorch
        path = real(module, signature, *args, **kwargs)
        if signature.output_names == ["audio"]:
            with torch.no_grad():
                for parameter in module.parameters():
                    parameter.add_(0.05)
        return path

    monkeypatch.setattr(bundle_writer, "export_onnx", drifting)
    with pytest.raises(ExportValidationError) as caught:
        bundle_writer.export_voice(
            runs.acoustic, runs.vocoder, tmp_path / "voice", registry=registry, lengths=LENGTHS
        )
    message = str(caught.value)
    assert "vocoder.onnx: case short (batch 1): output 'audio'" in message
    assert "max abs diff" in message and "tolerance 0.001" in message
    assert list(tmp_path.iterdir()) == []


# -- errors --------------------------------------------------------------------------------------


def test_checkpoints_in_the_wrong_order_are_refused(runs, registry, tmp_path):
    with pytest.raises(ExportError, match="a vocoder checkpoint, given as the acoustic one"):
        bundle_writer.export_voice(runs.vocoder, runs.acoustic, tmp_path / "v", registry=registry)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_bundle_is_kept_unless_overwriting(bundle, runs, registry):
    with pytest.raises(ExportError, match="already exists"):
        bundle_writer.export_voice(runs.acoustic, runs.vocoder, bundle, registry=registry)
    assert VoiceBundle.open(bundle).name == "voice"


def test_the_vocoder_head_is_the_recipes_else_the_specs_and_fits_the_graph():
    from types import SimpleNamespace

    from autovoice.signature import magnitude_signature
    from autovoice.specs import VocoderSpec

    spec = VocoderSpec(name="v", factory="x:y", head="griffin_lim")
    registry = SimpleNamespace(get=lambda kind, name: spec)

    def recipe(head, **options):
        signature = magnitude_signature(80, 1024)
        return SimpleNamespace(signature=signature, head=head, head_options=options)

    bound = bundle_writer.vocoder_head("v", recipe(None, iterations=3), registry)
    assert bound.head.name == "griffin_lim" and bound.table["iterations"] == 3
    cases = [
        (recipe("istft"), "head 'istft' reads real, imag; the graph outputs magnitude"),
        (recipe("mel_griffin_lim"), "head 'mel_griffin_lim' is a vocoder by itself"),
        (recipe(None, iters=3), r"vocoder plugin 'v': head_options\.iters: unknown"),
        (recipe("istf"), r"vocoder plugin 'v': head: unknown head 'istf'"),
    ]
    for made, says in cases:
        with pytest.raises(ExportError, match=says):
            bundle_writer.vocoder_head("v", made, registry)


def test_mels_of_other_settings_are_refused():
    audio = AudioConfig()
    check_audio_match(audio, attrs.evolve(audio, trim_silence_db=30.0), "x")
    with pytest.raises(ExportError, match=r"\$\.audio\.hop_length 256 vs 128"):
        check_audio_match(audio, attrs.evolve(audio, hop_length=128, win_length=512), "x")


def test_only_export_settings_can_be_overridden():
    base = Config().export
    assert bundle_writer.export_settings(base, ["export.opset=18"]).opset == 18
    with pytest.raises(ExportError, match="only export"):
        bundle_writer.export_settings(base, ["training.batch_size=2"])


# -- naming checkpoints --------------------------------------------------------------------------


def test_checkpoint_names_pick_latest_best_or_the_one_given(runs):
    steps = sorted((runs.acoustic / "checkpoints").glob("step-*"))
    metrics = {
        p.name: json.loads((p / "meta.json").read_text())["metrics"]["val_loss"] for p in steps
    }
    best = min(metrics, key=lambda name: (metrics[name], -int(name[5:])))
    assert resolve_checkpoint(runs.acoustic).name == steps[-1].name
    assert resolve_checkpoint(f"{runs.acoustic}/checkpoints@latest").name == steps[-1].name
    assert resolve_checkpoint(f"{runs.acoustic}@best").name == best
    assert resolve_checkpoint(steps[0]).name == steps[0].name
    with pytest.raises(AutovoiceError, match="no such checkpoint"):
        resolve_checkpoint(runs.acoustic / "missing")


# -- the commands --------------------------------------------------------------------------------


def test_export_command_writes_an_archive_without_validation(runs, tmp_path, capsys):
    code = command(
        export_command, "export", str(runs.acoustic), str(runs.vocoder),
        "--out", str(tmp_path / "voice"), "--archive", "--no-validate", "--name", "demo",
    )  # fmt: skip
    assert code == 0
    assert f"voice bundle {tmp_path / 'voice.tar'}" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["voice.tar"]
    voice = VoiceBundle.open(tmp_path / "voice.tar", cache_dir=tmp_path / "cache")
    assert voice.name == "demo" and "validation" not in voice.manifest["acoustic"]
    assert voice.root.parent == tmp_path / "cache"


def test_info_describes_a_bundle(bundle, capsys):
    assert command(info_command, "info", str(bundle), "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "bundle" and info["problems"] == []
    assert info["speakers"] == VoiceBundle.open(bundle).manifest["speakers"]
    assert [t["name"] for t in info["stages"]["acoustic"]["inputs"]] == [
        "tokens",
        "token_lengths",
        "speakers",
        "pace",
        "pitch_shift",
        "energy_scale",
    ]
    assert info["stages"]["vocoder"]["plugin"] == "hifigan"
    assert command(info_command, "info", str(bundle)) == 0
    assert "integrity   ok" in capsys.readouterr().out


def test_info_reports_a_damaged_bundle(bundle, tmp_path, capsys):
    copy = Path(shutil.copytree(bundle, tmp_path / "voice"))
    (copy / "acoustic.onnx").write_bytes(b"not a graph")
    assert command(info_command, "info", str(copy)) == 1
    out = capsys.readouterr().out
    assert "DAMAGED" in out and "acoustic.onnx: size" in out


def test_info_describes_an_onnx_file_and_a_checkpoint(bundle, runs, capsys):
    assert command(info_command, "info", str(bundle / "vocoder.onnx"), "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "onnx" and info["opset"] == 17 and info["checksum_ok"] is True
    assert info["inputs"] == [{"name": "mel", "dtype": "float32", "shape": ["batch", 80, "frames"]}]
    assert command(info_command, "info", f"{runs.vocoder}@latest", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "checkpoint" and info["step"] == int(latest(runs.vocoder).name[5:])
    assert info["modules"] == ["generator"] and info["problems"] == []


def test_info_needs_no_torch(bundle):
    import subprocess
    import sys

    code = (
        "import sys, argparse\n"
        "from autovoice.commands import info\n"
        "p = argparse.ArgumentParser(); info.register(p.add_subparsers())\n"
        f"a = p.parse_args(['info', {str(bundle / 'acoustic.onnx')!r}]); a.func(a)\n"
        f"a = p.parse_args(['info', {str(bundle)!r}]); a.func(a)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.mark.slow
def test_the_dynamo_exporter_also_matches_pytorch(runs, registry, tmp_path):
    from autovoice.export.onnx import export_onnx
    from autovoice.export.validate import acoustic_cases

    source = bundle_writer.load_stage(runs.acoustic, "acoustic", registry)
    module, signature = source.recipe.export_module(), source.recipe.signature
    cases = acoustic_cases(n_symbols=len(source.symbols["symbols"]), n_speakers=2, lengths=LENGTHS)
    path = export_onnx(
        module,
        signature,
        tmp_path / "a.onnx",
        opset=18,
        example_inputs=cases[1].inputs,
        dynamo=True,
    )
    report = validate_exported_model(module, path, signature, cases, tolerance=TOLERANCE)
    assert report.worst <= TOLERANCE
    assert [p.name for p in tmp_path.iterdir()] == ["a.onnx"]  # no external data file
    assert np.isfinite(report.worst)


def test_info_reads_an_engine_sidecar(tmp_path, capsys):
    plan = tmp_path / "abc123.plan"
    plan.write_bytes(b"\x00engine bytes")
    sidecar = {"stage": "vocoder", "key": "abc123", "precision": "fp16", "tensorrt": "10.3"}
    (tmp_path / "abc123.json").write_text(json.dumps({**sidecar, "gpu": "NVIDIA H100"}))
    assert command(info_command, "info", str(plan), "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "engine" and info["size"] == 13 and info["sha256"] == sha256(plan)
    assert info["engine"]["precision"] == "fp16" and info["engine"]["gpu"] == "NVIDIA H100"
    assert command(info_command, "info", str(plan)) == 0
    assert "vocoder" in capsys.readouterr().out


def test_info_refuses_a_file_it_does_not_know(tmp_path):
    stray = tmp_path / "notes.txt"
    stray.write_text("hello")
    with pytest.raises(AutovoiceError, match="not a checkpoint, a voice bundle"):
        command(info_command, "info", str(stray))
    with pytest.raises(AutovoiceError, match="no such file"):
        command(info_command, "info", str(tmp_path / "missing"))


def test_tensorrt_engines_need_the_tensorrt_backend_and_leave_nothing(runs, registry, tmp_path):
    out = tmp_path / "voice"
    with pytest.raises(ExportError, match=r"\$\.export\.tensorrt: the tensorrt backend is unav"):
        bundle_writer.export_voice(
            runs.acoustic,
            runs.vocoder,
            out,
            overrides=["export.tensorrt=true"],
            registry=registry,
            lengths=LENGTHS,
        )
    assert list(tmp_path.iterdir()) == []


def test_tensorrt_engines_are_listed_and_checksummed_in_the_bundle(
    runs, registry, tmp_path, monkeypatch
):
    """The engine builder itself needs a GPU (tests/test_tensorrt_gpu.py); here it is replaced by
    one that writes what it writes (a plan and its sidecar per stage) to check the bundle side."""
    import autovoice_tensorrt.engines as engines

    def fake_build(config, models_dir, engines_dir, fp16=True, **kw):
        Path(engines_dir).mkdir(parents=True, exist_ok=True)
        plans = {}
        for key, stage in (("acoustic", "acoustic"), ("vocoder", "vocoder")):
            plan = Path(engines_dir) / f"{stage}key.plan"
            plan.write_bytes(b"engine " + stage.encode())
            side = {
                "stage": stage,
                "key": f"{stage}key",
                "precision": "fp16" if fp16 else "fp32",
                "profiles": [],
                "tensorrt": "10.9",
                "gpu": "test",
                "file": plan.name,
            }
            plan.with_suffix(".json").write_text(json.dumps(side))
            plans[key] = plan
        return plans

    monkeypatch.setattr(engines, "build_tensorrt_engines", fake_build)
    monkeypatch.setattr(
        bundle_writer.Registry,
        "discover",
        lambda *a, **k: _AvailableTensorRT(registry),
    )
    out = bundle_writer.export_voice(
        runs.acoustic,
        runs.vocoder,
        tmp_path / "voice",
        registry=registry,
        lengths=LENGTHS,
        overrides=["export.tensorrt=true", "export.fp16=true", "export.validate=false"],
    )
    voice = VoiceBundle.open(out, verify=True)
    entries = {e["stage"]: e for e in voice.manifest["engines"]}
    assert set(entries) == {"acoustic", "vocoder"}
    assert entries["acoustic"]["file"] == "engines/acoustickey.plan"
    assert entries["vocoder"]["precision"] == "fp16"
    files = voice.manifest["files"]
    assert files["engines/vocoderkey.plan"]["sha256"] == sha256(out / "engines/vocoderkey.plan")


class _AvailableTensorRT:
    """A registry whose tensorrt backend reports itself available."""

    def __init__(self, registry):
        self.registry = registry

    def get(self, kind, name):
        spec = self.registry.get(kind, name)
        return attrs.evolve(spec, requires=(), probe=None)


def _acoustic_mel(voice: Path) -> tuple[np.ndarray, np.ndarray]:
    """The acoustic graph's mel and mel lengths for two fixed texts on ONNX Runtime."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(voice / "acoustic.onnx"))
    feed = {
        "tokens": np.array([[3, 5, 7, 9, 4, 6], [8, 2, 5, 0, 0, 0]], np.int64),
        "token_lengths": np.array([6, 3], np.int64),
        "speakers": np.array([0, 1], np.int64),
        "pace": np.full(2, 0.01, np.float32),  # slow: untrained durations are short
        "pitch_shift": np.zeros(2, np.float32),
        "energy_scale": np.ones(2, np.float32),
    }
    mel, lengths, _ = session.run(None, feed)
    return mel, lengths


def test_an_export_sets_an_inference_option_of_the_model_and_refuses_the_others(
    runs, registry, bundle, tmp_path
):
    """``--set model.options.variance_scale=1.5``: the same weights, each band's spread about
    its mean over an item's frames 1.5 times the plain export's, and the manifest says so; an
    option that would need other weights is refused, naming it, and nothing is written."""
    scaled = bundle_writer.export_voice(
        runs.acoustic, f"{runs.vocoder}@best", tmp_path / "scaled", registry=registry,
        overrides=["model.options.variance_scale=1.5", f"export.tolerance={TOLERANCE}"],
        lengths=LENGTHS,
    )  # fmt: skip
    assert VoiceBundle.open(scaled).stage("acoustic").options["variance_scale"] == 1.5
    assert VoiceBundle.open(bundle).stage("acoustic").options["variance_scale"] == 1.0
    (plain, lengths), (wide, wide_lengths) = _acoustic_mel(bundle), _acoustic_mel(scaled)
    np.testing.assert_array_equal(wide_lengths, lengths)
    for item, frames in enumerate(lengths):
        a, b = plain[item, :, :frames], wide[item, :, :frames]
        assert frames > 5 and np.abs(a - a.mean(1, keepdims=True)).max() > 0.1
        np.testing.assert_allclose(b.mean(1), a.mean(1), atol=1e-4)
        np.testing.assert_allclose(b - b.mean(1, keepdims=True),
                                   1.5 * (a - a.mean(1, keepdims=True)), atol=1e-4)  # fmt: skip
        np.testing.assert_array_equal(wide[item, :, frames:], plain[item, :, frames:])
    with pytest.raises(ExportError, match=r"model\.options\.decoder_layers: not an option .*"
                       r"\(those that do: max_duration, variance_scale\)"):  # fmt: skip
        bundle_writer.export_voice(
            runs.acoustic, runs.vocoder, tmp_path / "grown", registry=registry,
            overrides=["model.options.decoder_layers=2"],
        )  # fmt: skip
    with pytest.raises(ExportError, match=r"\$\.model\.options\.variance_scale"):
        bundle_writer.export_voice(
            runs.acoustic, runs.vocoder, tmp_path / "zero", registry=registry,
            overrides=["model.options.variance_scale=0"],
        )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scaled"]


def test_every_inference_option_a_model_declares_is_one_of_its_options(registry):
    for name in registry.names("model"):
        spec = registry.get("model", name)
        declared = getattr(spec, "inference_options", ())
        fields = {f.name for f in attrs.fields(spec.options_type)} if spec.options_type else set()
        assert set(declared) <= fields, name
    assert registry.get("model", "voice_transformer").inference_options == (
        "max_duration",
        "variance_scale",
    )

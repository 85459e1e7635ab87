"""Voice bundles are untrusted input: links that leave a bundle, a manifest that lies about its
graphs or settings, fields of the wrong type, bad output paths, and resource requests beyond the
machine are each refused with an error naming the file, field or argument, never a traceback
and never accepted in silence.

Every bundle here is the shipped default voice, its manifest copied and its graphs hard-linked
(or copied) into a temporary folder, then changed.
"""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autovoice.bundle import MANIFEST, BundleError, VoiceBundle, default_voice_path
from autovoice.cli import main
from autovoice.errors import AutovoiceError
from autovoice.inference import VoiceInferenceEngine

pytest.importorskip("onnxruntime")

SHIPPED = default_voice_path()
if SHIPPED is None:  # pragma: no cover - a checkout without the voice
    pytest.skip("no shipped default voice in this checkout", allow_module_level=True)
ORIGINAL: dict[str, Any] = json.loads((SHIPPED / MANIFEST).read_text(encoding="utf-8"))
ORT = {"backend": "onnxruntime"}

Edit = Callable[[dict[str, Any]], object]


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOVOICE_VOICE", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def make_voice(where: Path, edit: Edit | None = None) -> Path:
    """A copy of the shipped voice at ``where``, its manifest changed by ``edit``."""
    where.mkdir(parents=True)
    for path in SHIPPED.iterdir():  # type: ignore[union-attr]
        if path.name != MANIFEST:
            try:
                os.link(path, where / path.name)
            except OSError:
                shutil.copy2(path, where / path.name)
    manifest = copy.deepcopy(ORIGINAL)
    if edit is not None:
        edit(manifest)
    write_manifest(where, manifest)
    return where


def write_manifest(where: Path, manifest: Any) -> None:
    (where / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``autovoice ARGS`` in this process: the exit code and standard error. Anything but an
    :class:`AutovoiceError` escapes as the traceback it would print."""
    code = main(list(args))
    return code, capsys.readouterr().err


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The error message of a command that must fail cleanly."""
    code, err = cli(capsys, *args)
    assert code != 0 and "autovoice: error:" in err and "Traceback" not in err, err
    return err


def speak(voice: Path, **kwargs: Any) -> np.ndarray:
    engine = VoiceInferenceEngine(voice, **{**ORT, **kwargs})
    return engine.synthesize_speech("Hello.")


# -- 7: links ----------------------------------------------------------------------------------


def outside_copy(tmp_path: Path, name: str) -> Path:
    """A file outside the bundle with exactly the content the manifest lists for ``name``."""
    target = tmp_path / "elsewhere" / name
    target.parent.mkdir(exist_ok=True)
    shutil.copy2(SHIPPED / name, target)  # type: ignore[operator]
    return target


def test_a_link_leaving_the_bundle_is_refused_though_its_checksum_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    voice = make_voice(tmp_path / "voice")
    (voice / "vocoder.onnx").unlink()
    (voice / "vocoder.onnx").symlink_to(outside_copy(tmp_path, "vocoder.onnx"))
    with pytest.raises(BundleError, match=r"vocoder\.onnx.*link.*leaves the bundle"):
        VoiceBundle.open(voice)
    with pytest.raises(BundleError, match="leaves the bundle"):
        VoiceBundle.open(voice, verify=False)
    with pytest.raises(AutovoiceError, match="leaves the bundle"):
        VoiceInferenceEngine(voice, **ORT)
    assert "leaves the bundle" in refused(capsys, "info", str(voice))
    assert "leaves the bundle" in refused(capsys, "info", str(voice), "--no-verify")


def test_a_link_to_an_outside_file_does_not_tell_its_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"x" * 4321)
    voice = make_voice(tmp_path / "voice")
    (voice / "acoustic.safetensors").unlink()
    (voice / "acoustic.safetensors").symlink_to(secret)
    err = refused(capsys, "info", str(voice))
    assert "acoustic.safetensors" in err and "4321" not in err and str(secret) not in err


def test_a_linked_folder_leaving_the_bundle_is_refused(tmp_path: Path) -> None:
    outside_copy(tmp_path, "acoustic.onnx")

    def moved(manifest: dict[str, Any]) -> None:
        manifest["files"]["sub/acoustic.onnx"] = manifest["files"].pop("acoustic.onnx")
        manifest["acoustic"]["onnx"] = "sub/acoustic.onnx"

    voice = make_voice(tmp_path / "voice", moved)
    (voice / "sub").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(BundleError, match=r"sub/acoustic\.onnx.*leaves the bundle"):
        VoiceBundle.open(voice)


def test_a_manifest_that_is_a_link_out_of_the_bundle_is_refused(tmp_path: Path) -> None:
    voice = make_voice(tmp_path / "voice")
    (voice / MANIFEST).rename(tmp_path / "manifest.json")
    (voice / MANIFEST).symlink_to(tmp_path / "manifest.json")
    with pytest.raises(BundleError, match=r"manifest\.json.*leaves the bundle"):
        VoiceBundle.open(voice)


def test_links_inside_the_bundle_and_a_linked_bundle_folder_are_read(tmp_path: Path) -> None:
    voice = make_voice(tmp_path / "voice")
    (voice / "data").mkdir()
    (voice / "vocoder.safetensors").rename(voice / "data" / "vocoder.safetensors")
    (voice / "vocoder.safetensors").symlink_to(Path("data") / "vocoder.safetensors")
    (tmp_path / "alias").symlink_to(voice, target_is_directory=True)
    assert VoiceBundle.open(tmp_path / "alias").stage("vocoder").weights is not None


def test_a_file_that_is_not_a_regular_file_is_named(tmp_path: Path) -> None:
    voice = make_voice(tmp_path / "voice")
    (voice / "vocoder.safetensors").unlink()
    (voice / "vocoder.safetensors").mkdir()
    with pytest.raises(BundleError, match=r"vocoder\.safetensors: not a regular file"):
        VoiceBundle.open(voice)


# -- 8 and 9: the manifest, every field checked --------------------------------------------------


def at(*keys: Any) -> Callable[[Any], Any]:
    """An edit that sets the manifest value at ``keys[:-1]`` to ``keys[-1]``."""

    def edit(manifest: Any) -> None:
        *path, last, value = keys
        for key in path:
            manifest = manifest[key]
        manifest[last] = value

    return edit


ACOUSTIC_MEL = ("acoustic", "signature", "outputs", 0, "shape", 1)
VOCODER_MEL = ("vocoder", "signature", "inputs", 0, "shape", 1)
FILE = {"sha256": "0" * 64, "size": 1}

#: (manifest edit, the field path the error must name)
BAD_MANIFESTS: dict[str, tuple[Edit, str]] = {
    "a file entry that is a string": (
        at("files", "acoustic.onnx", "abc"),
        r"\$\.files\['acoustic\.onnx'\]",
    ),
    "a size that is a string": (at("files", "acoustic.onnx", "size", "big"), r"\.size"),
    "a negative size": (at("files", "vocoder.onnx", "size", -1), r"\.size"),
    "a checksum that is a number": (at("files", "vocoder.onnx", "sha256", 12), r"\.sha256"),
    "a checksum that is not hex": (at("files", "vocoder.onnx", "sha256", "z" * 64), r"\.sha256"),
    "files that are a list": (at("files", []), r"\$\.files"),
    "a file name that climbs out": (
        at("files", "../../etc/passwd", FILE),
        r"\$\.files\['\.\./\.\./etc/passwd'\]",
    ),
    "an absolute file name": (at("files", "/etc/passwd", FILE), r"\$\.files\['/etc/passwd'\]"),
    "a file name with a NUL": (at("files", "a\x00b", FILE), r"\$\.files"),
    "engines that are a number": (at("engines", 5), r"\$\.engines"),
    "tools that are a list": (at("tools", [1]), r"\$\.tools"),
    "created that is a number": (at("created", 5), r"\$\.created"),
    "an empty name": (at("name", ""), r"\$\.name"),
    "a checkpoint that is a list": (at("acoustic", "checkpoint", [1]), r"\$\.acoustic\.checkpoint"),
    "validation of the wrong type": (
        at("acoustic", "validation", {"max_abs_diff": "x"}),
        r"\$\.acoustic\.validation\.max_abs_diff",
    ),
    "a negative token limit": (at("limits", "max_tokens", -5), r"\$\.limits\.max_tokens"),
    "a speaker twice": (at("speakers", ["a", "a"]), r"\$\.speakers"),
    "a negative opset": (at("acoustic", "opset", -1), r"\$\.acoustic\.opset"),
    "a tensor without its fields": (
        at("acoustic", "signature", "inputs", 0, {"name": 1}),
        r"\$\.acoustic\.signature\.inputs\[0\]",
    ),
    "inputs that are a number": (
        at("acoustic", "signature", "inputs", 5),
        r"\$\.acoustic\.signature\.inputs",
    ),
    "an unknown dtype": (
        at("acoustic", "signature", "inputs", 0, "dtype", "int3"),
        r"inputs\[0\]\.dtype",
    ),
    "an axis of size 0": (at(*ACOUSTIC_MEL, 0), r"outputs\[0\]\.shape"),
    "81 mels declared for 80": (
        at(*ACOUSTIC_MEL, 81),
        r"\$\.acoustic\.signature\.outputs\[0\]\.shape.*n_mels",
    ),
    "81 mels in the audio settings": (
        at("audio", "n_mels", 81),
        r"\$\.acoustic\.signature.*n_mels",
    ),
    "a vocoder taking 81 mels": (
        at(*VOCODER_MEL, 81),
        r"\$\.vocoder\.signature\.inputs\[0\]\.shape",
    ),
    "an input renamed": (
        at("acoustic", "signature", "inputs", 3, "name", "speed"),
        r"\$\.acoustic\.signature",
    ),
    "tokens declared int32": (
        at("acoustic", "signature", "inputs", 0, "dtype", "int32"),
        r"\$\.acoustic\.signature",
    ),
    "magnitude bins unlike n_fft": (
        at("vocoder", "signature", "outputs", 0, "shape", 1, 257),
        r"\$\.vocoder\.signature\.outputs\[0\]\.shape",
    ),
    "a format version below 1": (at("format_version", -3), r"\$\.format_version"),
    "a format version that is a string": (at("format_version", "2"), r"\$\.format_version"),
    "an unknown head": (at("vocoder", "head", "loud"), r"\$\.vocoder\.head"),
    "an engine entry of the wrong type": (at("engines", ["x"]), r"\$\.engines\[0\]"),
    "symbols of the wrong type": (at("symbols", [1]), r"\$\.symbols"),
    "audio of the wrong type": (at("audio", "sample_rate", "fast"), r"\$\.audio\.sample_rate"),
    "text of the wrong type": (at("text", "symbols", 3), r"\$\.text\.symbols"),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_a_bad_manifest_is_an_error_naming_the_field_everywhere(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    edit, field = BAD_MANIFESTS[case]
    voice = make_voice(tmp_path / "voices" / "bad", edit)
    with pytest.raises(BundleError, match=field):
        VoiceBundle.open(voice, verify=False)
    with pytest.raises(AutovoiceError, match=field):
        VoiceInferenceEngine(voice, **ORT)
    for command in (["info", str(voice)], ["info", "--no-verify", str(voice)]):
        assert MANIFEST in refused(capsys, *command)
    out = tmp_path / "out.wav"
    assert MANIFEST in refused(capsys, "synthesize", "Hi.", "--voice", str(voice), "-o", str(out))
    assert not out.exists()
    monkeypatch.setenv("AUTOVOICE_VOICES_DIR", str(voice.parent))
    listed = json.loads(_voices_json(capsys))
    bad = [v for v in listed["voices"] if v["path"] == str(voice)]
    assert bad and MANIFEST in bad[0]["problem"]


def _voices_json(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["voices", "--json"]) == 0
    return capsys.readouterr().out


def eighty_one_mels(manifest: dict[str, Any]) -> None:
    """Audio settings and every declared mel axis saying 81, for graphs of 80."""
    manifest["audio"]["n_mels"] = 81
    at(*ACOUSTIC_MEL, 81)(manifest)
    at(*VOCODER_MEL, 81)(manifest)


def test_a_graph_unlike_its_declared_signature_is_refused_when_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    voice = make_voice(tmp_path / "voice", eighty_one_mels)
    VoiceBundle.open(voice)  # consistent with itself: only the graphs can tell
    graph = r"acoustic\.onnx: the graph is not what .* declares: output 'mel' axis 1 is 80 .*81"
    with pytest.raises(AutovoiceError, match=graph):
        VoiceInferenceEngine(voice, **ORT)
    with pytest.raises(AutovoiceError, match=graph):  # auto falls back to no other backend
        VoiceInferenceEngine(voice)
    out = tmp_path / "out.wav"
    assert "axis 1 is 80" in refused(
        capsys, "synthesize", "Hi.", "--voice", str(voice), "-o", str(out)
    )
    assert not out.exists()


def test_the_pytorch_backend_holds_the_declared_signature_to_its_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    from autovoice.signature import acoustic_signature
    from autovoice_models.voice_transformer import recipe

    voice = make_voice(tmp_path / "voice", eighty_one_mels)  # the weights are 80-mel
    with pytest.raises(AutovoiceError, match=r"acoustic\.safetensors: the weights do not fit"):
        VoiceInferenceEngine(voice, backend="pytorch")
    narrow = acoustic_signature(80, controls=False)  # a plugin whose module lacks the controls
    monkeypatch.setattr(recipe, "acoustic_signature", lambda n_mels: narrow)
    with pytest.raises(AutovoiceError, match=r"acoustic\.safetensors: .* takes \['tokens'"):
        VoiceInferenceEngine(SHIPPED, backend="pytorch")


def test_plugin_options_are_checked_against_the_plugin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    voice = make_voice(tmp_path / "voice", at("acoustic", "options", "preset", "enormous"))
    field = r"\$\.acoustic\.options\.preset"
    with pytest.raises(AutovoiceError, match=field):
        VoiceInferenceEngine(voice, **ORT)
    assert "$.acoustic.options.preset" in refused(capsys, "info", str(voice))
    unknown = make_voice(tmp_path / "unknown", at("vocoder", "options", "loudness", 3))
    with pytest.raises(AutovoiceError, match=r"\$\.vocoder\.options\.loudness: unknown key"):
        VoiceInferenceEngine(unknown, **ORT)


def test_the_shipped_voice_still_opens_and_speaks(tmp_path: Path) -> None:
    voice = make_voice(tmp_path / "voice")
    assert np.array_equal(speak(voice), speak(SHIPPED))  # type: ignore[arg-type]


def test_info_on_a_folder_without_a_manifest_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(capsys, "info", str(tmp_path))
    assert f"no {MANIFEST}" in err and "not a voice bundle" in err


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("folder.wav", "-o folder.wav: is a folder"),
        ("folder", "-o folder: is a folder"),
        ("trailing/", "-o trailing/: is a folder"),
        ("", "-o: empty"),
        ("noext", "noext: cannot write a file without an extension"),
    ],
)
def test_a_bad_output_path_is_named_before_synthesis(
    name: str,
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.wav").mkdir()
    (tmp_path / "folder").mkdir()
    monkeypatch.setattr(VoiceInferenceEngine, "__init__", _never)
    assert expected in refused(capsys, "synthesize", "Hi.", "-o", name)


def _never(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("the voice was opened before the output was checked")


# -- 10: resources -----------------------------------------------------------------------------


def test_threads_beyond_the_machine_are_refused_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from autovoice.inference.checks import usable_cpus

    cpus = usable_cpus()
    limit = rf"at most {cpus}\b"
    out = str(tmp_path / "out.wav")
    for flag in ("100000", "1000000000"):
        with pytest.raises(SystemExit):
            main(["synthesize", "Hi.", "--threads", flag, "-o", out])
        err = capsys.readouterr().err
        assert "argument --threads" in err and f"at most {cpus}" in err
        err = refused(capsys, "synthesize", "Hi.", "--set", f"inference.threads={flag}", "-o", out)
        assert "$.inference.threads" in err and f"at most {cpus}" in err
    with pytest.raises(AutovoiceError, match=rf"threads: .*{limit}"):
        VoiceInferenceEngine(SHIPPED, threads=cpus + 1, **ORT)
    options = {"onnxruntime": {"intra_op_threads": 10**9}}
    with pytest.raises(AutovoiceError, match=rf"intra_op_threads.*{limit}"):
        VoiceInferenceEngine(SHIPPED, backend_options=options, **ORT)
    assert VoiceInferenceEngine(SHIPPED, threads=cpus, **ORT).synthesize_speech("Hi.").size


def test_backends_refuse_threads_beyond_the_machine(tmp_path: Path) -> None:
    from autovoice.inference.checks import usable_cpus
    from autovoice_onnxruntime.backend import OnnxRuntimeBackend
    from autovoice_onnxruntime.options import OnnxRuntimeOptions

    too_many = usable_cpus() + 1
    for field in ("intra_op_threads", "inter_op_threads"):
        backend = OnnxRuntimeBackend(OnnxRuntimeOptions(**{field: too_many}))
        with pytest.raises(AutovoiceError, match=field):
            backend.load(SHIPPED / "vocoder.onnx")  # type: ignore[operator]
    pytest.importorskip("torch")
    from autovoice_torch.backend import TorchBackend
    from autovoice_torch.options import TorchOptions

    with pytest.raises(AutovoiceError, match="threads"):
        TorchBackend(TorchOptions(threads=too_many)).load(tmp_path / "x.safetensors", stage=None)


def test_text_that_is_not_utf8_is_refused_from_stdin_as_from_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"hello \xff\xfe world\n"
    (tmp_path / "bad.txt").write_bytes(data)
    out = str(tmp_path / "out.wav")
    from_file = refused(capsys, "synthesize", "--file", str(tmp_path / "bad.txt"), "-o", out)
    assert "not UTF-8" in from_file
    for per_line in ([], ["--per-line"]):
        stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape")
        monkeypatch.setattr(sys, "stdin", stdin)
        err = refused(capsys, "synthesize", *per_line, "-o", out)
        assert "standard input" in err and "not UTF-8" in err
    assert not Path(out).exists()


# -- crafted bundles through every entry point ---------------------------------------------------


def tar_of(voice: Path, archive: Path, extra: Callable[[tarfile.TarFile], None]) -> Path:
    with tarfile.open(archive, "w") as tar:
        tar.add(voice, arcname="voice")
        extra(tar)
    return archive


def member(name: str, kind: bytes, link: str = "") -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        if kind == tarfile.CHRTYPE:
            info.devmajor, info.devminor = 1, 3
        tar.addfile(info, io.BytesIO(b"x") if kind == tarfile.REGTYPE else None)
        if kind == tarfile.REGTYPE:
            info.size = 1

    return add


def garbage_graph(voice: Path) -> None:
    (voice / "acoustic.onnx").unlink()
    (voice / "acoustic.onnx").write_bytes(b"not an onnx graph" * 100)
    manifest = json.loads((voice / MANIFEST).read_text(encoding="utf-8"))
    from autovoice.bundle import file_table

    manifest["files"].update(file_table(voice, ["acoustic.onnx"]))
    write_manifest(voice, manifest)


def crafted(tmp_path: Path, case: str) -> Path:
    """The bundle of ``case``, made under ``tmp_path / "voices"``."""
    folder = tmp_path / "voices"
    if case.startswith("tar"):
        voice = make_voice(tmp_path / "plain")
        extra = {
            "tar with a link out": member("voice/vocoder.onnx.bak", tarfile.SYMTYPE, "/etc/passwd"),
            "tar with a device": member("voice/zero", tarfile.CHRTYPE),
            "tar climbing out": member("../escaped", tarfile.REGTYPE),
        }[case]
        folder.mkdir()
        return tar_of(voice, folder / "bad.tar", extra)
    voice = make_voice(folder / "bad")
    manifest = voice / MANIFEST
    if case == "not JSON":
        manifest.write_text("{", encoding="utf-8")
    elif case == "not UTF-8":
        manifest.write_bytes(b"\xff\xfe{}")
    elif case == "a list":
        manifest.write_text("[1, 2]", encoding="utf-8")
    elif case == "nested too deep":
        manifest.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    elif case == "a garbage graph":
        garbage_graph(voice)
    elif case == "a huge declared size":
        write_manifest(voice, {**ORIGINAL, "files": {**ORIGINAL["files"], "vocoder.onnx": {
            "sha256": "0" * 64, "size": 10**30}}})  # fmt: skip
    elif case == "a garbage tar":
        shutil.rmtree(voice)
        (folder / "bad.tar").write_bytes(b"garbage")
        return folder / "bad.tar"
    return voice


CRAFTED = [
    "not JSON", "not UTF-8", "a list", "nested too deep", "a garbage graph",
    "a huge declared size", "a garbage tar", "tar with a link out", "tar with a device",
    "tar climbing out",
]  # fmt: skip


@pytest.mark.parametrize("case", CRAFTED)
def test_a_crafted_bundle_is_a_clear_error_everywhere(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    voice = crafted(tmp_path, case)
    with pytest.raises(AutovoiceError, match=str(voice.name)):
        VoiceInferenceEngine(voice, **ORT)
    out = tmp_path / "out.wav"
    refused(
        capsys,
        "synthesize",
        "Hi.",
        "--voice",
        str(voice),
        "-o",
        str(out),
        "--backend",
        "onnxruntime",
    )
    assert not out.exists()
    if case == "a huge declared size":  # the damage is the report, and the exit status
        code, _ = cli(capsys, "info", str(voice))
        assert code == 1
    elif case == "a garbage graph":  # info reads checksums, not graphs; auto falls back loudly
        with pytest.warns(UserWarning, match=r"acoustic\.onnx: cannot load the ONNX model"):
            VoiceInferenceEngine(voice)
    else:
        refused(capsys, "info", str(voice))
    monkeypatch.setenv("AUTOVOICE_VOICES_DIR", str(voice.parent))
    listed = json.loads(_voices_json(capsys))
    mine = [v for v in listed["voices"] if v["path"] == str(voice)]
    if case not in ("a garbage graph", "a huge declared size"):  # voices reads no checksums
        assert mine and mine[0]["problem"], mine
    assert not (tmp_path / "escaped").exists() and not any((tmp_path / "cache").rglob("zero"))

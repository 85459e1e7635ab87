"""Reading a voice bundle's manifest: every field checked by type and range, each error naming
the field (torch-free). The format is described in ``docs/export.md``.

Format 1 had no head fields; a format 1 vocoder stage's head is inferred: a plugin that is a
graphless head's (``griffin_lim``) is that head, with the stage's options; a graph's is the
first head whose outputs the signature has (``magnitude``: ``griffin_lim``, with the fields of its
options among the plugin's; ``audio``: ``waveform``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from autovoice.bundle.external import check_external_data
from autovoice.bundle.files import bundle_path, bundle_root, check_file, is_bundle
from autovoice.bundle.records import (
    ALL_STAGES,
    CONVERSION_STAGES,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    SPEECH_STAGES,
    STAGE_KINDS,
    BundleError,
    EngineInfo,
    StageInfo,
)
from autovoice.config import AudioConfig, TextConfig, structure
from autovoice.errors import AutovoiceError
from autovoice.heads import HEADS, Head, get_head, graphless_heads
from autovoice.signature import (
    SignatureError,
    declared_problems,
    parse_signature,
    vocoder_signature,
)
from autovoice.text import SymbolTable

_SHA256 = re.compile(r"[0-9a-f]{64}")


@attrs.frozen(kw_only=True)
class VoiceBundle:
    """An opened bundle; :meth:`open` reads and checks the manifest."""

    root: Path
    manifest: Mapping[str, Any]
    audio: AudioConfig
    text: TextConfig
    symbols: SymbolTable
    speakers: tuple[str, ...]
    stages: Mapping[str, StageInfo]
    engines: tuple[EngineInfo, ...]
    limits: Mapping[str, int]

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        verify: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> VoiceBundle:
        """The bundle at ``path`` (a directory or a ``.tar``, extracted once into ``cache_dir``);
        with ``verify`` every file's checksum is checked first."""
        root = bundle_root(path, cache_dir)
        bundle = _parse(root, read_manifest(root))
        if verify:
            bundle.verify()
        return bundle

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def files(self) -> Mapping[str, Mapping[str, Any]]:
        return self.manifest["files"]  # type: ignore[no-any-return]

    def stage(self, name: str) -> StageInfo:
        """The ``acoustic``, ``converter`` or ``vocoder`` stage."""
        if name not in self.stages:
            raise BundleError(f"{self.root}: no stage {name!r}; stages: {', '.join(self.stages)}")
        return self.stages[name]

    @property
    def converts(self) -> bool:
        """Whether the voice converts recordings (it has a ``converter`` stage)."""
        return "converter" in self.stages

    @property
    def speaks(self) -> bool:
        """Whether the voice speaks text (it has an ``acoustic`` stage)."""
        return "acoustic" in self.stages

    def verify(self) -> None:
        """Check the size and SHA-256 of every file the manifest lists, and that each graph
        reads weights from no file but its own stage's (:mod:`autovoice.bundle.external`)."""
        for name, entry in self.files.items():
            check_file(self.root, name, entry)
        for stage in self.stages.values():
            if stage.onnx is not None:
                own = stage.weights
                beside = own is not None and own.parent == stage.onnx.parent
                check_external_data(stage.onnx, allowed=(own.name,) if own and beside else ())

    def check_options(self, registry: Any) -> None:
        """Structure each stage's plugin options against the options class its plugin declares
        in ``registry`` (a :class:`BundleError` names ``$.STAGE.options.FIELD``). A plugin not
        installed here is not checked: a graph backend runs its stage without it, and the
        pytorch backend, which needs it, says it is missing."""
        from autovoice.errors import UnknownPluginError

        for name, stage in self.stages.items():
            try:
                spec = registry.get(STAGE_KINDS[name], stage.plugin)
            except UnknownPluginError:
                continue
            if spec.options_type is not None:
                try:
                    structure(dict(stage.options), spec.options_type, path=f"$.{name}.options")
                except AutovoiceError as exc:
                    raise BundleError(f"{self.root / MANIFEST}: {exc}") from None


DEFAULT_VOICE_NAME = "default"
"""The name that means the default voice wherever a voice is named (command line, Python)."""


def default_voice_path() -> Path | None:
    """The voice used when none is named: ``$AUTOVOICE_VOICE`` when set (a bundle directory or
    ``.tar``), else the voice shipped in the package (``autovoice/voices/default``) when its
    manifest is there, else None. A variable naming no bundle is a :class:`BundleError`."""
    from importlib import resources

    chosen = os.environ.get("AUTOVOICE_VOICE", "").strip()
    if chosen:
        path = Path(chosen).expanduser()
        if not (path.exists() and is_bundle(path)):
            raise BundleError(f"$AUTOVOICE_VOICE: {chosen!r} is not a voice bundle")
        return path
    shipped = resources.files("autovoice") / "voices" / "default"
    if isinstance(shipped, Path) and (shipped / MANIFEST).is_file():
        return shipped
    return None


def read_manifest(root: Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of the bundle directory ``root``."""
    path = bundle_path(root, MANIFEST, "$")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{root}: not a voice bundle (no {MANIFEST})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON: {exc}") from None
    except RecursionError:
        raise BundleError(f"{path}: not a manifest: its JSON nests too deep") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path}: $: expected an object")
    return data


class _Fields:
    """Typed reads of manifest fields; every error names the field's path."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def error(self, path: str, message: str) -> BundleError:
        return BundleError(f"{self.root / MANIFEST}: {path}: {message}")

    def get(
        self, data: Mapping[str, Any], path: str, key: str, kind: type | tuple[type, ...]
    ) -> Any:
        if key not in data:
            raise self.error(f"{path}.{key}", "missing")
        value = data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.error(f"{path}.{key}", f"expected {names}, got {value!r:.60}")
        return value

    def optional(
        self, data: Mapping[str, Any], path: str, key: str, kind: type | tuple[type, ...]
    ) -> Any:
        """The field when it is there (checked as :meth:`get` does), else None."""
        return self.get(data, path, key, kind) if data.get(key) is not None else None

    def whole(self, data: Mapping[str, Any], path: str, key: str, low: int) -> int:
        """An integer field of at least ``low``."""
        value: int = self.get(data, path, key, int)
        if value < low:
            raise self.error(f"{path}.{key}", f"must be >= {low}, got {value}")
        return value

    def text(self, data: Mapping[str, Any], path: str, key: str) -> str:
        """A non-empty string field."""
        value: str = self.get(data, path, key, str)
        if not value.strip():
            raise self.error(f"{path}.{key}", "must not be empty")
        return value

    def file(self, data: Mapping[str, Any], path: str, key: str, files: Mapping[str, Any]) -> Path:
        name = self.get(data, path, key, str)
        if name not in files:
            raise self.error(f"{path}.{key}", f"{name!r} is not listed in $.files")
        return bundle_path(self.root, name, f"{path}.{key}")


def _parse(root: Path, data: Mapping[str, Any]) -> VoiceBundle:
    f = _Fields(root)
    version = _check_format(f, data)
    f.text(data, "$", "name")
    for key in ("created", "tools"):
        f.optional(data, "$", key, str if key == "created" else dict)
    files = _files(f, data)
    audio = _section(f, data, "audio", AudioConfig)
    return VoiceBundle(
        root=root,
        manifest=data,
        audio=audio,
        text=_section(f, data, "text", TextConfig),
        symbols=_symbols(f, data),
        speakers=_speakers(f, data),
        stages={
            name: _stage(f, data, name, files, version, audio) for name in _stage_names(f, data)
        },
        engines=tuple(_engine(f, e, i, files) for i, e in enumerate(_engines(f, data))),
        limits=_limits(f, data),
    )


def _files(f: _Fields, data: Mapping[str, Any]) -> Mapping[str, Any]:
    """``$.files``: each a path inside the bundle with its ``sha256`` and ``size``."""
    files: Mapping[str, Any] = f.get(data, "$", "files", dict)
    for name, entry in files.items():
        at = f"$.files[{name!r}]"
        bundle_path(f.root, name, at)
        if not isinstance(entry, dict) or set(entry) != {"sha256", "size"}:
            raise f.error(at, f"expected an object with sha256 and size, got {entry!r:.60}")
        if not _SHA256.fullmatch(str(f.get(entry, at, "sha256", str))):
            raise f.error(f"{at}.sha256", "expected 64 lower-case hex digits")
        f.whole(entry, at, "size", 0)
    return files


def _speakers(f: _Fields, data: Mapping[str, Any]) -> tuple[str, ...]:
    speakers = f.get(data, "$", "speakers", list)
    if not all(isinstance(s, str) and s.strip() for s in speakers):
        raise f.error("$.speakers", "expected a list of non-empty names")
    twice = sorted({s for s in speakers if speakers.count(s) > 1})
    if twice:
        raise f.error("$.speakers", f"speaker {twice[0]!r} is listed twice")
    return tuple(speakers)


def _engines(f: _Fields, data: Mapping[str, Any]) -> list[Any]:
    return f.optional(data, "$", "engines", list) or []


def _stage_names(f: _Fields, data: Mapping[str, Any]) -> tuple[str, ...]:
    """The stages the manifest lists: a text-to-speech voice's, a conversion voice's, or both."""
    names = tuple(name for name in ALL_STAGES if name in data)
    expected = CONVERSION_STAGES if "converter" in names else SPEECH_STAGES
    missing = [name for name in expected if name not in names]
    if missing:
        raise f.error(f"$.{missing[0]}", "missing (a voice has acoustic or converter, and vocoder)")
    return names


def _check_format(f: _Fields, data: Mapping[str, Any]) -> int:
    if f.get(data, "$", "format", str) != FORMAT:
        raise f.error("$.format", f"expected {FORMAT!r}, got {data['format']!r}")
    version: int = f.get(data, "$", "format_version", int)
    if version > FORMAT_VERSION:
        raise f.error(
            "$.format_version",
            f"version {version} is newer than this autovoice reads ({FORMAT_VERSION}); upgrade",
        )
    if version < 1:
        raise f.error("$.format_version", f"expected 1 to {FORMAT_VERSION}, got {version}")
    return version


def _section(f: _Fields, data: Mapping[str, Any], key: str, cls: type[Any]) -> Any:
    try:
        return structure(f.get(data, "$", key, dict), cls, path=f"$.{key}")
    except AutovoiceError as exc:
        raise BundleError(f"{f.root / MANIFEST}: {exc}") from None


def _symbols(f: _Fields, data: Mapping[str, Any]) -> SymbolTable:
    try:
        return SymbolTable.from_dict(f.get(data, "$", "symbols", dict))
    except AutovoiceError as exc:
        raise f.error("$.symbols", str(exc)) from None


def _stage(
    f: _Fields, data: Mapping[str, Any], name: str, files: Mapping[str, Any], version: int,
    audio: AudioConfig,
) -> StageInfo:  # fmt: skip
    stage = f.get(data, "$", name, dict)
    if name == "vocoder":
        return _vocoder_stage(f, stage, files, version, audio)
    return _graph_stage(f, name, stage, files, audio)


def _signature(f: _Fields, name: str, stage: Mapping[str, Any], audio: AudioConfig) -> Any:
    """The stage's declared signature, checked field by field and against the audio settings
    (its mel bands, the bins of its spectra) and the inputs the engine feeds the stage."""
    at = f"$.{name}.signature"
    try:
        signature = parse_signature(f.get(stage, f"$.{name}", "signature", dict), at)
    except SignatureError as exc:
        raise BundleError(f"{f.root / MANIFEST}: {exc}") from None
    sizes = {"n_mels": audio.n_mels, "n_fft": audio.n_fft}
    problems = declared_problems(name, signature, path=at, **sizes)
    if problems:
        raise BundleError(f"{f.root / MANIFEST}: {problems[0]}")
    return signature


def _graph_stage(
    f: _Fields, name: str, stage: Mapping[str, Any], files: Mapping[str, Any], audio: AudioConfig
) -> StageInfo:
    at = f"$.{name}"
    _record(f, stage, at, "validation")
    return StageInfo(
        name=name,
        plugin=f.text(stage, at, "plugin"),
        options=f.get(stage, at, "options", dict),
        onnx=f.file(stage, at, "onnx", files),
        weights=f.file(stage, at, "weights", files),
        signature=_signature(f, name, stage, audio),
        opset=f.whole(stage, at, "opset", 1),
        checkpoint=_record(f, stage, at, "checkpoint"),
    )


def _record(f: _Fields, stage: Mapping[str, Any], at: str, key: str) -> Mapping[str, Any]:
    """An optional object a stage records (its checkpoint, its export validation); numbers in
    it that ``autovoice info`` shows are checked to be numbers."""
    record: Mapping[str, Any] = f.optional(stage, at, key, dict) or {}
    for field in ("step", "max_abs_diff", "tolerance"):
        f.optional(record, f"{at}.{key}", field, (int, float))
    return record


def _graphless_stage(f: _Fields, stage: Mapping[str, Any], audio: AudioConfig) -> StageInfo:
    return StageInfo(
        name="vocoder",
        plugin=f.text(stage, "$.vocoder", "plugin"),
        options=f.get(stage, "$.vocoder", "options", dict),
        onnx=None,
        weights=None,
        signature=vocoder_signature(audio.n_mels),
        opset=0,
        checkpoint={},
    )


def _vocoder_stage(
    f: _Fields, stage: Mapping[str, Any], files: Mapping[str, Any], version: int,
    audio: AudioConfig,
) -> StageInfo:  # fmt: skip
    """The vocoder stage and its head: named (format 2) or inferred (format 1)."""
    declared = _declared_head(f, stage) if version >= 2 else _v1_graphless(f, stage)
    if declared is not None and not declared[0].graph:
        info = _graphless_stage(f, stage, audio)
    else:
        info = _graph_stage(f, "vocoder", stage, files, audio)
    head, table, where = declared if declared is not None else _v1_graph_head(f, info)
    missing = head.missing(info.signature.output_names)
    if missing:
        raise f.error(
            "$.vocoder.signature",
            f"head {head.name!r} reads {', '.join(repr(n) for n in missing)}, which the graph "
            f"does not output (it outputs {', '.join(info.signature.output_names) or 'nothing'})",
        )
    try:
        bound = head.bind(table, path=where)
        bound.check(audio, path=where)
    except AutovoiceError as exc:
        raise BundleError(f"{f.root / MANIFEST}: {exc}") from None
    return attrs.evolve(info, head=head.name, head_options=bound.table)


Declared = tuple[Head, Mapping[str, Any], str]
"""A vocoder stage's head, the head's options, and the manifest path of those options."""


def _declared_head(f: _Fields, stage: Mapping[str, Any]) -> Declared:
    try:
        head = get_head(f.get(stage, "$.vocoder", "head", str), path="$.vocoder.head")
    except AutovoiceError as exc:
        raise BundleError(f"{f.root / MANIFEST}: {exc}") from None
    if "head_options" not in stage:
        return head, {}, "$.vocoder.head_options"
    return head, f.get(stage, "$.vocoder", "head_options", dict), "$.vocoder.head_options"


def _v1_graphless(f: _Fields, stage: Mapping[str, Any]) -> Declared | None:
    """Format 1: a plugin named as a graphless head's stage is that head, with its options;
    None for any other plugin (its head is inferred from its graph)."""
    plugin = stage.get("plugin")
    for head in graphless_heads():
        if plugin == head.plugin:
            return head, f.get(stage, "$.vocoder", "options", dict), "$.vocoder.options"
    return None


def _v1_graph_head(f: _Fields, info: StageInfo) -> Declared:
    """Format 1: the first head whose outputs the graph has, with the fields of the head's
    options that the plugin's options hold."""
    outputs = info.signature.output_names
    for head in HEADS.values():
        if head.graph and not head.missing(outputs):
            fields = attrs.fields_dict(head.options_type) if head.options_type else {}
            table = {key: value for key, value in info.options.items() if key in fields}
            return head, table, "$.vocoder.options"
    raise f.error(
        "$.vocoder.signature",
        f"no head makes audio of outputs {', '.join(outputs) or 'none'} (format 1 has no "
        "$.vocoder.head to name one)",
    )


def _engine(f: _Fields, entry: Any, index: int, files: Mapping[str, Any]) -> EngineInfo:
    at = f"$.engines[{index}]"
    if not isinstance(entry, dict):
        raise f.error(at, "expected an object")
    stage = f.get(entry, at, "stage", str)
    if stage not in ALL_STAGES:
        raise f.error(f"{at}.stage", f"expected one of {', '.join(ALL_STAGES)}, got {stage!r}")
    return EngineInfo(
        stage=stage,
        file=f.file(entry, at, "file", files),
        key=f.get(entry, at, "key", str),
        precision=f.get(entry, at, "precision", str),
        profiles=tuple(f.get(entry, at, "profiles", list)),
        tensorrt=f.get(entry, at, "tensorrt", str),
        gpu=f.get(entry, at, "gpu", str),
    )


def _limits(f: _Fields, data: Mapping[str, Any]) -> dict[str, int]:
    limits = f.get(data, "$", "limits", dict)
    return {key: f.whole(limits, "$.limits", key, 0) for key in ("max_tokens", "max_frames")}

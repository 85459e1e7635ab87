"""Starting a run from another voice's weights: a training checkpoint or a voice bundle.

``autovoice train CONFIG --init SOURCE`` names a checkpoint (a run's stage directory, a
``step-N`` folder, a store URI) or a voice bundle (a folder with ``manifest.json``, a ``.tar``,
or ``default``: :func:`autovoice.bundle.default_voice_path`). Weights only: the optimizer, its
schedule and the step start fresh.

A bundle holds each stage's export module (weight norm folded into plain weights, wrapped for
its graph). Its tensors are matched to the recipe's modules by name, the wrapper's prefix found
per module; a weight-normed layer of the recipe gets its direction and magnitude back from the
folded weight (and a folded layer from a checkpoint's direction and magnitude).

The run's speaker table is the source's, in its order, then the corpus' speakers it lacks; a
speaker keeps its row by name, and a new one starts from the mean of the known rows or from
the row of a speaker the caller names. Symbols are handled the same way (new symbols from the
mean of the known ones). The corpus' ids are mapped onto the run's tables in every batch, so
nothing is remapped silently: what grew, what loaded and what did not are in the
:class:`InitReport`, and ``strict`` refuses any partial load, naming the tensors.

A module may say how its tensors that the source lacks start: when it has a method
``after_init(missing)``, it is called with those tensors' state-dict keys once the rest is
loaded (a transformer grown by more blocks starts them as the identity, say).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import torch

from autovoice.errors import AutovoiceError
from autovoice.plugins import Registry
from autovoice.training.checkpoints.records import WeightsReport
from autovoice.training.recipe import Batch, Recipe, TrainStep

__all__ = [
    "InitReport",
    "InitSource",
    "RunTables",
    "apply_init",
    "freezable_parts",
    "freeze",
    "open_source",
    "plan_tables",
]

logger = logging.getLogger(__name__)


_Growth = tuple[tuple[int, int], tuple[str, ...], Mapping[str, int]]
"""A table that grew: ``((rows in the source, rows now), names added, name -> start row)``."""

_NORM_SUFFIXES = {
    ".parametrizations.weight.original0": "g",
    ".parametrizations.weight.original1": "v",
    ".weight_g": "g",
    ".weight_v": "v",
}


@attrs.frozen(kw_only=True)
class InitSource:
    """The weights a run starts from, by ``module/key`` for a checkpoint or by the export
    module's key for a bundle (``by_module`` False), with the tables they were trained on."""

    location: str
    weights: Mapping[str, torch.Tensor]
    by_module: bool
    speakers: tuple[str, ...] = ()
    symbols: Mapping[str, Any] | None = None


@attrs.frozen(kw_only=True)
class RunTables:
    """The run's speaker and symbol tables, and where the corpus' ids go in them."""

    speakers: tuple[str, ...]
    symbols: Mapping[str, Any]
    speaker_ids: tuple[int, ...]
    """Corpus speaker id -> run speaker id."""
    symbol_ids: tuple[int, ...]
    """Corpus token id -> run token id."""
    new_speakers: tuple[str, ...] = ()
    new_symbols: tuple[str, ...] = ()

    @property
    def n_speakers(self) -> int:
        return len(self.speakers)

    @property
    def n_symbols(self) -> int:
        return len(self.symbols["symbols"])

    @property
    def remaps(self) -> bool:
        """Whether any corpus id differs from its run id."""
        return any(i != j for i, j in enumerate(self.speaker_ids)) or any(
            i != j for i, j in enumerate(self.symbol_ids)
        )


@attrs.frozen(kw_only=True)
class InitReport:
    """What a warm start did."""

    source: str
    weights: WeightsReport
    grown: tuple[str, ...] = ()
    """``module/key``: tables that grew, their known rows kept by name."""
    new_speakers: tuple[str, ...] = ()
    new_symbols: tuple[str, ...] = ()

    def describe(self) -> str:
        listed = (
            ("new speakers", ", ".join(self.new_speakers)),
            ("new symbols", " ".join(repr(s) for s in self.new_symbols)),
            ("grown tables", ", ".join(self.grown)),
        )
        head = f"init from {self.source}: {self.weights.describe()}"
        return "; ".join([head] + [f"{label} {text}" for label, text in listed if text])


# -- sources ------------------------------------------------------------------------------------


def open_source(text: str, stage: str, config: Any, registry: Registry) -> InitSource:
    """The checkpoint or voice bundle ``text`` names, as the weights of ``stage``."""
    from autovoice.bundle import DEFAULT_VOICE_NAME, default_voice_path, is_bundle

    path: str | Path = text
    if text == DEFAULT_VOICE_NAME and not Path(text).exists():
        found = default_voice_path()
        if found is None:
            raise AutovoiceError("--init default: no default voice is installed")
        path = found
    if is_bundle(path):
        return _bundle_source(Path(path), stage, config, registry)
    return _checkpoint_source(os.fspath(path), registry)


def _checkpoint_source(text: str, registry: Registry) -> InitSource:
    from autovoice.training.checkpoints.manager import CheckpointManager
    from autovoice.training.checkpoints.references import resolve_checkpoint

    ref = resolve_checkpoint(text, registry)
    manager = CheckpointManager(ref.store, registry=registry, recover=False)
    checkpoint, weights = manager.read_weights(ref.name)
    flat = {f"{m}/{k}": t for m, tensors in weights.items() for k, t in tensors.items()}
    speakers = tuple(str(s) for s in checkpoint.extra_state.get("speakers", ()))
    return InitSource(
        location=checkpoint.location,
        weights=flat,
        by_module=True,
        speakers=speakers,
        symbols=checkpoint.symbols,
    )


def _bundle_source(root: Path, stage: str, config: Any, registry: Registry) -> InitSource:
    from safetensors.torch import load_file

    from autovoice.bundle import VoiceBundle

    bundle = VoiceBundle.open(root, verify=True)
    from autovoice.training.stages import TRAINING_STAGES

    trains = TRAINING_STAGES[stage]  # the config section: "model" or "vocoder"
    info = bundle.stage(stage if trains == "model" else "vocoder")
    where = f"{root} ({info.name})"
    section = config.model if trains == "model" else config.vocoder
    if section.name and info.plugin != section.name:
        raise AutovoiceError(
            f"--init {where}: the voice's {info.name} stage is {info.plugin!r}, the config "
            f"trains {section.name!r}"
        )
    if info.weights is None:
        raise AutovoiceError(f"--init {where}: the stage has no weights to start from")
    if bundle.audio != config.audio:
        raise AutovoiceError(f"--init {where}: the voice's audio settings differ from [audio]")
    return InitSource(
        location=where,
        weights=load_file(str(info.weights)),
        by_module=False,
        speakers=bundle.speakers,
        symbols=bundle.symbols.to_dict(),
    )


# -- tables -------------------------------------------------------------------------------------


def plan_tables(
    source: InitSource, speakers: Sequence[str], symbols: Mapping[str, Any]
) -> RunTables:
    """The run's tables: the source's, then what the corpus (``speakers``, ``symbols``) adds."""
    run_speakers, speaker_ids, new_speakers = _grow(source.speakers, speakers)
    corpus_symbols = [str(s) for s in symbols["symbols"]]
    if source.symbols is None:
        table: Mapping[str, Any] = dict(symbols)
        symbol_ids = tuple(range(len(corpus_symbols)))
        new_symbols: tuple[str, ...] = ()
    else:
        if source.symbols.get("kind") != symbols.get("kind"):
            raise AutovoiceError(
                f"--init {source.location}: the voice reads {source.symbols.get('kind')!r} "
                f"symbols, the corpus' [text] symbols are {symbols.get('kind')!r}"
            )
        known = [str(s) for s in source.symbols["symbols"]]
        if known and corpus_symbols and known[0] != corpus_symbols[0]:
            raise AutovoiceError(
                f"--init {source.location}: padding symbol {known[0]!r}, the corpus' is "
                f"{corpus_symbols[0]!r}"
            )
        grown, symbol_ids, new_symbols = _grow(tuple(known), corpus_symbols)
        table = {**source.symbols, "symbols": list(grown)}
    return RunTables(
        speakers=run_speakers,
        symbols=table,
        speaker_ids=speaker_ids,
        symbol_ids=symbol_ids,
        new_speakers=new_speakers,
        new_symbols=new_symbols,
    )


def _grow(
    known: tuple[str, ...], wanted: Sequence[str]
) -> tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...]]:
    """``(table, id of each wanted name in it, names added)``: ``known`` then the new names."""
    if not known:
        return tuple(wanted), tuple(range(len(wanted))), ()
    added = tuple(name for name in dict.fromkeys(wanted) if name not in known)
    table = known + added
    index = {name: i for i, name in enumerate(table)}
    return table, tuple(index[name] for name in wanted), added


# -- weights ------------------------------------------------------------------------------------


def _split_norm(key: str) -> tuple[str, str | None]:
    """``(plain key, role)``: a weight-norm key as the weight it makes (role ``g`` or ``v``)."""
    for suffix, role in _NORM_SUFFIXES.items():
        if key.endswith(suffix):
            return key[: -len(suffix)] + ".weight", role
    return key, None


def _grouped(keys: Sequence[str]) -> dict[str, dict[str | None, str]]:
    """Plain key -> {role: key} (role None: a plain tensor)."""
    out: dict[str, dict[str | None, str]] = {}
    for key in keys:
        plain, role = _split_norm(key)
        out.setdefault(plain, {})[role] = key
    return out


def _source_groups(
    source: InitSource, modules: Mapping[str, torch.nn.Module]
) -> tuple[dict[str, dict[str | None, str]], list[str]]:
    """Source tensors grouped as ``module/plain key`` -> {role: source key}, and the source
    keys that no module claims."""
    if source.by_module:
        groups = _grouped(list(source.weights))
        return groups, []
    groups = {}
    free = dict(_grouped(list(source.weights)))
    wanted = {name: set(_grouped(list(m.state_dict()))) for name, m in modules.items()}
    for name in sorted(wanted, key=lambda n: -len(wanted[n])):
        prefix = _best_prefix(list(free), wanted[name])
        if prefix is None:
            continue
        for plain in [p for p in free if p.startswith(prefix) and p[len(prefix) :] in wanted[name]]:
            groups[f"{name}/{plain[len(prefix) :]}"] = free.pop(plain)
    return groups, [key for roles in free.values() for key in roles.values()]


def _best_prefix(keys: Sequence[str], wanted: set[str]) -> str | None:
    """The wrapper prefix under which most of ``wanted`` is found among ``keys``, when that
    covers at least half of them."""
    counts: dict[str, int] = {}
    for key in keys:
        parts = key.split(".")
        for cut in range(len(parts)):
            prefix = ".".join(parts[:cut]) + ("." if cut else "")
            if key[len(prefix) :] in wanted:
                counts[prefix] = counts.get(prefix, 0) + 1
    if not counts:
        return None
    prefix = max(counts, key=lambda p: (counts[p], -len(p)))
    return prefix if 2 * counts[prefix] >= len(wanted) else None


def _norm_dim(g: torch.Tensor) -> int:
    """The dimension weight norm keeps, read from the magnitude's shape (-1: the whole)."""
    if g.dim() == 0:
        return -1
    kept = [i for i, size in enumerate(g.shape) if size != 1]
    return kept[0] if kept else 0


def _as_roles(
    given: Mapping[str | None, torch.Tensor], roles: Mapping[str | None, torch.Tensor]
) -> dict[str | None, torch.Tensor] | None:
    """The source tensors of one weight in the target's form (plain, or ``g`` and ``v``);
    None when neither form can be made."""
    if set(given) == set(roles):
        return dict(given)
    if set(roles) == {"g", "v"} and None in given:
        weight, g = given[None], roles["g"]
        dim = _norm_dim(g)
        return {"v": weight, "g": torch.norm_except_dim(weight, 2, dim).reshape(g.shape)}
    if set(roles) == {None} and set(given) == {"g", "v"}:
        return {None: torch._weight_norm(given["v"], given["g"], _norm_dim(given["g"]))}
    return None


def _grow_rows(
    tensor: torch.Tensor,
    target: torch.Tensor,
    tables: Sequence[_Growth],
) -> torch.Tensor | None:
    """``tensor`` with the rows of a grown table (along the one axis that differs), known rows
    kept, new ones from their start row (or the mean); None when no table explains the
    difference."""
    if tensor.dim() != target.dim():
        return None
    axes = [i for i, (a, b) in enumerate(zip(tensor.shape, target.shape, strict=True)) if a != b]
    if len(axes) != 1:
        return None
    axis = axes[0]
    for sizes, names, start in tables:
        known, total = sizes
        if tensor.shape[axis] != known or target.shape[axis] != total:
            continue
        rows = tensor.movedim(axis, 0)
        mean = rows.mean(dim=0, keepdim=True)
        extra = [rows[start[n]][None] if n in start else mean for n in names]
        return torch.cat([rows, *extra]).movedim(0, axis).contiguous()
    return None


def _table_growth(
    source: InitSource, tables: RunTables, new_speaker_from: str | None
) -> list[_Growth]:
    growth: list[_Growth] = []
    if tables.new_speakers:
        start: dict[str, int] = {}
        if new_speaker_from is not None:
            if new_speaker_from not in source.speakers:
                known = ", ".join(source.speakers) or "none"
                raise AutovoiceError(
                    f"--new-speaker-from: {new_speaker_from!r} is not a speaker of "
                    f"{source.location} (speakers: {known})"
                )
            row = source.speakers.index(new_speaker_from)
            start = {name: row for name in tables.new_speakers}
        sizes = (len(source.speakers), tables.n_speakers)
        growth.append((sizes, tables.new_speakers, start))
    if tables.new_symbols and source.symbols is not None:
        sizes = (len(source.symbols["symbols"]), tables.n_symbols)
        growth.append((sizes, tables.new_symbols, {}))
    return growth


def _load(
    recipe: Recipe,
    source: InitSource,
    growth: Sequence[_Growth],
) -> tuple[WeightsReport, tuple[str, ...]]:
    """Load what fits into the recipe's modules; the report and the tables that grew."""
    groups, unexpected = _source_groups(source, recipe.modules)
    loaded, missing, grown = [], [], []
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
    for name, module in recipe.modules.items():
        state = module.state_dict()
        fits: dict[str, torch.Tensor] = {}
        for plain, keys in _grouped(list(state)).items():
            found = groups.pop(f"{name}/{plain}", None)
            if found is None:
                missing += [f"{name}/{k}" for k in keys.values()]
                continue
            roles = {r: state[k] for r, k in keys.items()}
            given = _as_roles({r: source.weights[k] for r, k in found.items()}, roles)
            if given is None:
                unexpected += list(found.values())
                missing += [f"{name}/{k}" for k in keys.values()]
                continue
            for role, key in keys.items():
                tensor, want = given[role], state[key]
                if tensor.shape != want.shape:
                    resized = _grow_rows(tensor, want, growth)
                    if resized is None:
                        mismatched.append((f"{name}/{key}", tuple(tensor.shape), tuple(want.shape)))
                        continue
                    grown.append(f"{name}/{key}")
                    tensor = resized
                fits[key] = tensor.to(dtype=want.dtype)
                loaded.append(f"{name}/{key}")
        module.load_state_dict(fits, strict=False)
        _after_init(module, [k for k in missing if k.startswith(f"{name}/")], name)
    unexpected += [k for roles in groups.values() for k in roles.values()]
    report = WeightsReport(
        loaded=tuple(loaded),
        missing=tuple(missing),
        unexpected=tuple(sorted(set(unexpected))),
        mismatched=tuple(mismatched),
    )
    return report, tuple(grown)


def _after_init(module: torch.nn.Module, missing: Sequence[str], name: str) -> None:
    """The module's own start (its ``after_init``) for ``missing``, its ``name/key`` tensors
    that the source lacked."""
    hook = getattr(module, "after_init", None)
    if missing and callable(hook):
        hook([k.removeprefix(f"{name}/") for k in missing])


def _export_constants(recipe: Recipe) -> set[str]:
    """Keys of the export module that are its own (a wrapper's buffers), not the modules'."""
    with torch.random.fork_rng(devices=[]):  # a copy's initial weights draw numbers
        keys = list(recipe.export_module().state_dict())
    fake = InitSource(location="", weights=dict.fromkeys(keys, torch.zeros(())), by_module=False)
    _, free = _source_groups(fake, recipe.modules)
    return set(free)


def apply_init(
    recipe: Recipe,
    source: InitSource,
    tables: RunTables | None,
    *,
    strict: bool = False,
    new_speaker_from: str | None = None,
) -> tuple[Recipe, InitReport]:
    """Load ``source`` into ``recipe``'s modules (sized for ``tables``); the recipe to train
    (its batches' speaker and token ids mapped onto the run's tables when they differ) and what
    was loaded. ``strict``: every tensor of the modules loaded from one of the source's, every
    one of the source's used, or an :class:`AutovoiceError` naming the others."""
    growth = _table_growth(source, tables, new_speaker_from) if tables is not None else []
    report, grown = _load(recipe, source, growth)
    if not source.by_module and report.unexpected:
        own = _export_constants(recipe)
        unexpected = tuple(k for k in report.unexpected if k not in own)
        report = attrs.evolve(report, unexpected=unexpected)
    if not report.loaded:
        raise AutovoiceError(f"--init {source.location}: none of its tensors fit this stage")
    if strict and report.skipped:
        where = source.location
        raise AutovoiceError(f"--init-strict: {where} does not fit: {report.describe()}")
    result = InitReport(
        source=source.location,
        weights=report,
        grown=grown,
        new_speakers=tables.new_speakers if tables is not None else (),
        new_symbols=tables.new_symbols if tables is not None else (),
    )
    if tables is not None and tables.remaps:
        recipe = _remapped(recipe, tables)
    return recipe, result


# -- batches ------------------------------------------------------------------------------------


def _remapped(recipe: Recipe, tables: RunTables) -> Recipe:
    """``recipe`` whose steps, validation and media read the corpus' ids as the run's."""
    maps = {"speakers": tables.speaker_ids, "tokens": tables.symbol_ids}

    def mapped(batch: Batch) -> dict[str, torch.Tensor]:
        out = dict(batch)
        for key, ids in maps.items():
            if key in out:
                table = torch.tensor(ids, dtype=out[key].dtype, device=out[key].device)
                out[key] = table[out[key]]
        return out

    def step(original: TrainStep) -> TrainStep:
        loss = original.loss
        return attrs.evolve(original, loss=lambda batch, scratch: loss(mapped(batch), scratch))

    validate, media = recipe.validate, recipe.media
    return attrs.evolve(
        recipe,
        steps=tuple(step(s) for s in recipe.steps),
        validate=lambda batch: validate(mapped(batch)),
        media=None if media is None else (lambda batch: media(mapped(batch))),
    )


# -- freezing -----------------------------------------------------------------------------------


def freezable_parts(recipe: Recipe) -> list[str]:
    """The parts ``--freeze`` accepts: each module's direct children that hold parameters
    (``encoder``), and ``module/child`` when the recipe has several modules."""
    parts = []
    for name, module in recipe.modules.items():
        for child, sub in module.named_children():
            if any(True for _ in sub.parameters()):
                parts.append(child if len(recipe.modules) == 1 else f"{name}/{child}")
    return parts


def freeze(recipe: Recipe, parts: Sequence[str]) -> tuple[str, ...]:
    """Stop the parameters of ``parts`` from training; an unknown part is an error that lists
    the ones this model offers."""
    offered = freezable_parts(recipe)
    unknown = [p for p in parts if p not in offered]
    if unknown:
        raise AutovoiceError(
            f"--freeze: no part {', '.join(map(repr, unknown))} in this model; it offers "
            f"{', '.join(offered)}"
        )
    single = next(iter(recipe.modules)) if len(recipe.modules) == 1 else None
    for part in parts:
        name, _, child = part.rpartition("/")
        module = recipe.modules[name or str(single)]
        for parameter in module.get_submodule(child).parameters():
            parameter.requires_grad_(False)
    return tuple(parts)

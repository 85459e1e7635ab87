"""CheckpointManager: save, list, retain, load and resume training checkpoints in any store.

A checkpoint ``step-NNNNNNNNN/`` holds ``model.safetensors`` (every tensor of every named
module), ``state.pt`` (optimizers, schedulers, grad scaler, caller state, the RNG states of
every rank; plain data only) and, written last, ``meta.json`` (checksums of both, metrics,
config, symbols, versions, git commit). See ``docs/checkpoints.md``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from autovoice.training import safe_load
from autovoice.training.checkpoints import catalog, dist
from autovoice.training.checkpoints.meta import (
    build_meta,
    environment,
    git_state,
    parse_meta,
    plain_config,
    plain_metrics,
    record_of,
)
from autovoice.training.checkpoints.records import (
    META_FILE,
    MODEL_FILE,
    STATE_FILE,
    Checkpoint,
    CheckpointCorruptError,
    CheckpointError,
    CheckpointRecord,
    NoCheckpointError,
    WeightsReport,
    checkpoint_name,
)
from autovoice.training.checkpoints.resume import restore_rank_rng, resume
from autovoice.training.checkpoints.state import (
    Parts,
    decode_weights,
    dump_state,
    encode_weights,
    load_matching,
    load_modules,
    log_report,
    named,
)
from autovoice.training.retention import best, check_settings, newest, select_retained
from autovoice.training.rng import capture_rng_state

logger = logging.getLogger(__name__)

ALIASES = {
    "best_checkpoint.pt": "best",
    "latest_checkpoint.pt": "latest",
}
"""Checkpoint names that stand for another: the best by the manager's metric, or the newest."""
_STORE_METHODS = ("write_bytes", "read_bytes", "exists", "list", "delete", "cleanup_temporaries")
Loaded = tuple[Checkpoint, dict[str, Any], dict[str, Any]]


class CheckpointManager:
    """Checkpoints of one training run in one store: ``checkpoint_dir`` is a directory, a URI
    served by a store plugin, or a store object.

    Created on the writing rank, it first removes what an interrupted save left behind (pass
    ``recover=False`` to only read). In distributed runs every rank calls :meth:`save`; rank 0
    writes, between barriers, with the RNG states of all ranks.
    """

    def __init__(
        self,
        checkpoint_dir: str | os.PathLike[str] | Any,
        max_keep: int = 5,
        keep_best: int = 3,
        metric_name: str = "val_loss",
        mode: str = "min",
        store_options: Any = None,
        registry: Any = None,
        *,
        store: str = "auto",
        recover: bool = True,
    ) -> None:
        check_settings(max_keep, keep_best, metric_name, mode)
        self.max_keep, self.keep_best = max_keep, keep_best
        self.metric_name, self.mode = metric_name, mode
        self._registry = registry
        self.store: Any = checkpoint_dir
        if not all(hasattr(checkpoint_dir, m) for m in _STORE_METHODS):
            self.store = catalog.open_store(
                checkpoint_dir, store=store, options=store_options, registry=registry
            )
        self._environment: dict[str, Any] | None = None
        if recover and dist.is_writer():
            self.recover()

    @classmethod
    def from_config(
        cls, config: Any, default_dir: str | os.PathLike[str], *, registry: Any = None
    ) -> CheckpointManager:
        """A manager for a :class:`~autovoice.config.CheckpointConfig`; an empty ``uri`` means
        ``default_dir``."""
        return cls(
            config.uri or os.fspath(default_dir),
            max_keep=config.max_keep,
            keep_best=config.keep_best,
            metric_name=config.metric_name,
            mode=config.mode,
            store_options=config.options or None,
            registry=registry,
            store=config.store,
        )

    @property
    def uri(self) -> str:
        return str(self.store.uri)

    def __repr__(self) -> str:
        return (
            f"CheckpointManager({self.uri!r}, max_keep={self.max_keep}, keep_best={self.keep_best})"
        )

    def recover(self) -> list[str]:
        """Remove temporaries and incomplete checkpoints left by an interrupted save."""
        removed = catalog.recover(self.store)
        if removed:
            logger.warning("%s: removed what an interrupted save left: %s", self.uri, removed)
        return removed

    def save(
        self,
        model: Any,
        optimizer: Any,
        scheduler: Any,
        epoch: int,
        step: int,
        metrics: Mapping[str, Any] | None,
        config: Any,
        *,
        scaler: Any = None,
        extra_state: Mapping[str, Any] | None = None,
        symbols: Any = None,
    ) -> CheckpointRecord:
        """Save checkpoint ``step-<step>``, then apply retention. ``model``, ``optimizer`` and
        ``scheduler`` are each one object, a mapping of named ones, or None (not ``model``).
        ``extra_state`` is plain data to resume with (a sampler's position); ``symbols`` the
        symbol table. Returns the new checkpoint's record on every rank."""
        for label, value in (("epoch", epoch), ("step", step)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise CheckpointError(f"save: {label} must be an integer >= 0, got {value!r}")
        parts = Parts(model, optimizer, scheduler, scaler)
        dist.barrier()
        rng = dist.gather_to_writer(capture_rng_state())
        state = {"epoch": epoch, "step": step, **parts.training_state(), "rng": rng}
        state["extra"] = dict(extra_state or {})
        info = {"metrics": plain_metrics(metrics), "config": plain_config(config)}
        info["symbols"] = plain_config(symbols) if isinstance(symbols, Mapping) else symbols
        return dist.on_writer(lambda: self._write(parts, state, info))

    def _write(self, parts: Parts, state: dict[str, Any], info: dict[str, Any]) -> CheckpointRecord:
        name = checkpoint_name(state["step"])
        where = catalog.location(self.store, name)
        files = {MODEL_FILE: encode_weights(parts.modules), STATE_FILE: dump_state(state, where)}
        meta = build_meta(
            name=name,
            step=state["step"],
            epoch=state["epoch"],
            files=files,
            contents=parts.contents(),
            environment=self._env(),
            **info,
        )
        catalog.write_checkpoint(self.store, name, {**files, META_FILE: meta})
        record = record_of(parse_meta(meta, where), len(meta))
        logger.info("saved checkpoint %s (%d bytes)", where, record.size)
        self.cleanup_old_checkpoints(protect=(name,))
        return record

    def _env(self) -> dict[str, Any]:
        if self._environment is None:
            versions = {"torch": torch.__version__, "numpy": np.__version__}
            self._environment = environment(versions, git_state())
            self._environment["world_size"] = dist.world_size()
        return self._environment

    def list_checkpoints(self) -> list[CheckpointRecord]:
        """Every complete checkpoint, oldest step first."""
        return list(catalog.scan(self.store).records)

    def cleanup_old_checkpoints(self, *, protect: tuple[str, ...] = ()) -> list[str]:
        """Delete the checkpoints retention does not keep (never those in ``protect``) and
        return their names. Only rank 0 deletes."""
        if not dist.is_writer():
            return []
        records = self.list_checkpoints()
        keep = select_retained(records, self.max_keep, self.keep_best, self.metric_name, self.mode)
        doomed = [r.name for r in records if r.name not in keep and r.name not in protect]
        for name in doomed:
            catalog.delete_checkpoint(self.store, name)
            logger.info("deleted checkpoint %s (retention)", catalog.location(self.store, name))
        return doomed

    def locate(self, path: Any) -> tuple[Any, str]:
        """``(store, name)`` of a record, a name in this store, or a checkpoint's path/URI.

        The names of :data:`ALIASES` (``best_checkpoint.pt``, ``latest_checkpoint.pt``, also
        as the last part of a path such as ``checkpoints/best_checkpoint.pt``) stand for the
        best checkpoint by ``metric_name`` and the newest one of their store."""
        if isinstance(path, CheckpointRecord):
            return self.store, path.name
        store, name = catalog.locate(path, self.store, self._registry)
        alias = ALIASES.get(name)
        return (store, name) if alias is None else (store, self._resolve_alias(store, alias, path))

    def _resolve_alias(self, store: Any, alias: str, path: Any) -> str:
        """The name of the ``best`` or ``latest`` checkpoint of ``store``, or an error naming
        what the store holds."""
        records = list(catalog.scan(store).records)
        if alias == "latest":
            found = newest(records, 1)
        else:
            found = best(records, 1, self.metric_name, self.mode)
        if found:
            return found[0].name
        held = ", ".join(r.name for r in records) or "no checkpoint"
        why = "" if alias == "latest" or not records else f" with metric {self.metric_name!r}"
        raise NoCheckpointError(
            f"{os.fspath(path)}: stands for the {alias} checkpoint{why} of "
            f"{store.uri}, which holds {held}"
        )

    def _weights(self, path: Any) -> tuple[str, dict[str, Any], dict[str, Any], int, Any, str]:
        store, name = self.locate(path)
        where = catalog.location(store, name)
        meta, size = catalog.read_meta(store, name)
        weights = decode_weights(catalog.read_file(store, name, MODEL_FILE, meta), where)
        return where, weights, meta, size, store, name

    def read(self, path: Any, device: Any = None) -> Loaded:
        """``(checkpoint, weights by module, state)``, all verified; nothing is applied."""
        where, weights, meta, size, store, name = self._weights(path)
        blob = catalog.read_file(store, name, STATE_FILE, meta)
        state = safe_load.load(blob, f"{where}/{STATE_FILE}", map_location=device)
        if not isinstance(state, dict) or not isinstance(state.get("extra"), dict):
            raise CheckpointCorruptError(f"{where}/{STATE_FILE} is not a training state")
        record = record_of(meta, size)
        checkpoint = Checkpoint(
            record=record, location=where, meta=meta, extra_state=state["extra"]
        )
        return checkpoint, weights, state

    def read_weights(self, path: Any) -> tuple[Checkpoint, dict[str, Any]]:
        """``(checkpoint, weights by module)``, verified, for starting a new run from: a
        checkpoint kept as weights only (its ``state.pt`` left out, as in a repository) reads
        too, with empty caller state; a ``state.pt`` that is there is verified and read."""
        where, weights, meta, size, store, name = self._weights(path)
        extra: dict[str, Any] = {}
        if store.exists(f"{name}/{STATE_FILE}"):
            blob = catalog.read_file(store, name, STATE_FILE, meta)
            state = safe_load.load(blob, f"{where}/{STATE_FILE}", map_location="cpu")
            if not isinstance(state, dict) or not isinstance(state.get("extra"), dict):
                raise CheckpointCorruptError(f"{where}/{STATE_FILE} is not a training state")
            extra = state["extra"]
        record = record_of(meta, size)
        return Checkpoint(record=record, location=where, meta=meta, extra_state=extra), weights

    def load(
        self,
        path: Any,
        model: Any,
        optimizer: Any = None,
        scheduler: Any = None,
        device: Any = None,
        strict: bool = True,
        *,
        scaler: Any = None,
        restore_rng: bool = True,
    ) -> Checkpoint:
        """Load a checkpoint (a record, a name here, or a path/URI) into the objects given.
        Everything is verified before anything changes. ``strict``: names and shapes must be
        the saved ones; otherwise what fits is loaded and the rest logged. ``restore_rng``:
        this rank's random generators (Python, numpy, torch CPU and CUDA) go back to their
        saved states too, as on resume, so that what follows draws what it drew then."""
        checkpoint, weights, state = self.read(path, device)
        parts = Parts(model, optimizer, scheduler, scaler)
        report = parts.apply(weights, state, checkpoint.location, strict)
        if report is not None:
            log_report(checkpoint.location, report)
        if restore_rng:
            restore_rank_rng(state.get("rng"), checkpoint.location)
        return checkpoint

    def load_best(self, model: Any, **kwargs: Any) -> Checkpoint:
        """Load the best checkpoint by ``metric_name`` (keywords as for :meth:`load`)."""
        found = best(self.list_checkpoints(), 1, self.metric_name, self.mode)
        if not found:
            message = f"no checkpoint in {self.uri} has metric {self.metric_name!r}"
            raise NoCheckpointError(message)
        return self.load(found[0], model, **kwargs)

    def load_latest(self, model: Any, **kwargs: Any) -> Checkpoint:
        """Load the checkpoint of the highest step (keywords as for :meth:`load`)."""
        found = newest(self.list_checkpoints(), 1)
        if not found:
            raise NoCheckpointError(f"no checkpoint in {self.uri}")
        return self.load(found[0], model, **kwargs)

    def load_weights(self, path: Any, model: Any, strict: bool = False) -> WeightsReport:
        """Warm start: module weights only (no optimizer, step or RNG). Not strict, tensors
        whose shape changed (a new speaker count) are skipped and reported."""
        where, weights, *_rest = self._weights(path)
        modules = named(model, "model")
        if strict:
            load_modules(modules, weights, where)
            return WeightsReport(loaded=tuple(f"{n}/{k}" for n in weights for k in weights[n]))
        report = load_matching(modules, weights)
        log_report(where, report)
        return report

    def resume_from_checkpoint(
        self, path: Any, model: Any, optimizer: Any, scheduler: Any, scaler: Any = None
    ) -> tuple[int, int, Checkpoint]:
        """Restore everything, RNG states included, from ``path`` or ``'latest'``; returns
        ``(epoch, step, checkpoint)`` as saved. A damaged checkpoint is skipped, loudly, for the
        newest intact one before it; with none intact this raises (it never starts over)."""
        parts = Parts(model, optimizer, scheduler, scaler)

        def attempt(candidate: Any) -> tuple[Checkpoint, dict[str, Any]]:
            checkpoint, weights, state = self.read(candidate)
            parts.apply(weights, state, checkpoint.location, strict=True)
            return checkpoint, state

        return resume(self, path, attempt)

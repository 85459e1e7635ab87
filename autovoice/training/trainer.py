"""The generic trainer: drives any model or vocoder plugin's :class:`Recipe`.

Per batch it runs the recipe's steps in order, each on its own optimizer, with autocast, gradient
accumulation, clipping, schedules and a guard that skips non-finite steps (and stops after too
many in a row). Every ``val_every`` steps it validates; every ``checkpoint_every`` steps (and at
the end) it saves through :class:`CheckpointManager`, with the loader's place so that a resumed run
continues exactly. Logs go to TensorBoard and a progress bar on rank 0.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, overload

import attrs
import torch
from torch.nn.parallel import DistributedDataParallel

from autovoice.config.schema import Config
from autovoice.errors import AutovoiceError
from autovoice.training.checkpoints.manager import CheckpointManager
from autovoice.training.checkpoints.records import CheckpointRecord
from autovoice.training.optim import build_optimizers
from autovoice.training.recipe import Recipe, TrainStep
from autovoice.training.runtime import Runtime, all_mean, autocast, grad_scaler
from autovoice.training.tracking import Tracker

logger = logging.getLogger(__name__)


class TrainingError(AutovoiceError):
    """Training cannot go on (too many non-finite steps, nothing to train on)."""


class StepRunner(torch.nn.Module):
    """All of a recipe's modules in one module whose forward runs a named step, so that one
    DistributedDataParallel wrapper synchronizes every step's gradients."""

    def __init__(self, recipe: Recipe) -> None:
        super().__init__()
        self.parts = torch.nn.ModuleDict(dict(recipe.modules))
        self.steps = {step.name: step for step in recipe.steps}

    def forward(
        self, name: str, batch: Mapping[str, torch.Tensor], scratch: dict[str, Any]
    ) -> dict[str, torch.Tensor]:
        return self.steps[name].loss(batch, scratch)


@attrs.frozen
class FitResult:
    step: int
    epoch: int
    metrics: Mapping[str, float]
    skipped_steps: int
    train_losses: tuple[float, ...]
    """The ``loss`` of the first step of every optimizer step, in order (for exactness checks)."""


class Trainer:
    """Trains one recipe. ``loaders`` are those of :func:`create_dataloaders`."""

    def __init__(
        self,
        *,
        recipe: Recipe,
        loaders: Mapping[str, Any],
        checkpoints: CheckpointManager,
        config: Config,
        runtime: Runtime,
        symbols: Mapping[str, Any] | None = None,
        speakers: tuple[str, ...] = (),
        stage: str = "acoustic",
        tracker: Tracker | None = None,
        max_nonfinite: int = 20,
    ) -> None:
        self.recipe, self.loaders, self.config = recipe, loaders, config
        self.training = config.training
        self.checkpoints, self.runtime, self.symbols = checkpoints, runtime, symbols
        self.speakers, self.stage = tuple(speakers), stage
        self.tracker = tracker or Tracker.disabled()
        self.max_nonfinite = max_nonfinite
        self.modules = {name: m.to(runtime.device) for name, m in recipe.modules.items()}
        self.optimizers, self.schedulers = build_optimizers(recipe.optimizers, self.modules)
        self.scaler = grad_scaler(runtime)
        runner: torch.nn.Module = StepRunner(recipe)
        if runtime.distributed:
            ids = [runtime.device.index] if runtime.device.type == "cuda" else None
            # with several steps (a GAN), each step leaves some modules' parameters unused
            unused = len(recipe.steps) > 1
            runner = DistributedDataParallel(runner, device_ids=ids, find_unused_parameters=unused)
        self.runner = runner
        self.step, self.nonfinite, self.skipped = 0, 0, 0
        self.losses: list[float] = []

    # -- state ------------------------------------------------------------------------------
    @property
    def train_loader(self) -> Any:
        return self.loaders["train"]

    def resume(self, path: str, *, allow_config_change: bool = False) -> None:
        """Restore everything from ``path`` or ``"latest"`` (RNG states and loader place too).

        The run's configuration is compared with the checkpoint's
        (:mod:`autovoice.training.config_changes`): a change that breaks exact resume or the
        comparability of validation metrics raises a :class:`TrainingError` naming each one,
        unless ``allow_config_change``; then each change is logged and applied, the learning
        rates included (a restored schedule would otherwise keep the saved ones)."""
        configured = {name: [float(lr) for lr in s.base_lrs] for name, s in self.schedulers.items()}
        epoch, step, checkpoint = self.checkpoints.resume_from_checkpoint(
            path, self.modules, self.optimizers, self.schedulers, self.scaler
        )
        self._check_config(checkpoint, allow_config_change)
        if allow_config_change:
            self._apply_learning_rates(configured)
        extra = checkpoint.extra_state
        if "loader" in extra:
            self.train_loader.load_state_dict(extra["loader"])
        self.step, self.skipped = step, int(extra.get("skipped", 0))
        logger.info("resumed from %s at step %d (epoch %d)", checkpoint.location, step, epoch)

    def _check_config(self, checkpoint: Any, allowed: bool) -> None:
        from autovoice.training.checkpoints.meta import plain_config
        from autovoice.training.config_changes import (
            binding,
            config_changes,
            describe,
            with_defaults,
        )

        saved = checkpoint.config
        if not isinstance(saved, Mapping):
            logger.warning(
                "%s holds no configuration: changed settings cannot be checked",
                checkpoint.location,
            )
            return
        changes = config_changes(with_defaults(saved, self.config), plain_config(self.config))
        refused = binding(changes)
        if refused and not allowed:
            listed = "; ".join(describe(c) for c in refused)
            raise TrainingError(
                f"cannot resume from {checkpoint.location}: the configuration changed in ways "
                f"that break exact resume or make validation metrics incomparable ({listed}). "
                "Undo the changes, start a new run (another training.output_dir), or pass "
                "--allow-config-change to apply them"
            )
        for change in changes:
            kind = "applied" if not change.free else "free"
            logger.warning("resume: %s changed (%s): %s", change.path, kind, describe(change))

    def _apply_learning_rates(self, configured: Mapping[str, list[float]]) -> None:
        """Put the configured peak learning rates back into restored schedules, at their
        current place in the schedule."""
        for name, scheduler in self.schedulers.items():
            if list(scheduler.base_lrs) == configured[name]:
                continue
            scheduler.base_lrs = list(configured[name])
            groups = scheduler.optimizer.param_groups
            for group, base, factor in zip(
                groups, configured[name], scheduler.lr_lambdas, strict=True
            ):
                group["initial_lr"] = base
                group["lr"] = base * factor(scheduler.last_epoch)
            scheduler._last_lr = [group["lr"] for group in groups]  # what get_last_lr reports

    def save(self, metrics: Mapping[str, float]) -> CheckpointRecord:
        return self.checkpoints.save(
            self.modules,
            self.optimizers,
            self.schedulers,
            epoch=self.epoch,
            step=self.step,
            metrics=dict(metrics),
            config=self.config,
            scaler=self.scaler,
            extra_state={
                "loader": self.train_loader.state_dict(),
                "skipped": self.skipped,
                "speakers": list(self.speakers),
                "stage": self.stage,
            },
            symbols=self.symbols,
        )

    def save_checkpoint(self, metrics: Mapping[str, float] | None = None) -> CheckpointRecord:
        """:meth:`save` under the name of the design document's API: the modules, optimizers,
        schedulers, grad scaler, RNG states and loader place, with metadata (config, platform,
        library versions, git commit; :meth:`CheckpointManager.save`). Returns the record."""
        return self.save(metrics or {})

    def load_checkpoint(self, path: str = "latest", *, allow_config_change: bool = False) -> None:
        """:meth:`resume` under the name of the design document's API: every state
        :meth:`save_checkpoint` wrote goes back (``path``: a checkpoint, ``"latest"``, or an
        alias such as ``best_checkpoint.pt``)."""
        self.resume(path, allow_config_change=allow_config_change)

    @property
    def epoch(self) -> int:
        return int(self.train_loader.state_dict()["epoch"])

    # -- the loop ---------------------------------------------------------------------------
    def batches(self) -> Iterator[Mapping[str, Any]]:
        """Training batches without end, epoch after epoch, from the loader's current place."""
        while True:
            empty = True
            for batch in self.train_loader:
                empty = False
                yield batch
            if empty:
                raise TrainingError(
                    "the training split has no batches: a larger corpus or a "
                    "smaller training.batch_size is needed"
                )

    def fit(self) -> FitResult:
        """Train until ``training.max_steps``; returns the last validation metrics."""
        t = self.training
        metrics: dict[str, float] = {}
        batches = self.batches()
        self.tracker.start(total=t.max_steps, initial=self.step)
        while self.step < t.max_steps:
            logs = self.optimizer_step(batches)
            self.step += 1
            self.tracker.advance(self.step, logs, self._lrs())
            validated = self.step % t.val_every == 0 or self.step == t.max_steps
            if validated:
                metrics = self.validate()
            if self.step % t.checkpoint_every == 0 or self.step == t.max_steps:
                # a checkpoint carries only metrics measured on its own weights, so that the
                # "best" is never another checkpoint's validation result
                self.save(metrics if validated else {})
        self.tracker.close()
        return FitResult(self.step, self.epoch, metrics, self.skipped, tuple(self.losses))

    def train_epoch(self, loader: Iterable[Any], epoch: int) -> float:
        """One pass over ``loader`` as epoch ``epoch`` (its ``set_epoch``, or its sampler's,
        is called first): an :meth:`optimizer_step` per ``training.grad_accumulation`` dict
        batches. Returns the mean of each step's ``loss`` (the first TrainStep's), skipped
        non-finite steps left out (NaN when every step was skipped). ``training.max_steps``
        does not apply; checkpoints are the caller's (:meth:`save_checkpoint`)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise TrainingError(f"train_epoch: epoch must be an integer >= 0, got {epoch!r}")
        set_epoch = getattr(loader, "set_epoch", None)
        set_epoch = set_epoch or getattr(getattr(loader, "sampler", None), "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)
        steps = len(loader) // self.training.grad_accumulation  # type: ignore[arg-type]
        if steps == 0:
            raise TrainingError(
                f"train_epoch: the loader has {len(loader)} batches, fewer than one optimizer "  # type: ignore[arg-type]
                f"step of training.grad_accumulation = {self.training.grad_accumulation}"
            )
        batches = _dict_batches(loader)
        first = len(self.losses)
        for _ in range(steps):
            logs = self.optimizer_step(batches)
            self.step += 1
            self.tracker.advance(self.step, logs, self._lrs())
        finite = [loss for loss in self.losses[first:] if math.isfinite(loss)]
        return sum(finite) / len(finite) if finite else math.nan

    def optimizer_step(self, batches: Iterator[Mapping[str, Any]]) -> dict[str, float]:
        """One optimizer step of every active TrainStep, over ``grad_accumulation`` batches."""
        for module in self.modules.values():
            module.train()
        accumulate = self.training.grad_accumulation
        active = [s for s in self.recipe.steps if self.step >= s.start_step]
        logs: dict[str, float] = {}
        finite = {s.name: True for s in active}
        for micro in range(accumulate):
            batch = self.to_device(next(batches))
            scratch: dict[str, Any] = {}
            for step in active:
                out = self._backward(step, batch, scratch, last=micro == accumulate - 1)
                if out is None:
                    finite[step.name] = False
                    continue
                for key, value in out.items():
                    logs[f"{step.name}/{key}"] = (
                        logs.get(f"{step.name}/{key}", 0.0) + value / accumulate
                    )
        for step in active:
            self._apply(step, finite[step.name])
        first = f"{active[0].name}/loss" if active else ""
        self.losses.append(logs.get(first, math.nan))
        return logs

    def _backward(
        self, step: TrainStep, batch: Mapping[str, Any], scratch: dict[str, Any], *, last: bool
    ) -> dict[str, float] | None:
        sync = last or not self.runtime.distributed
        context = contextlib.nullcontext() if sync else self.runner.no_sync()  # type: ignore[operator]
        with context:
            with autocast(self.runtime):
                out = self.runner(step.name, batch, scratch)
            loss = out["loss"]
            if not torch.isfinite(loss).item():
                return None
            scaled = loss / self.training.grad_accumulation
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
        return {k: float(v.detach().float().item()) for k, v in out.items()}

    def _apply(self, step: TrainStep, finite: bool) -> None:
        opt, sched = self.optimizers[step.optimizer], self.schedulers[step.optimizer]
        if finite and self.scaler is not None:
            self.scaler.unscale_(opt)
        params = [p for group in opt.param_groups for p in group["params"]]
        if finite and self.training.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, self.training.grad_clip)
            finite = bool(torch.isfinite(norm).item()) or self.scaler is not None
        if finite:
            if self.scaler is not None:
                self.scaler.step(opt)
                self.scaler.update()
            else:
                opt.step()
            sched.step()
            self.nonfinite = 0
        else:
            self.skipped += 1
            self.nonfinite += 1
            logger.warning(
                "step %d: non-finite %s loss or gradients, skipped", self.step, step.name
            )
            if self.nonfinite > self.max_nonfinite:
                raise TrainingError(
                    f"{self.nonfinite} non-finite steps in a row at step {self.step}: lower "
                    "training.learning_rate, check the data, or use fp32"
                )
        opt.zero_grad(set_to_none=True)

    def to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        keys = self.recipe.batch_keys or tuple(batch)
        device = self.runtime.device
        return {
            k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) and k in keys else v
            for k, v in batch.items()
        }

    def _lrs(self) -> dict[str, float]:
        return {name: float(opt.param_groups[0]["lr"]) for name, opt in self.optimizers.items()}

    @overload
    def validate(self) -> dict[str, float]: ...

    @overload
    def validate(self, loader: Iterable[Any]) -> float: ...

    def validate(self, loader: Iterable[Any] | None = None) -> dict[str, float] | float:
        """Without ``loader``: the mean metrics over the validation split (every rank's shard),
        plus media on rank 0, as :meth:`fit` logs them. With ``loader`` (the design document's
        ``validate(loader)``): the mean over its batches of the metric checkpoints are ranked
        by, ``checkpoint.metric_name`` (``val_loss``)."""
        if loader is None:
            return self._validation(self.loaders.get("val"))
        means = self._validation(loader)
        name = self.config.checkpoint.metric_name
        if name not in means:
            found = ", ".join(sorted(means)) or "nothing (the loader has no batches)"
            raise TrainingError(
                f"validate: no metric {name!r} (checkpoint.metric_name); got {found}"
            )
        return means[name]

    @torch.no_grad()
    def _validation(self, loader: Iterable[Any] | None) -> dict[str, float]:
        if loader is None or len(loader) == 0:  # type: ignore[arg-type]
            return {}
        for module in self.modules.values():
            module.eval()
        sums: dict[str, float] = {}
        count = 0
        first: Mapping[str, Any] | None = None
        for batch in _dict_batches(loader):
            batch = self.to_device(batch)
            first = first or batch
            with autocast(self.runtime):
                metrics = self.recipe.validate(batch)
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + float(value)
            count += 1
        means = all_mean(sums, count, self.runtime)
        self.tracker.validation(self.step, means)
        if self.recipe.media is not None and first is not None and self.runtime.is_main:
            self.tracker.media(self.step, self.recipe.media(first))
        return means


def _dict_batches(loader: Iterable[Any]) -> Iterator[Mapping[str, Any]]:
    """The batches of ``loader``, each checked to be a mapping of named entries."""
    for batch in loader:
        if not isinstance(batch, Mapping):
            raise TrainingError(
                f"the loader gave a {type(batch).__name__} batch; the trainer takes dict batches "
                "by entry name (create_dataloaders makes them; a tuple collate is for other "
                "trainers)"
            )
        yield batch

"""Optimizers and learning-rate schedules from a recipe's :class:`OptimizerSpec`\\ s."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch

from autovoice.errors import AutovoiceError
from autovoice.training.recipe import OptimizerSpec


def lr_factor(spec: OptimizerSpec) -> Callable[[int], float]:
    """The multiplier of ``spec.lr`` after ``step`` optimizer steps."""
    if spec.schedule == "constant":
        return lambda step: 1.0
    if spec.schedule == "exponential":
        return lambda step: spec.gamma**step
    warmup = max(spec.warmup_steps, 1)

    def noam(step: int) -> float:
        s = step + 1
        return min(s / warmup, math.sqrt(warmup / s))

    return noam


def build_optimizers(
    specs: tuple[OptimizerSpec, ...], modules: Mapping[str, torch.nn.Module]
) -> tuple[dict[str, torch.optim.Optimizer], dict[str, torch.optim.lr_scheduler.LambdaLR]]:
    """An AdamW and a LambdaLR schedule per spec, over the parameters of its modules."""
    optimizers: dict[str, torch.optim.Optimizer] = {}
    schedulers: dict[str, torch.optim.lr_scheduler.LambdaLR] = {}
    for spec in specs:
        missing = [name for name in spec.modules if name not in modules]
        if missing:
            raise AutovoiceError(
                f"optimizer {spec.name!r} names modules {missing} that the recipe does not have "
                f"(it has {sorted(modules)})"
            )
        params = [p for name in spec.modules for p in modules[name].parameters() if p.requires_grad]
        opt = torch.optim.AdamW(
            params, lr=spec.lr, betas=spec.betas, eps=spec.eps, weight_decay=spec.weight_decay
        )
        optimizers[spec.name] = opt
        schedulers[spec.name] = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(spec))
    return optimizers, schedulers

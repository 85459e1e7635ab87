"""Where and how training runs: device, precision, and the distributed process group.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; with a world larger than one,
:func:`init_runtime` joins the process group (NCCL on CUDA, gloo on CPU). One config serves one
process or many.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

import attrs
import torch
import torch.distributed as torch_dist

from autovoice.config.schema import TrainingConfig
from autovoice.errors import AutovoiceError


@attrs.frozen
class Runtime:
    device: torch.device
    precision: str
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: this rank's CUDA device when there is one, else the CPU."""
    if name == "cuda" and not torch.cuda.is_available():
        raise AutovoiceError("training.device = 'cuda' but torch sees no CUDA device")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))


def init_runtime(training: TrainingConfig, environ: Mapping[str, str] | None = None) -> Runtime:
    """The runtime of this process, joining the process group when launched by torchrun."""
    environ = os.environ if environ is None else environ
    world = int(environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(environ.get("RANK", "0")), int(environ.get("LOCAL_RANK", "0"))
    device = pick_device(training.device, local_rank)
    if training.precision == "fp16" and device.type != "cuda":
        raise AutovoiceError(
            "training.precision = 'fp16' needs a CUDA device; on CPU use fp32 (fastest) or bf16"
        )
    if world > 1 and not torch_dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Runtime(device, training.precision, rank, world, local_rank)


def autocast(runtime: Runtime) -> contextlib.AbstractContextManager[object]:
    """Autocast for bf16 / fp16, nothing for fp32."""
    if runtime.precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if runtime.precision == "bf16" else torch.float16
    return torch.autocast(device_type=runtime.device.type, dtype=dtype)


def grad_scaler(runtime: Runtime) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 (bf16 and fp32 need none)."""
    if runtime.precision != "fp16":
        return None
    return torch.amp.GradScaler(runtime.device.type)


@contextlib.contextmanager
def process_group(runtime: Runtime) -> Iterator[Runtime]:
    """Tear the process group down when the run ends."""
    try:
        yield runtime
    finally:
        if runtime.distributed and torch_dist.is_initialized():
            torch_dist.destroy_process_group()


def all_mean(values: dict[str, float], count: int, runtime: Runtime) -> dict[str, float]:
    """Means over every rank of per-rank sums ``values`` over ``count`` items."""
    if not runtime.distributed:
        return {k: v / max(count, 1) for k, v in values.items()}
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys] + [float(count)], dtype=torch.float64)
    if runtime.device.type == "cuda":
        t = t.to(runtime.device)
    torch_dist.all_reduce(t)
    total = float(t[-1].item())
    return {k: float(t[i].item()) / max(total, 1.0) for i, k in enumerate(keys)}


def barrier(runtime: Runtime) -> None:
    """Wait for every rank (nothing to wait for in a single process)."""
    if runtime.distributed and torch_dist.is_initialized():
        torch_dist.barrier()

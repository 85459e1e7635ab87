"""The machine's arithmetic speed: FLOP/s of large float32 matrix products.

On the CPU the fastest of PyTorch, numpy and ONNX Runtime at the run's thread count (numpy's BLAS
follows the thread variables ``benchmarks.run`` sets); on a GPU PyTorch in FP32 (TF32 off) and
FP16. Each rate is of the fastest of a few repeats, after two warm-up products.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import partial
from typing import Any

from benchmarks._common import bench_threads, timed
from benchmarks._flops import matmul_flops

__all__ = ["machine_flops", "numpy_flops", "onnxruntime_flops", "peaks"]


def _best_rate(call: Callable[[], Any], flops: int, repeats: int) -> float:
    """FLOP/s of ``call`` at its fastest of ``repeats`` (after two warm-up calls)."""
    return flops / min(timed(call, warmup=2, repeats=repeats))


def machine_flops(device: str, dtype: str, size: int, repeats: int) -> float:
    """FLOP/s of a ``size`` × ``size`` PyTorch matrix product (the fastest of ``repeats``)."""
    import torch

    kind = getattr(torch, dtype)
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, generator=gen, device=device).to(kind)
    b = torch.randn(size, size, generator=gen, device=device).to(kind)

    def product() -> None:
        torch.mm(a, b)
        if device == "cuda":
            torch.cuda.synchronize()

    return _best_rate(product, matmul_flops(size, size, size), repeats)


def numpy_flops(size: int, repeats: int) -> float:
    """FLOP/s of a float32 numpy matrix product (its BLAS, on the threads its environment
    variables allow: ``benchmarks.run`` sets them to the run's thread count)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size)).astype(np.float32) for _ in range(2))
    return _best_rate(partial(np.matmul, a, b), matmul_flops(size, size, size), repeats)


def onnxruntime_flops(size: int, repeats: int) -> float | None:
    """FLOP/s of a float32 MatMul in ONNX Runtime on the run's threads; None without it."""
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
        return None
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [size, size]) for n in "ab"]
    output = helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])
    node = helper.make_node("MatMul", ["a", "b"], ["c"])
    model = helper.make_model(helper.make_graph([node], "mm", inputs, [output]))
    model.opset_import[0].version = 17
    options = ort.SessionOptions()
    options.intra_op_num_threads = bench_threads()
    session = ort.InferenceSession(model.SerializeToString(), options)
    rng = np.random.default_rng(0)
    feed = {n: rng.standard_normal((size, size)).astype(np.float32) for n in "ab"}
    return _best_rate(partial(session.run, None, feed), matmul_flops(size, size, size), repeats)


def peaks(quick: bool) -> dict[str, float]:
    """Measured FLOP/s: ``cpu-float32`` (the best of PyTorch, numpy and ONNX Runtime, each
    also recorded), and ``cuda-float32`` / ``cuda-float16`` on a GPU."""
    import torch

    size = 1024 if quick else 2048
    found = {
        "cpu-float32 (pytorch)": machine_flops("cpu", "float32", size, 5),
        "cpu-float32 (numpy)": numpy_flops(size, 5),
    }
    ort_rate = onnxruntime_flops(size, 5)
    if ort_rate is not None:
        found["cpu-float32 (onnxruntime)"] = ort_rate
    found["cpu-float32"] = max(found.values())
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False
        for dtype in ("float32", "float16"):
            found[f"cuda-{dtype}"] = machine_flops("cuda", dtype, 8192, 10)
    return found

"""The design document's ``autovoice.inference.tensorrt_engine``: build a TensorRT engine from
ONNX (or from a PyTorch checkpoint through ONNX) and run it with dynamic shapes.

:class:`TensorRTEngine` is a thin handle over the ``tensorrt`` backend plugin, found through
the registry: ``build_engine`` is the backend's engine builder
(:attr:`autovoice.specs.BackendSpec.engine_builder`: strongly typed, one min/opt/max profile
per table), ``infer`` and ``get_engine_info`` are those of the plugin's session, which sets
each call's shapes, picks the profile covering them and grows its device buffers when a
call needs more. Importing this module imports neither TensorRT, CUDA nor torch; a method that
needs TensorRT first asks the registry whether the backend is usable here and, when it is not,
raises :class:`~autovoice.errors.PluginUnavailableError` saying what to install. See
``docs/api.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autovoice.errors import BackendError, PluginUnavailableError
from autovoice.plugins import Registry
from autovoice.specs import BackendSpec

__all__ = ["TensorRTEngine", "require_tensorrt"]

ProfileTable = Mapping[str, Sequence[Sequence[int]]]
"""One optimization profile: per input name, its ``(min, opt, max)`` shapes."""


def require_tensorrt(what: str, registry: Registry | None = None) -> None:
    """Raise :class:`PluginUnavailableError` naming ``what`` and what to install when the
    ``tensorrt`` backend cannot run here (no TensorRT, no cuda-python, no GPU)."""
    spec = (registry if registry is not None else Registry.discover()).get("backend", "tensorrt")
    status = spec.availability()
    if not status.available:
        raise PluginUnavailableError(f"{what}: the tensorrt backend is {status}")


class TensorRTEngine:
    """One TensorRT engine file: built by :meth:`build_engine` or
    :meth:`export_from_pytorch`, or given as ``engine_path``; run by :meth:`infer` on
    ``device`` (``cuda`` or ``cuda:N``)."""

    def __init__(
        self,
        engine_path: str | os.PathLike[str] | None = None,
        *,
        device: str = "cuda",
        registry: Registry | None = None,
    ) -> None:
        self.engine_path = Path(engine_path) if engine_path is not None else None
        self.device = device
        self.registry = registry if registry is not None else Registry.discover()
        self._session: Any = None

    def build_engine(
        self,
        onnx_path: str | os.PathLike[str],
        engine_path: str | os.PathLike[str] | None = None,
        *,
        fp16: bool = False,
        profiles: Sequence[ProfileTable] | None = None,
        export: Any = None,
        hop_length: int | None = None,
        workspace: int = 2 << 30,
    ) -> Path:
        """Build an engine of ``onnx_path`` and write it to ``engine_path`` (default: beside
        it, ``.plan``). ``profiles``: one table of ``{input: (min, opt, max)}`` shapes per
        optimization profile; by default one profile from the ``export`` section's
        ``batch``/``tokens``/``frames`` ranges (``[export]``'s defaults) over the graph's
        dynamic axes. ``fp16`` builds from an FP16 copy of the graph (fragile ops kept FP32)."""
        require_tensorrt("build_engine", self.registry)
        source = Path(onnx_path)
        if not source.is_file():
            raise BackendError(f"build_engine: onnx_path {source}: no such ONNX file")
        spec = self.registry.get("backend", "tensorrt")
        if not isinstance(spec, BackendSpec):
            raise BackendError(f"backend 'tensorrt' is registered with a {type(spec).__name__}")
        data = spec.builder().build_graph(
            source, fp16=fp16, profiles=profiles, export=export, hop_length=hop_length,
            workspace=workspace,
        )  # fmt: skip
        target = Path(engine_path) if engine_path is not None else source.with_suffix(".plan")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.close()
        self.engine_path = target
        return target

    def export_from_pytorch(
        self,
        checkpoint_path: str | os.PathLike[str],
        engine_path: str | os.PathLike[str],
        config: Any = None,
        *,
        stage: str = "acoustic",
        fp16: bool = False,
    ) -> Path:
        """PyTorch → ONNX → TensorRT: the ``stage`` (``acoustic`` or ``vocoder``) checkpoint
        exported to ONNX beside ``engine_path`` (:mod:`autovoice.inference.model_exporter`,
        which needs torch), then :meth:`build_engine` with ``config.export``'s ranges."""
        require_tensorrt("export_from_pytorch", self.registry)
        from autovoice.inference import model_exporter

        exporters = {
            "acoustic": model_exporter.export_transformer_to_onnx,
            "vocoder": model_exporter.export_vocoder_to_onnx,
        }
        if stage not in exporters:
            raise BackendError(
                f"export_from_pytorch: stage must be acoustic or vocoder, got {stage!r}"
            )
        onnx_path = Path(engine_path).with_suffix(".onnx")
        exporters[stage](checkpoint_path, onnx_path, config)
        export = getattr(config, "export", None)
        hop = getattr(getattr(config, "audio", None), "hop_length", None)
        return self.build_engine(onnx_path, engine_path, fp16=fp16, export=export, hop_length=hop)

    def _opened(self) -> Any:
        if self._session is None:
            if self.engine_path is None:
                raise BackendError("no engine: give engine_path, or call build_engine first")
            require_tensorrt("TensorRTEngine", self.registry)
            backend = self.registry.get("backend", "tensorrt").create()
            self._session = backend.load(self.engine_path, self.device)
        return self._session

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the engine on ``inputs`` (numpy arrays by input name, any shapes inside one of
        its profiles); outputs by name, as numpy arrays of their true shapes."""
        outputs: dict[str, np.ndarray] = self._opened().run(inputs)
        return outputs

    def get_engine_info(self) -> dict[str, Any]:
        """The engine's inputs and outputs, profiles, precision, GPU, versions and buffers."""
        info: dict[str, Any] = self._opened().get_engine_info()
        return info

    def close(self) -> None:
        """Free the loaded engine's device memory (it loads again on the next call)."""
        if self._session is not None:
            self._session.close()
            self._session = None

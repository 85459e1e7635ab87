"""A vocoder stage wrapped in its head: the graph on a backend (or none), then the head in numpy.

The engine opens a vocoder's graph like any stage, then wraps the runner once in the head the
bundle names (:mod:`autovoice.heads`); a head with no graph (Griffin-Lim from the mel) is the
whole stage. Either way the stage keeps the contract of every vocoder stage, ``run({"mel":
(batch, n_mels, frames)}) -> {"audio": (batch, frames * hop_length)}``, and imports no torch.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import numpy as np

from autovoice.bundle import StageInfo
from autovoice.config.schema import AudioConfig
from autovoice.errors import AutovoiceError
from autovoice.heads import GRAPHLESS_INPUT, BoundHead, get_head, graphless_heads
from autovoice.inference.checks import InferenceError
from autovoice.inference.stages import StageContext, StageRunner
from autovoice.signature import AUDIO, MEL_FRAMES, vocoder_signature

__all__ = [
    "BUNDLE",
    "HeadSession",
    "check_vocoder_choice",
    "stage_head",
    "vocoder_choices",
    "with_head",
]

BUNDLE = "bundle"
"""``VoiceInferenceEngine(vocoder=...)``: the bundle's own vocoder and head."""


def vocoder_choices() -> tuple[str, ...]:
    """What ``VoiceInferenceEngine(vocoder=...)`` takes: the bundle's vocoder, or the label of
    a head with no graph (``griffin_lim``), which then voices the mel in its place."""
    return (BUNDLE, *(head.label for head in graphless_heads()))


def check_vocoder_choice(vocoder: Any) -> str:
    """``vocoder`` when it is one of :func:`vocoder_choices`, else an :class:`InferenceError`."""
    choices = vocoder_choices()
    if vocoder not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise InferenceError(f"vocoder must be one of {listed}, got {vocoder!r}")
    return str(vocoder)


def stage_head(info: StageInfo, vocoder: str = BUNDLE) -> BoundHead | None:
    """The head stage ``info`` runs (None for a stage without one): the bundle's, or for
    ``vocoder`` naming a head with no graph, that head, with the bundle's options when it is
    the bundle's own head and its defaults otherwise (another head's options mean nothing to
    it)."""
    if info.head is None:
        return None
    name, table = info.head, info.head_options
    if vocoder != BUNDLE:
        chosen = next(head for head in graphless_heads() if head.label == vocoder)
        name, table = chosen.name, (table if chosen.name == info.head else {})
    try:
        return get_head(name).bind(table, path=f"$.{info.name}.head_options")
    except AutovoiceError as exc:
        raise InferenceError(str(exc)) from None


def _pool(workers: int) -> ThreadPoolExecutor:
    """Threads shared by the head stages that work item by item: one pool per thread count in
    each process (a forked child gets pools of its own, not its parent's threadless ones)."""
    return _pool_of(os.getpid(), workers)


@functools.lru_cache(maxsize=8)
def _pool_of(pid: int, workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="autovoice-head")


class HeadSession:
    """A session as backends make them: ``run`` maps the stage's inputs through the graph (when
    there is one) and the head to ``{"audio": ...}``. Seeded heads start from the same state
    every call, so equal mels give equal audio.

    Given each item's :data:`~autovoice.signature.MEL_FRAMES` (the graph never sees them), a
    head that is ``per_item`` (Griffin-Lim; the istft head with projections) runs with its
    graph on each item's own frames, a
    batch of one as if the item were alone, never on the padding, up to ``workers`` items at a
    time, the longest first (numpy's FFTs release the GIL; the graph runner's lock keeps one
    graph call at a time, which the other items' heads overlap). Each row is silent past its
    item's frames. A batch of one item may split its Griffin-Lim frames between the
    ``workers`` threads instead (:mod:`autovoice.audio.projections`; the same audio). Other
    heads take the padded batch as one call, and ignore the frames."""

    def __init__(
        self,
        graph: StageRunner | None,
        head: BoundHead,
        audio: AudioConfig,
        where: str,
        workers: int = 1,
    ) -> None:
        self.graph = graph
        self.head = head
        self.audio = audio
        self.where = where
        self.workers = max(int(workers), 1)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feed = {name: value for name, value in inputs.items() if name != MEL_FRAMES}
        try:
            if MEL_FRAMES in inputs and self.head.per_item:
                return {AUDIO: self._item_by_item(feed, self._frames(inputs, feed))}
            return {AUDIO: self._audio(feed, self.workers)}
        except AutovoiceError as exc:
            raise InferenceError(f"{self.where}: {exc}") from None

    def _audio(self, feed: Mapping[str, np.ndarray], workers: int) -> np.ndarray:
        values = self.graph.run(feed) if self.graph is not None else feed
        return self.head.synthesise(values, self.audio, workers=workers)

    def _frames(
        self, inputs: Mapping[str, np.ndarray], feed: Mapping[str, np.ndarray]
    ) -> list[int]:
        """Each item's frames, at least 1 and at most the mel's."""
        mel = np.asarray(feed[GRAPHLESS_INPUT])
        given = np.asarray(inputs[MEL_FRAMES])
        if mel.ndim != 3 or given.shape != mel.shape[:1] or given.dtype.kind not in "iu":
            raise InferenceError(  # run() puts where in front
                f"{MEL_FRAMES!r} must be one integer per item of the mel {mel.shape}, got "
                f"{given.dtype} {given.shape}"
            )
        return [min(max(int(n), 1), mel.shape[-1]) for n in given.tolist()]

    def _item_by_item(self, feed: Mapping[str, np.ndarray], frames: list[int]) -> np.ndarray:
        mel = np.asarray(feed[GRAPHLESS_INPUT])
        out = np.zeros((mel.shape[0], mel.shape[-1] * self.audio.hop_length), np.float32)

        order = sorted(range(len(frames)), key=lambda item: -frames[item])
        inner = self.workers if len(order) == 1 else 1  # several items: one thread each

        def fill(item: int) -> None:
            n = frames[item]
            wave = self._audio({GRAPHLESS_INPUT: mel[item : item + 1, :, :n]}, inner)
            out[item, : n * self.audio.hop_length] = wave[0]

        if self.workers > 1 and len(order) > 1:
            list(_pool(self.workers).map(fill, order))
        else:
            for item in order:
                fill(item)
        return out


def with_head(
    graph: StageRunner | None, head: BoundHead, context: StageContext, *, workers: int = 1
) -> StageRunner:
    """The stage of ``context`` as ``graph`` (loaded on a backend; None for a head with no
    graph) followed by ``head``, which may use ``workers`` threads. Its backend reads
    ``<backend>+<label>`` (the graph's backend alone for a head without a label, the label
    alone without a graph)."""
    audio = context.audio
    context = attrs.evolve(context, signature=vocoder_signature(audio.n_mels))
    label = head.head.label
    if graph is None:
        plugin = head.head.plugin or context.plugin
        context = attrs.evolve(context, plugin=plugin, options=head.table)
        backend, artifact, device = label, "numpy", "cpu"
        skipped: tuple[str, ...] = ()
    else:
        backend = f"{graph.backend}+{label}" if label else graph.backend
        artifact, device, skipped = graph.artifact, graph.device, graph.skipped
    session = HeadSession(graph, head, audio, f"{context.name} stage ({backend})", workers)
    return StageRunner(
        context,
        session,
        backend=backend,
        artifact=artifact,
        device=device,
        skipped=skipped,
        check_inputs=False,
    )

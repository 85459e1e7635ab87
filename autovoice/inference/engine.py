"""The synthesis pipeline: text → tokens → acoustic stage → mel → vocoder stage → waveform;
for a voice conversion voice: recording → mel → converter stage → mel → vocoder → waveform.

:class:`VoiceInferenceEngine` opens a voice bundle, loads each stage on a backend (the same one
or not: "hybrid"), and synthesizes one text, a long text in sentence batches, or a batch of
texts, or converts a recording to one of the voice's speakers (:meth:`convert_voice`). It never
imports torch itself; only the ``pytorch`` backend does, when chosen.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from autovoice.bundle import DEFAULT_VOICE_NAME, VoiceBundle, default_voice_path
from autovoice.config.schema import Config, InferenceConfig
from autovoice.config.structure import structure
from autovoice.inference import checks, convert
from autovoice.inference.batching import (
    PADDING_SLACK,
    TAIL_FRAMES,
    cut_waves,
    groups_by_length,
    groups_by_padding,
    stack_mels,
)
from autovoice.inference.checks import InferenceError, SpeechControls
from autovoice.inference.head_stage import check_vocoder_choice, stage_head, with_head
from autovoice.inference.sentences import join_with_pauses, split_sentences
from autovoice.inference.stages import (
    DEFAULT_PREFER,
    StageContext,
    StageRunner,
    backend_order,
    open_stage,
    usable_device,
)
from autovoice.inference.timing import (
    PhonemeTiming,
    SpeechChunk,
    TimedSpeech,
    WordTiming,
    token_timings,
)
from autovoice.plugins import Registry
from autovoice.signature import DURATIONS, MEL_FRAMES
from autovoice.specs import BackendSpec
from autovoice.text import TextFrontEnd, Tokens
from autovoice.text.frontend import TokenBatch
from autovoice.text.inline import Lexicon, parse_lexicon, segments

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "CONTROL_DEFAULTS",
    "MAX_CHARS",
    "SENTENCE_CHARS",
    "SENTENCE_PAUSE",
    "SynthesisTiming",
    "VoiceInferenceEngine",
    "open_voice",
]

logger = logging.getLogger(__name__)

Wave = npt.NDArray[np.float32]
LexiconSource = str | os.PathLike[str] | Mapping[str, str] | None
SENTENCE_CHARS = 300
"""Sentences longer than this many characters are cut at clause marks or spaces."""
MAX_CHARS = 2000
"""Default ``max_chars``: the longest text one call takes (each text of a batch)."""
SENTENCE_PAUSE = 0.2
"""Default ``sentence_pause``: seconds of silence between the sentences of one text."""
THREAD_FIELDS = ("threads", "intra_op_threads")
THREAD_OPTIONS = (*THREAD_FIELDS, "inter_op_threads")
"""Option fields of a backend that are thread counts: each held to the machine's CPUs."""
CONTROL_DEFAULTS = {"pitch_shift": 0.0, "energy_scale": 1.0}
"""The value of each pitch and energy control that leaves the voice as it was trained."""
"""Option fields of a backend that take the engine's ``threads`` when left at 0."""


@attrs.frozen(kw_only=True)
class _Request:
    """The checked arguments of one synthesis call."""

    speaker: int
    pace: float
    controls: Mapping[str, float]
    """The pitch and energy controls the acoustic graph takes, by input name."""
    timed: bool


@attrs.frozen(kw_only=True)
class _Result:
    """One batch through both stages."""

    waves: list[Wave]
    seconds: tuple[float, float]
    tokens: list[Tokens]
    durations: list[npt.NDArray[np.int64]] | None


@attrs.frozen(kw_only=True)
class SynthesisTiming:
    """Wall-clock seconds of one synthesis call, of each stage in it, and the audio it made."""

    seconds: float
    audio_seconds: float
    acoustic_seconds: float
    vocoder_seconds: float

    @property
    def rtf(self) -> float:
        """Real-time factor: compute seconds per second of audio (below 1 is faster)."""
        return self.seconds / self.audio_seconds if self.audio_seconds > 0 else math.inf


def open_voice(voice: str | os.PathLike[str] | VoiceBundle | None) -> VoiceBundle:
    """The bundle ``voice`` names; None, ``""`` or ``"default"`` (when no such path exists) is
    the default voice, when one is installed."""
    if isinstance(voice, VoiceBundle):
        return voice
    if (
        voice is None
        or str(voice) == ""
        or (str(voice) == DEFAULT_VOICE_NAME and not os.path.exists(voice))
    ):
        default = default_voice_path()
        if default is None:
            raise InferenceError(
                "no voice given and no default voice is installed; pass a voice bundle "
                "(autovoice export makes one from checkpoints)"
            )
        voice = default
    return VoiceBundle.open(voice)


def _check_thread_options(options: Mapping[str, Any]) -> None:
    """Every thread count of every backend's options (a table or an options instance) held
    to the machine's CPUs, before any stage is opened (so that no backend is passed over for
    another because of its own options)."""
    for name, given in options.items():
        for field in THREAD_OPTIONS:
            value = given.get(field) if isinstance(given, Mapping) else getattr(given, field, None)
            if value is not None:
                checks.threads(value, f"backend_options[{name!r}].{field}")


def _front_end(bundle: VoiceBundle, lexicon: LexiconSource) -> TextFrontEnd:
    """The text front end the voice was trained with, encoding with the voice's own table,
    with the words of ``lexicon`` (a ``word<TAB>phonemes`` file, or a mapping of words to
    phonemes) spoken as it says."""
    table = bundle.symbols
    if lexicon is None:
        words = Lexicon()
    elif isinstance(lexicon, Mapping):
        content = "\n".join(f"{word}\t{phonemes}" for word, phonemes in lexicon.items())
        words = parse_lexicon(content, table, "lexicon")
    else:
        try:
            content = Path(lexicon).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InferenceError(f"{lexicon}: cannot read the lexicon: {exc}") from exc
        words = parse_lexicon(content, table, str(lexicon))
    return TextFrontEnd(
        language=bundle.text.language,
        symbols=bundle.text.symbols,
        normalize=bundle.text.normalize,
        lowercase=bundle.text.lowercase,
        table=table,
        lexicon=words,
    )


def _config_settings(config: InferenceConfig) -> tuple[str | None, dict[str, Any]]:
    """The voice and the engine's keyword arguments an ``[inference]`` section gives."""
    checks.threads(config.threads, "$.inference.threads")
    named = [config.backend, config.acoustic_backend, config.vocoder_backend]
    owners = [backend_order(name)[0] for name in named if name and name != "auto"]
    settings: dict[str, Any] = {
        "backend": config.backend,
        "acoustic_backend": config.acoustic_backend or None,
        "vocoder_backend": config.vocoder_backend or None,
        "prefer": None if tuple(config.prefer) == DEFAULT_PREFER else tuple(config.prefer),
        "device": config.device,
        "threads": config.threads,
        "backend_options": {owners[0]: config.options} if owners and config.options else {},
    }
    return config.voice or None, settings


class VoiceInferenceEngine:
    """Speech from text, or converted recordings, with one voice bundle.

    ``backend`` serves every stage unless ``acoustic_backend`` / ``converter_backend`` /
    ``vocoder_backend`` name their own: a backend name, an ordered fallback list (a sequence
    or ``"a,b"``), or ``"auto"``; see :mod:`autovoice.inference.stages` for how each is chosen
    and when a fallback warns. The vocoder stage's graph is followed by the head the bundle
    names (:mod:`autovoice.heads`); ``vocoder="griffin_lim"`` voices any bundle with the head
    that is Griffin-Lim from the mel (numpy, CPU) in place of its vocoder.
    ``backend_options`` maps backend names to their options (an instance of the backend's
    options class, or a table structured against it). ``threads`` (0: the backend decides)
    fills a backend option named ``threads`` or ``intra_op_threads`` left at 0. ``max_chars``
    is the longest text a call takes; ``sentence_pause`` the seconds of silence put between the
    sentences of a text. ``lexicon`` (a ``word<TAB>phonemes`` file or a mapping) gives words
    their phonemes, in the notation of ``[[ ... ]]`` blocks in the text
    (:mod:`autovoice.text.inline`). ``device="cuda"`` on a machine without a GPU warns once
    (a ``DeviceFallbackWarning``) and runs every stage on the CPU.

    Calls are thread-safe: each stage runs under its own lock and the text front end is
    stateless. :attr:`last_timing` is the timing of the most recent call of any thread.
    """

    def __init__(
        self,
        voice: str | os.PathLike[str] | VoiceBundle | Config | InferenceConfig | None,
        *,
        backend: str | Sequence[str] = "auto",
        acoustic_backend: str | Sequence[str] | None = None,
        vocoder_backend: str | Sequence[str] | None = None,
        converter_backend: str | Sequence[str] | None = None,
        prefer: Sequence[str] | None = None,
        device: str = "auto",
        threads: int = 0,
        max_chars: int = MAX_CHARS,
        sentence_pause: float = SENTENCE_PAUSE,
        backend_options: Mapping[str, Any] | None = None,
        registry: Registry | None = None,
        vocoder: str = "bundle",
        lexicon: LexiconSource = None,
    ) -> None:
        if isinstance(voice, (Config, InferenceConfig)):
            # the design document's VoiceInferenceEngine(config): its [inference] section
            section = voice.inference if isinstance(voice, Config) else voice
            path, settings = _config_settings(section)
            self.__init__(path, registry=registry, lexicon=lexicon, **settings)  # type: ignore[misc]
            return
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
            raise InferenceError(f"max_chars must be an integer >= 1, got {max_chars!r}")
        checks.threads(threads, "threads")
        self.vocoder = check_vocoder_choice(vocoder)
        self.bundle = open_voice(voice)
        self.registry = registry if registry is not None else Registry.discover()
        self.bundle.check_options(self.registry)
        self.max_chars = max_chars
        self.threads = threads
        self.pause_samples = round(max(sentence_pause, 0.0) * self.sample_rate)
        self._options = dict(backend_options or {})
        _check_thread_options(self._options)
        self.front_end = _front_end(self.bundle, lexicon)
        chosen = {
            "acoustic": acoustic_backend,
            "converter": converter_backend,
            "vocoder": vocoder_backend,
        }
        where = self.device = usable_device(device)
        self._headed: set[str] = set()  # stages wrapped in a head, which take MEL_FRAMES
        self.stages: dict[str, StageRunner] = {
            name: self._open(name, chosen[name] or backend, prefer, where)
            for name in chosen
            if name in self.bundle.stages
        }
        self.last_timing: SynthesisTiming | None = None

    @classmethod
    def from_config(
        cls, config: InferenceConfig, *, registry: Registry | None = None, **overrides: Any
    ) -> VoiceInferenceEngine:
        """The engine the ``[inference]`` section describes (keyword ``overrides`` win). Its
        ``options`` table belongs to the first backend named by ``backend``,
        ``acoustic_backend`` or ``vocoder_backend``; ``prefer`` at its default leaves ``auto``
        to the registry's policy."""
        voice, settings = _config_settings(config)
        return cls(voice, registry=registry, **{**settings, **overrides})

    @property
    def sample_rate(self) -> int:
        return self.bundle.audio.sample_rate

    @property
    def hop_length(self) -> int:
        return self.bundle.audio.hop_length

    @property
    def speakers(self) -> tuple[str, ...]:
        return self.bundle.speakers

    @property
    def backends(self) -> dict[str, str]:
        """Which backend serves each stage of the voice: ``{"acoustic": ..., "vocoder": ...}``."""
        return {name: runner.backend for name, runner in self.stages.items()}

    @property
    def last_rtf(self) -> float | None:
        """Real-time factor of the most recent call, None before the first."""
        return self.last_timing.rtf if self.last_timing is not None else None

    @property
    def sentence_chars(self) -> int:
        """Longest piece of text synthesized in one go: :data:`SENTENCE_CHARS`, or the voice's
        ``max_tokens`` limit when lower."""
        limit = int(self.bundle.limits.get("max_tokens", 0))
        return min(SENTENCE_CHARS, limit) if limit > 0 else SENTENCE_CHARS

    @property
    def silence(self) -> float:
        """The log-mel value of silence, which padded frames hold."""
        return math.log(self.bundle.audio.log_clamp)

    def describe(self) -> dict[str, Any]:
        """The voice, and per stage its backend, artifact, device and the backends skipped."""
        stages = {
            name: {
                "backend": r.backend,
                "artifact": r.artifact,
                "device": r.device,
                "skipped": list(r.skipped),
            }
            for name, r in self.stages.items()
        }
        return {"voice": str(self.bundle.root), "sample_rate": self.sample_rate, "stages": stages}

    # -- loading ---------------------------------------------------------------------------

    def load_pytorch_models(self) -> dict[str, str]:
        """Open every stage of the voice again on the ``pytorch`` backend (the bundle's
        weights in the stage plugin's torch module, on this engine's device), in place of
        the backends chosen before; returns :attr:`backends`. Only this imports torch, through
        the backend plugin; without torch it raises an error saying what to install."""
        self.stages = {name: self._open(name, "pytorch", None, self.device) for name in self.stages}
        return self.backends

    def _open(
        self, name: str, backend: str | Sequence[str], prefer: Sequence[str] | None, device: str
    ) -> StageRunner:
        """The stage on its backend, wrapped once in its head (the vocoder's); a head with no
        graph is the whole stage, and no backend is opened for it."""
        info = self.bundle.stage(name)
        context = StageContext(
            name=name,
            plugin=info.plugin,
            options=info.options,
            signature=info.signature,
            audio=self.bundle.audio,
            n_symbols=len(self.bundle.symbols),
            n_speakers=max(len(self.bundle.speakers), 1),
            engines=tuple(e for e in self.bundle.engines if e.stage == name),
            registry=self.registry,
        )
        head = stage_head(info, self.vocoder)
        workers = self.threads or checks.usable_cpus()
        if head is not None:
            self._headed.add(name)
        if head is not None and not head.head.graph:
            return with_head(None, head, context, workers=workers)
        artifacts = info.artifacts()
        if context.engines and context.engines[0].file.is_file():
            artifacts["engine"] = context.engines[0].file
        runner = open_stage(
            context,
            artifacts,
            registry=self.registry,
            backend=backend,
            prefer=prefer,
            device=device,
            options_for=self._backend_options,
        )
        return runner if head is None else with_head(runner, head, context, workers=workers)

    def _backend_options(self, spec: BackendSpec) -> Any:
        if spec.options_type is None:
            return None
        given = self._options.get(spec.name)
        options: Any
        if isinstance(given, spec.options_type):
            options = given
        else:
            where = f"$.inference.options ({spec.name})"
            options = structure(dict(given or {}), spec.options_type, path=where)
        for field in THREAD_FIELDS:
            if self.threads and getattr(options, field, None) == 0:
                options = attrs.evolve(options, **{field: self.threads})
        return options

    # -- synthesis -------------------------------------------------------------------------

    def synthesize_speech(
        self,
        text: str,
        speaker_id: int = 0,
        batch_size: int = 1,
        pace: float = 1.0,
        **controls: Unpack[SpeechControls],
    ) -> Wave:
        """``text`` as one waveform (float32, at :attr:`sample_rate`): split into sentences,
        synthesized ``batch_size`` at a time (sentences of similar length together) and joined
        with short pauses. ``pace`` above 1 speaks faster (durations divided by it);
        ``pitch_shift`` raises the predicted pitch by that many semitones (negative: lower);
        ``energy_scale`` multiplies the predicted loudness (mean mel magnitude). The ranges are
        :data:`autovoice.inference.checks.CONTROL_RANGES`; a voice exported before pitch and
        energy controls takes only their defaults."""
        return self.synthesize_many([text], speaker_id, batch_size, pace, **controls)[0]

    def synthesize_many(
        self,
        texts: Sequence[str],
        speaker_id: int = 0,
        batch_size: int = 1,
        pace: float = 1.0,
        **controls: Unpack[SpeechControls],
    ) -> list[Wave]:
        """One waveform per text, each as :meth:`synthesize_speech` makes it; the sentences of
        all the texts are batched together, ``batch_size`` at a time."""
        checked = self._texts(texts)
        request = self._request(speaker_id, pace, controls)
        size = checks.batch_size(batch_size)
        started = time.perf_counter()
        pieces = [self.sentences(text) for text in checked]
        flat = [sentence for sentences in pieces for sentence in sentences]
        waves: list[Wave] = [np.zeros(0, np.float32)] * len(flat)
        stage_seconds = np.zeros(2)
        for group in groups_by_length(flat, size):
            result = self._run([flat[i] for i in group], request)
            stage_seconds += result.seconds
            for i, wave in zip(group, result.waves, strict=True):
                waves[i] = wave
        ends = np.cumsum([len(sentences) for sentences in pieces]).tolist()
        joined = [
            join_with_pauses(waves[start:end], self.pause_samples)
            for start, end in zip([0, *ends[:-1]], ends, strict=True)
        ]
        self._record(started, sum(len(w) for w in joined), stage_seconds)
        return joined

    def synthesize_batch(
        self,
        texts: Sequence[str],
        speaker_id: int = 0,
        pace: float = 1.0,
        **controls: Unpack[SpeechControls],
    ) -> list[Wave]:
        """One waveform per text (float32, at :attr:`sample_rate`), the texts synthesized as one
        batch (on a CPU, the acoustic stage in groups of similar length, :meth:`_run`), each cut
        to its own length. No sentence splitting."""
        checked = self._texts(texts)
        request = self._request(speaker_id, pace, controls)
        started = time.perf_counter()
        result = self._run(checked, request)
        self._record(started, sum(len(w) for w in result.waves), np.asarray(result.seconds))
        return result.waves

    def synthesize_stream(
        self,
        text: str,
        speaker_id: int = 0,
        pace: float = 1.0,
        *,
        timestamps: bool = False,
        **controls: Unpack[SpeechControls],
    ) -> Iterator[SpeechChunk]:
        """``text`` sentence by sentence, as :meth:`synthesize_speech` splits it: each
        :class:`SpeechChunk` is made when the previous one has been taken, so the first can be
        played while the rest are still to be made. The chunks' audio one after another is
        exactly ``synthesize_speech(text, speaker_id, 1, pace, ...)``. With ``timestamps``
        each chunk carries its words and phonemes (as :meth:`synthesize_timed` times them).
        Arguments are checked at the call, before the first chunk is made."""
        (checked,) = self._texts([text])
        request = self._request(speaker_id, pace, controls, timestamps)
        return self._stream(self.sentences(checked), request)

    def synthesize_timed(
        self,
        text: str,
        speaker_id: int = 0,
        pace: float = 1.0,
        **controls: Unpack[SpeechControls],
    ) -> TimedSpeech:
        """``text`` as :meth:`synthesize_speech` makes it (one sentence at a time), with the
        start and end of each word and phoneme in seconds into the audio, from the durations
        the acoustic model predicted (see :mod:`autovoice.inference.timing`). A voice exported
        before the acoustic graph gave durations raises an :class:`InferenceError`."""
        chunks = list(self.synthesize_stream(text, speaker_id, pace, timestamps=True, **controls))
        return TimedSpeech(
            audio=np.concatenate([chunk.audio for chunk in chunks]),
            sample_rate=self.sample_rate,
            words=tuple(word for chunk in chunks for word in chunk.words),
            phonemes=tuple(phoneme for chunk in chunks for phoneme in chunk.phonemes),
        )

    def _texts(self, texts: object) -> list[str]:
        """``texts`` checked, their phoneme blocks too (an unknown symbol is an error naming
        its place in the text as given, before anything is synthesized)."""
        checked = checks.texts(texts, self.max_chars)
        for text in checked:
            segments(text, self.front_end.table, self.front_end.lexicon)
        return checked

    def preprocess_text(
        self, texts: str | Sequence[str], batch_size: int | None = None
    ) -> TokenBatch | list[TokenBatch]:
        """What the acoustic stage is fed for ``texts`` (one text or a list): normalized,
        tokenized with the voice's symbol table and padded, as a batch of ``tokens`` ``(B, T)``
        int64 (pad id 0), ``token_lengths`` ``(B,)`` and ``token_mask`` ``(B, T)`` (the
        attention mask: True on real tokens). With ``batch_size``, a list of such batches of
        at most that many texts, in order. Each text is taken whole (synthesis would first split
        it into sentences, :meth:`sentences`)."""
        checked = self._texts([texts] if isinstance(texts, str) else texts)
        processed = [self.front_end.process(text) for text in checked]
        if batch_size is None:
            return self.front_end.collate(processed)
        size = checks.batch_size(batch_size)
        return [
            self.front_end.collate(processed[i : i + size]) for i in range(0, len(processed), size)
        ]

    def sentences(self, text: str) -> list[str]:
        """The pieces synthesis splits ``text`` into, one at a time or batched."""
        return split_sentences(text, max_chars=self.sentence_chars)

    def _stream(self, sentences: Sequence[str], request: _Request) -> Iterator[SpeechChunk]:
        started = time.perf_counter()
        gap = np.zeros(self.pause_samples, np.float32)
        stage_seconds, at, spoken = np.zeros(2), 0, 0
        for index, sentence in enumerate(sentences):
            begun = time.perf_counter()
            result = self._run([sentence], request)
            stage_seconds += result.seconds
            lead = gap if index else gap[:0]
            speech_at = (at + len(lead)) / self.sample_rate
            words, phonemes = (
                self._timings(result, speech_at, spoken) if request.timed else ([], [])
            )
            spoken += len(words)
            audio = np.concatenate([lead, result.waves[0]])
            yield SpeechChunk(
                audio=audio, text=sentence, index=index, start=at / self.sample_rate,
                seconds=time.perf_counter() - begun, words=tuple(words), phonemes=tuple(phonemes),
            )  # fmt: skip
            at += len(audio)
        self._record(started, at, stage_seconds)

    def _timings(
        self, result: _Result, offset: float, first_word: int
    ) -> tuple[list[WordTiming], list[PhonemeTiming]]:
        """The words and phonemes of the one sentence of ``result``, its audio ``offset``
        seconds into the whole, its first word ``first_word`` of the whole."""
        durations = result.durations
        if durations is None:  # _request refused timestamps already; a guard for the type
            raise InferenceError("timestamps: the acoustic stage gave no durations")
        return token_timings(
            result.tokens[0], durations[0], table=self.bundle.symbols,
            frame_seconds=self.hop_length / self.sample_rate, offset=offset,
            first_word=first_word,
        )  # fmt: skip

    def _request(
        self,
        speaker_id: object,
        pace: object,
        given: Mapping[str, object],
        timestamps: bool = False,
    ) -> _Request:
        """The checked arguments of a synthesis call; a control or timestamps that this voice's
        acoustic graph cannot give raise an error naming the argument."""
        signature = self._stage("acoustic", "speak text").context.signature
        controls = checks.controls(given, CONTROL_DEFAULTS)
        for name, value in controls.items():
            if name not in signature.input_names and value != CONTROL_DEFAULTS[name]:
                raise InferenceError(
                    f"{name}: this voice ({self.bundle.root}) was exported before speech "
                    f"controls: its acoustic graph takes no {name}; re-export it with "
                    "autovoice export to use it"
                )
        if timestamps and DURATIONS not in signature.output_names:
            raise InferenceError(
                f"timestamps: this voice ({self.bundle.root}) was exported before timestamps: "
                f"its acoustic graph gives no {DURATIONS}; re-export it with autovoice export"
            )
        return _Request(
            speaker=checks.speaker(speaker_id, self.speakers),
            pace=checks.pace(pace),
            controls={k: v for k, v in controls.items() if k in signature.input_names},
            timed=bool(timestamps),
        )

    def _run(self, texts: Sequence[str], request: _Request) -> _Result:
        """``texts`` as one batch: their waveforms, the seconds each stage took, their tokens
        and (when the graph gives them) the frames of each token. On a CPU the acoustic stage
        runs the batch in groups of similar length (:func:`groups_by_padding`), the vocoder
        the whole batch."""
        processed = [self.front_end.process(text, words=request.timed) for text in texts]
        notes = tuple(dict.fromkeys(note for item in processed for note in item.notes))
        if notes:  # what normalization dropped, such as emoji: once per batch
            logger.info("text normalization: %s", "; ".join(notes))
        limit = int(self.bundle.limits.get("max_tokens", 0))
        longest = max(len(item.ids) for item in processed)
        if 0 < limit < longest:
            raise InferenceError(
                f"a text has {longest} symbols, more than this voice takes at once ({limit}); "
                "synthesize_speech splits long text into sentences"
            )
        size = len(texts)
        started = time.perf_counter()
        mels: list[npt.NDArray[np.float32]] = [np.zeros(0, np.float32)] * size
        given: dict[int, npt.NDArray[np.int64]] = {}
        slack = PADDING_SLACK if self.stages["acoustic"].device == "cpu" else None
        for group in groups_by_padding([len(item.ids) for item in processed], slack):
            acoustic = self._acoustic([processed[i] for i in group], request)
            lengths = np.asarray(acoustic["mel_lengths"], np.int64).reshape(len(group))
            frames = np.asarray(acoustic[DURATIONS], np.int64) if DURATIONS in acoustic else None
            for row, (i, length) in enumerate(zip(group, lengths.tolist(), strict=True)):
                mels[i] = np.asarray(acoustic["mel"][row, :, :length], np.float32)
                if frames is not None:
                    given[i] = frames[row, : len(processed[i].ids)]
        middle = time.perf_counter()
        lengths = np.array([mel.shape[-1] for mel in mels], np.int64)
        mel = stack_mels(mels, pad_value=self.silence, tail=TAIL_FRAMES)
        feed: dict[str, npt.NDArray[Any]] = {"mel": mel}
        if "vocoder" in self._headed:  # each item's frames, as if alone
            feed[MEL_FRAMES] = lengths + TAIL_FRAMES
        audio = self.stages["vocoder"].run(feed)["audio"]
        ended = time.perf_counter()
        durations = [given[i] for i in range(size)] if len(given) == size else None
        return _Result(
            waves=cut_waves(audio, lengths * self.hop_length),
            seconds=(middle - started, ended - middle),
            tokens=processed,
            durations=durations,
        )

    def _acoustic(self, processed: Sequence[Tokens], request: _Request) -> dict[str, Any]:
        """The acoustic stage's outputs for ``processed`` as one padded batch."""
        batch = self.front_end.collate(processed)
        size = len(processed)
        feed: dict[str, npt.NDArray[Any]] = {
            "tokens": batch["tokens"],
            "token_lengths": batch["token_lengths"],
            "speakers": np.full(size, request.speaker, np.int64),
            "pace": np.full(size, request.pace, np.float32),
            **{name: np.full(size, value, np.float32) for name, value in request.controls.items()},
        }
        return dict(self.stages["acoustic"].run(feed))

    # -- conversion ------------------------------------------------------------------------

    def convert_voice(
        self, audio: Any, sample_rate: int, target_speaker: int = 0, *, where: str = "audio"
    ) -> Wave:
        """``audio`` (samples at ``sample_rate`` Hz, any rate: it is resampled) spoken again by
        speaker ``target_speaker`` of a voice conversion voice: float32 at :attr:`sample_rate`.

        The recording is prepared as the voice's training audio was (mono, trimmed and
        normalized as its audio settings say); silent, clipped, too short or too long audio (over
        the voice's ``max_frames``) raises an :class:`InferenceError` naming ``where`` (the
        argument, or the file the audio came from)."""
        converter = self._stage("converter", "convert recordings")
        speaker = checks.speaker(target_speaker, self.speakers, "target_speaker")
        started = time.perf_counter()
        limit = int(self.bundle.limits.get("max_frames", 0))
        mel = convert.source_mel(
            audio, sample_rate, self.bundle.audio, max_frames=limit, where=where
        )
        wave, seconds = convert.convert_mel(
            converter, self.stages["vocoder"], mel, speaker,
            silence=self.silence, hop_length=self.hop_length,
        )  # fmt: skip
        self._record(started, len(wave), np.asarray(seconds))
        return wave

    def _stage(self, name: str, task: str) -> StageRunner:
        """The runner of stage ``name``, or an error saying this voice cannot ``task``."""
        if name not in self.stages:
            other = "convert_voice" if name == "acoustic" else "synthesize_speech"
            raise InferenceError(
                f"{self.bundle.root}: this voice cannot {task}: it has no {name} stage "
                f"(stages: {', '.join(self.bundle.stages)}); use {other}"
            )
        return self.stages[name]

    def _record(self, started: float, samples: int, stage_seconds: npt.NDArray[Any]) -> None:
        self.last_timing = SynthesisTiming(
            seconds=time.perf_counter() - started,
            audio_seconds=samples / self.sample_rate,
            acoustic_seconds=float(stage_seconds[0]),  # the converter's, when converting
            vocoder_seconds=float(stage_seconds[1]),
        )

"""What synthesis returns besides audio: chunks of a stream, and word and phoneme timestamps
(pure numpy).

The acoustic model gives each token a whole number of mel frames (``durations``, after pace):
token ``i`` of a sentence covers frames ``sum(durations[:i])`` to ``sum(durations[:i+1])``,
and frame ``f`` begins at sample ``f * hop_length`` of the sentence's audio. A sentence's
times are then shifted by where its audio begins in the joined output (the sentences before it
and the pauses between them), so every time is in seconds into the audio a call returns.
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt

from autovoice.text import SymbolTable, Tokens

__all__ = ["PhonemeTiming", "SpeechChunk", "TimedSpeech", "WordTiming", "token_timings"]

Wave = npt.NDArray[np.float32]
_WAVE_EQ = attrs.cmp_using(eq=np.array_equal)


@attrs.frozen(kw_only=True)
class WordTiming:
    """One spoken word and when it is heard: ``start`` to ``end``, seconds into the audio.

    ``text`` is the word's normalized spoken form, in the text's case (``"Dr."`` is
    ``"Doctor"``, ``"$5"`` is ``"five dollars"`` as two words), as the voice reads it, without
    the punctuation around it; a word of the user's lexicon or an inline ``[[ ... ]]`` block is
    one word."""

    text: str
    start: float
    end: float


@attrs.frozen(kw_only=True)
class PhonemeTiming:
    """One symbol the acoustic model read (a phoneme, a letter or a punctuation mark), when it
    is heard, and the index into the words of the word it belongs to (-1: between words)."""

    symbol: str
    start: float
    end: float
    word: int


@attrs.frozen(kw_only=True)
class SpeechChunk:
    """One sentence of a stream (:meth:`VoiceInferenceEngine.synthesize_stream`).

    ``audio`` (float32) is what to play next: for every chunk but the first it begins with the
    pause between sentences, so that the chunks' audio one after another is the whole text's.
    ``start`` is where ``audio`` begins in that whole, in seconds; ``seconds`` the wall-clock
    time the chunk took to make. ``words`` and ``phonemes`` hold timestamps in seconds into
    the whole audio when they were asked for, else they are empty."""

    audio: Wave = attrs.field(eq=_WAVE_EQ)
    text: str
    index: int
    start: float
    seconds: float
    words: tuple[WordTiming, ...] = ()
    phonemes: tuple[PhonemeTiming, ...] = ()


@attrs.frozen(kw_only=True)
class TimedSpeech:
    """A text's audio (float32) with the timestamps of its words and phonemes, in seconds
    into ``audio`` (:meth:`VoiceInferenceEngine.synthesize_timed`)."""

    audio: Wave = attrs.field(eq=_WAVE_EQ)
    sample_rate: int
    words: tuple[WordTiming, ...]
    phonemes: tuple[PhonemeTiming, ...]

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description: the audio's length, the words and the phonemes."""
        return {
            "sample_rate": self.sample_rate,
            "seconds": len(self.audio) / self.sample_rate,
            "words": [attrs.asdict(word) for word in self.words],
            "phonemes": [attrs.asdict(phoneme) for phoneme in self.phonemes],
        }


def token_timings(
    tokens: Tokens,
    durations: npt.NDArray[np.integer],
    *,
    table: SymbolTable,
    frame_seconds: float,
    offset: float,
    first_word: int = 0,
) -> tuple[list[WordTiming], list[PhonemeTiming]]:
    """The words and symbols of one sentence with their times: ``durations`` are frames per
    token (ids of ``table``), a frame lasts ``frame_seconds`` and the sentence's audio begins
    ``offset`` seconds into the whole; its first word is word ``first_word`` of the whole.
    Symbols that are spaces are left out of the phonemes."""
    frames = np.asarray(durations, np.int64).reshape(-1)
    if frames.size != tokens.ids.size:
        raise ValueError(f"{frames.size} durations for {tokens.ids.size} tokens")
    edges = np.concatenate([[0], np.cumsum(frames)]) * frame_seconds + offset
    owner = np.full(tokens.ids.size, -1)
    words = []
    for index, span in enumerate(tokens.words):
        owner[span.start : span.end] = index
        words.append(
            WordTiming(text=span.text, start=float(edges[span.start]), end=float(edges[span.end]))
        )
    phonemes = [
        PhonemeTiming(
            symbol=symbol,
            start=float(edges[i]),
            end=float(edges[i + 1]),
            word=int(owner[i]) + first_word if owner[i] >= 0 else -1,
        )
        for i, symbol in enumerate(table.symbols[int(id_)] for id_ in tokens.ids)
        if not symbol.isspace()
    ]
    return words, phonemes

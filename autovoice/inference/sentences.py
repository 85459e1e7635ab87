"""Long text to sentence-sized pieces, and synthesized pieces back to one waveform (pure).

A piece never exceeds ``max_chars`` characters: a sentence longer than that is cut at its last
clause mark (``, ; : —``) that fits, else at its last space that fits, else hard. Sentence ends
are ``. ! ? …`` (with closing quotes or brackets) followed by white space, and blank lines.
Punctuation followed by a lower-case word does not end a sentence, nor does a period after a
single capital (``J. Smith``) or after an abbreviation whose period normalization reads with it
(``Dr. Smith``, ``p. 7``, ``Jan. 5``; see :func:`autovoice.text.abbreviation_ends_sentence`),
so that each sentence normalizes as it would within the whole text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from autovoice.text import abbreviation_ends_sentence

__all__ = ["join_with_pauses", "split_long", "split_sentences"]

# a sentence end: terminal punctuation, optional closing quotes/brackets, then white space
_END = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s)""")
_BLANK_LINE = re.compile(r"\n\s*\n")
_CLAUSE = re.compile(r"[,;:—–]\s")
_INITIAL = re.compile(r"(?<![^\s\"'“‘(\[])(?P<letter>\w)\.\Z")  # "J." in "J. Doe"


def _ends_sentence(text: str, end: int) -> bool:
    """Whether the punctuation ending at ``end`` ends a sentence: not when a lower-case word
    follows, nor when the period closes an initial (``J.``) or an abbreviation that
    normalization reads with its period."""
    if text[end:].lstrip()[:1].islower():
        return False
    if text[end - 1] != ".":
        return True
    initial = _INITIAL.search(text, max(0, end - 2), end)
    if initial and initial["letter"].isupper():
        return False
    return abbreviation_ends_sentence(text, end) is not False


def _sentences(paragraph: str) -> list[str]:
    paragraph = " ".join(paragraph.split()) + " "  # single spaces, as normalization sees them
    pieces, start = [], 0
    for match in _END.finditer(paragraph):
        if _ends_sentence(paragraph, match.end()):
            pieces.append(paragraph[start : match.end()])
            start = match.end()
    pieces.append(paragraph[start:])
    return [piece.strip() for piece in pieces if piece.strip()]


def _cut(text: str, max_chars: int) -> int:
    """Where to cut ``text`` (longer than ``max_chars``): after the last clause mark or space
    that keeps the first part within ``max_chars``, else at ``max_chars``."""
    window = text[: max_chars + 1]
    clauses = [m.start() + 1 for m in _CLAUSE.finditer(window) if m.start() + 1 <= max_chars]
    if clauses:
        return clauses[-1]
    space = window.rfind(" ")
    return space if space > 0 else max_chars


def split_long(sentence: str, max_chars: int) -> list[str]:
    """``sentence`` cut into pieces of at most ``max_chars`` characters, at clause marks or
    spaces where possible."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    pieces, rest = [], sentence.strip()
    while len(rest) > max_chars:
        cut = _cut(rest, max_chars)
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return [piece for piece in pieces if piece]


def split_sentences(text: str, max_chars: int = 300) -> list[str]:
    """``text`` as a list of sentences (white space collapsed), each at most ``max_chars``
    characters. Text without sentence punctuation is one sentence; empty text gives ``[]``."""
    sentences = []
    for paragraph in _BLANK_LINE.split(text):
        for sentence in _sentences(paragraph):
            sentences.extend(split_long(sentence, max_chars))
    return sentences


def join_with_pauses(
    waves: Sequence[npt.NDArray[np.float32]], pause_samples: int
) -> npt.NDArray[np.float32]:
    """The waveforms one after another with ``pause_samples`` zeros between neighbours."""
    if pause_samples < 0:
        raise ValueError(f"pause_samples must be >= 0, got {pause_samples}")
    if not waves:
        return np.zeros(0, np.float32)
    gap = np.zeros(pause_samples, np.float32)
    parts: list[npt.NDArray[np.float32]] = []
    for i, wave in enumerate(waves):
        if i:
            parts.append(gap)
        parts.append(np.asarray(wave, np.float32).reshape(-1))
    return np.concatenate(parts)

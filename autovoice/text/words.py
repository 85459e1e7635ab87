"""Which tokens speak which word (pure).

A run of tokens between spaces, with the punctuation at its edges left out, is what the voice
reads for a word; :func:`align_words` names the runs of phonemes with the words they speak.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import numpy as np
import numpy.typing as npt

from autovoice.text.symbols import PUNCTUATION, SymbolTable

__all__ = ["WordSpan", "align_words", "spoken_words", "word_spans"]


@attrs.frozen(kw_only=True)
class WordSpan:
    """One spoken word and the tokens that speak it: ids ``start`` to ``end`` (exclusive)."""

    text: str
    start: int
    end: int


def word_spans(ids: npt.NDArray[np.int64], table: SymbolTable) -> tuple[WordSpan, ...]:
    """The words of ``ids``: runs between space symbols, punctuation at the edges left out."""
    symbols = [table.symbols[int(i)] for i in ids]
    spans, start = [], 0
    for end in [*(i for i, s in enumerate(symbols) if s.isspace()), len(symbols)]:
        first, last = start, end
        while first < last and symbols[first] in PUNCTUATION:
            first += 1
        while last > first and symbols[last - 1] in PUNCTUATION:
            last -= 1
        if last > first:
            spans.append(WordSpan(text="".join(symbols[first:last]), start=first, end=last))
        start = end + 1
    return tuple(spans)


_STRESS = "ˈˌ"
_EDGES = PUNCTUATION + '"“”‘’()[]'


def spoken_words(spoken: str) -> list[str]:
    """The words of normalized text, without the punctuation around them."""
    return [word.strip(_EDGES) for word in spoken.split() if word.strip(_EDGES)]


def _distance(a: str, b: str) -> float:
    """Edit distance of ``a`` and ``b`` over the longer length (0 same, 1 nothing alike)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1] / max(len(a), len(b), 1)


def align_words(
    chunks: Sequence[WordSpan], words: Sequence[str], phonemize: Callable[[str], str]
) -> tuple[WordSpan, ...]:
    """The spoken ``words`` on the token runs ``chunks`` of their phonemes (eSpeak writes some
    words together: ``in the`` as ``ɪnðə``). When the counts agree, one to one; else each
    chunk takes the one to three words, or two chunks the one word, whose own phonemes
    (``phonemize`` of each word alone) are nearest its symbols. Words spoken as one chunk are
    one span, their texts joined by a space."""
    if len(chunks) == len(words):
        return tuple(attrs.evolve(c, text=w) for c, w in zip(chunks, words, strict=True))
    own = [phonemize(word).translate({ord(c): None for c in _STRESS + " "}) for word in words]
    said = [chunk.text.translate({ord(c): None for c in _STRESS}) for chunk in chunks]
    moves = [(1, k) for k in (1, 2, 3)] + [(2, 1)]
    inf = float("inf")
    cost = [[inf] * (len(words) + 1) for _ in range(len(chunks) + 1)]
    back: dict[tuple[int, int], tuple[int, int]] = {}
    cost[0][0] = 0.0
    for i in range(len(chunks) + 1):
        for j in range(len(words) + 1):
            if cost[i][j] == inf:
                continue
            for di, dj in moves:
                if i + di > len(chunks) or j + dj > len(words):
                    continue
                step = _distance("".join(said[i : i + di]), "".join(own[j : j + dj]))
                if cost[i][j] + step + 0.01 * (di + dj) < cost[i + di][j + dj]:
                    cost[i + di][j + dj] = cost[i][j] + step + 0.01 * (di + dj)
                    back[(i + di, j + dj)] = (i, j)
    if cost[-1][-1] == inf:  # nothing fits: the token runs as they are
        return tuple(chunks)
    spans, at = [], (len(chunks), len(words))
    while at != (0, 0):
        i, j = back[at]
        text = " ".join(words[j : at[1]])
        spans.append(WordSpan(text=text, start=chunks[i].start, end=chunks[at[0] - 1].end))
        at = (i, j)
    return tuple(reversed(spans))

"""Which tokens speak which word (pure).

A word is a run of tokens between spaces, with the punctuation at its edges left out: the
symbols the voice reads for it.
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt

from autovoice.text.symbols import PUNCTUATION, SymbolTable

__all__ = ["WordSpan", "word_spans"]


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

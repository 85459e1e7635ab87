"""Phonemes written into the text, ``[[ h ə l oʊ ]]``, and a lexicon of words to phonemes
(pure).

Inside ``[[ ... ]]`` the symbols of the voice's table are written one after another, with or
without spaces between them (``[[ h ə l oʊ ]]`` and ``[[ həloʊ ]]`` are the same); each block
is one word. A lexicon maps words to phonemes in the same notation, one entry a line:
``word<TAB>phonemes``; blank lines and lines starting with ``#`` are skipped. Its words replace
the words of the text they equal (ignoring case) before the text is normalized.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from autovoice.text.normalize import TextError
from autovoice.text.symbols import PAD, SymbolTable

__all__ = ["Lexicon", "Segment", "parse_lexicon", "parse_symbols", "segments"]

_BLOCK = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)


@attrs.frozen(kw_only=True)
class Segment:
    """A piece of the text: plain text to normalize (``symbols`` None), or the symbols of a
    phoneme block or lexicon word, spoken as the word ``text``."""

    text: str
    symbols: tuple[str, ...] | None = None


@attrs.frozen(kw_only=True)
class Lexicon:
    """Words (lower case) to their symbols."""

    entries: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    _pattern: re.Pattern[str] | None = attrs.field(init=False, eq=False, repr=False)

    @_pattern.default
    def _compile(self) -> re.Pattern[str] | None:
        if not self.entries:
            return None
        words = sorted(self.entries, key=len, reverse=True)
        alternatives = "|".join(re.escape(word) for word in words)
        return re.compile(rf"(?<![\w'])(?:{alternatives})(?![\w'])", re.IGNORECASE)

    def split(self, text: str) -> list[Segment]:
        """``text`` with each lexicon word made a segment of its symbols."""
        if self._pattern is None:
            return [Segment(text=text)]
        pieces, at = [], 0
        for match in self._pattern.finditer(text):
            pieces.append(Segment(text=text[at : match.start()]))
            symbols = self.entries[match.group().lower()]
            pieces.append(Segment(text=match.group(), symbols=symbols))
            at = match.end()
        pieces.append(Segment(text=text[at:]))
        return pieces


def parse_symbols(written: str, table: SymbolTable, where: str, column: int = 0) -> tuple[str, ...]:
    """The symbols of ``written`` (``h ə l oʊ``): the table's longest symbol at each place,
    white space between them skipped. An unknown symbol is a TextError naming it and its
    character position (``column`` is where ``written`` begins, counted from 1)."""
    longest = max(len(symbol) for symbol in table.symbols)
    symbols: list[str] = []
    at = 0
    while at < len(written):
        if written[at].isspace():
            at += 1
            continue
        found = next(
            (
                written[at : at + size]
                for size in range(min(longest, len(written) - at), 0, -1)
                if written[at : at + size] in table and written[at : at + size] != PAD
            ),
            None,
        )
        if found is None:
            raise TextError(
                f"{where}: unknown phoneme {written[at]!r} at character {column + at + 1}; "
                f"this voice's {table.kind} are {''.join(table.symbols[1:])!r}"
            )
        symbols.append(found)
        at += len(found)
    if not symbols:
        raise TextError(f"{where}: empty phonemes at character {column + 1}")
    return tuple(symbols)


def segments(text: str, table: SymbolTable, lexicon: Lexicon) -> list[Segment]:
    """``text`` cut into plain text and phoneme segments: its ``[[ ... ]]`` blocks, then the
    lexicon's words in the plain text between them. An unclosed ``[[`` or a stray ``]]`` is a
    TextError naming its position."""
    pieces: list[Segment] = []
    at = 0
    for match in _BLOCK.finditer(text):
        _check_plain(text, at, match.start())
        pieces.extend(lexicon.split(text[at : match.start()]))
        inner = match.group(1)
        symbols = parse_symbols(inner, table, "text", column=match.start(1))
        pieces.append(Segment(text=inner.strip(), symbols=symbols))
        at = match.end()
    _check_plain(text, at, len(text))
    pieces.extend(lexicon.split(text[at:]))
    return [piece for piece in pieces if piece.symbols is not None or piece.text.strip()]


def _check_plain(text: str, start: int, end: int) -> None:
    for mark in ("[[", "]]"):
        found = text.find(mark, start, end)
        if found >= 0:
            what = "has no closing ]]" if mark == "[[" else "closes no [["
            raise TextError(f"text: the {mark} at character {found + 1} {what}")


def parse_lexicon(content: str, table: SymbolTable, where: str) -> Lexicon:
    """The lexicon written in ``content`` (``word<TAB>phonemes`` lines, see the module
    docstring); each fault is a TextError naming ``where`` (the file) and the line."""
    entries: dict[str, tuple[str, ...]] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        place = f"{where}, line {number}"
        word, tab, written = line.partition("\t")
        word = word.strip()
        if not tab:
            raise TextError(f"{place}: expected word<TAB>phonemes, found no tab in {line!r}")
        if not word or any(char.isspace() for char in word):
            raise TextError(f"{place}: the word must be one word without spaces, got {word!r}")
        if word.lower() in entries:
            first = lines[word.lower()]
            raise TextError(f"{place}: {word!r} is already in the lexicon (line {first})")
        column = len(line) - len(written)
        entries[word.lower()] = parse_symbols(written, table, place, column=column)
        lines[word.lower()] = number
    return Lexicon(entries=entries)

"""The text front end: raw text to symbol ids, one text at a time or as a padded batch.

Characters mode normalizes (and lower-cases) the text and encodes its characters. Phonemes mode
normalizes it, converts it to IPA with eSpeak NG and encodes the phonemes; eSpeak is imported on
first use, so characters mode never loads it. What normalization dropped (emoji) comes back as
notes for the caller to log; the front end itself never logs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import attrs
import numpy as np
import numpy.typing as npt

from autovoice.text.inline import Lexicon, Segment, segments
from autovoice.text.normalize import Normalized, TextError, check_language, normalize_with_notes
from autovoice.text.symbols import (
    KINDS,
    PUNCTUATION,
    SymbolTable,
    characters_table,
    phonemes_table,
)
from autovoice.text.tokenize import length_mask, pad_sequences
from autovoice.text.words import WordSpan, align_words, spoken_words, word_spans

if TYPE_CHECKING:
    from autovoice.config.schema import TextConfig

# the eSpeak NG voice that phonemizes each supported language
ESPEAK_VOICES = {"en": "en-us"}
_SHOWN = 80  # characters of an offending text quoted in an error


@attrs.frozen(kw_only=True)
class Tokens:
    """One text's symbol ids, the string they encode, the symbols that were dropped, the
    notes of normalization on what it dropped (``"dropped emoji 😀"``) and, when asked for,
    the words the ids speak."""

    ids: npt.NDArray[np.int64] = attrs.field(eq=attrs.cmp_using(eq=np.array_equal))
    text: str
    unknown: Counter[str]
    notes: tuple[str, ...] = ()
    words: tuple[WordSpan, ...] = ()


class TokenBatch(TypedDict):
    """A padded batch: ``tokens`` and ``token_mask`` are ``(B, T)``, ``token_lengths`` ``(B,)``;
    ``notes`` are the distinct normalization notes of its texts, in order."""

    tokens: npt.NDArray[np.int64]
    token_lengths: npt.NDArray[np.int64]
    token_mask: npt.NDArray[np.bool_]
    unknown: Counter[str]
    notes: tuple[str, ...]


def _check_language(_instance: Any, _attribute: Any, language: str) -> None:
    check_language(language)


def _check_kind(_instance: Any, _attribute: Any, kind: str) -> None:
    if kind not in KINDS:
        raise TextError(f"unknown symbols {kind!r}; expected one of {', '.join(KINDS)}")


def _default_table(front_end: TextFrontEnd) -> SymbolTable:
    if front_end.symbols == "phonemes":
        return phonemes_table()
    return characters_table(cased=not front_end.lowercase)


def _quote(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


@attrs.frozen(kw_only=True)
class TextFrontEnd:
    """Text to ids for one language and symbol kind.

    ``table`` defaults to the built-in table of ``symbols``; pass the table a checkpoint or voice
    bundle carries to encode exactly as the model was trained. ``lexicon`` gives words their
    phonemes (:func:`autovoice.text.inline.parse_lexicon`).
    """

    language: str = attrs.field(default="en", validator=_check_language)
    symbols: str = attrs.field(default="characters", validator=_check_kind)
    normalize: bool = True
    lowercase: bool = True
    table: SymbolTable = attrs.field(default=attrs.Factory(_default_table, takes_self=True))
    lexicon: Lexicon = attrs.field(factory=Lexicon)

    @table.validator
    def _check_table(self, _attribute: Any, table: SymbolTable) -> None:
        if table.kind != self.symbols:
            raise TextError(f"a {table.kind} symbol table cannot encode {self.symbols}")

    @classmethod
    def from_config(cls, text: TextConfig) -> TextFrontEnd:
        """The front end the ``[text]`` section describes."""
        return cls(
            language=text.language,
            symbols=text.symbols,
            normalize=text.normalize,
            lowercase=text.lowercase,
        )

    def process(self, text: str, words: bool = False) -> Tokens:
        """The ids of ``text``; a TextError naming it when nothing in it can be spoken. Its
        ``[[ ... ]]`` phoneme blocks and the words of :attr:`lexicon` are spoken as the symbols
        they give (:mod:`autovoice.text.inline`), the rest as usual. With ``words``,
        :attr:`Tokens.words` says which ids speak which word (its normalized spoken form)."""
        pieces = segments(text, self.table, self.lexicon)
        if all(piece.symbols is None for piece in pieces):
            return self._plain(text, words)
        parts = [self._segment(piece, words) for piece in pieces]
        space = self.table.encode(" ")[0]
        ids: list[int] = []
        spans: list[WordSpan] = []
        for part in parts:
            if ids and part.ids.size and part.text[:1] not in PUNCTUATION:
                ids.extend(space.tolist())
            spans += [
                attrs.evolve(w, start=w.start + len(ids), end=w.end + len(ids)) for w in part.words
            ]
            ids.extend(part.ids.tolist())
        unknown: Counter[str] = Counter()
        for part in parts:
            unknown.update(part.unknown)
        return Tokens(
            ids=np.asarray(ids, np.int64),
            text=self.table.decode(np.asarray(ids, np.int64)),
            unknown=unknown,
            notes=tuple(dict.fromkeys(note for part in parts for note in part.notes)),
            words=tuple(spans),
        )

    def _segment(self, piece: Segment, words: bool) -> Tokens:
        """One piece of a text with phonemes in it: its symbols, or plain text processed; a
        piece of punctuation alone keeps the marks the table has."""
        if piece.symbols is not None:
            ids = np.asarray([self.table.id_of(symbol) for symbol in piece.symbols], np.int64)
            span = WordSpan(text=piece.text, start=0, end=len(ids))
            return Tokens(ids=ids, text="".join(piece.symbols), unknown=Counter(), words=(span,))
        if not any(char.isalnum() for char in piece.text):
            marks = "".join(char for char in piece.text if char in self.table and char != " ")
            return Tokens(ids=self.table.encode(marks)[0], text=marks, unknown=Counter())
        return self._plain(piece.text, words)

    def _plain(self, text: str, words: bool) -> Tokens:
        """The ids of text without phonemes in it."""
        if self.normalize:
            normalized = normalize_with_notes(text, self.language)
        else:
            normalized = Normalized(text=text)
        spoken = normalized.text
        if not spoken.strip():
            raise TextError(f"text {_quote(text)} is empty after normalization")
        if self.symbols == "phonemes":
            written = self._phonemize(spoken)
        else:
            written = spoken.lower() if self.lowercase else spoken
        ids, unknown = self.table.encode(written)
        if not written.strip() or not ids.size:
            raise TextError(f"text {_quote(text)} has no known {self.symbols} to speak")
        spans = self._words(ids, spoken) if words else ()
        return Tokens(ids=ids, text=written, unknown=unknown, notes=normalized.notes, words=spans)

    def _words(self, ids: npt.NDArray[np.int64], spoken: str) -> tuple[WordSpan, ...]:
        """Which of ``ids`` speak which word of the normalized text ``spoken``."""
        chunks = word_spans(ids, self.table)
        if self.symbols != "phonemes":
            return chunks
        return align_words(chunks, spoken_words(spoken), self._phonemize)

    def batch(self, texts: Iterable[str], multiple_of: int = 1) -> TokenBatch:
        """Each text processed and padded with the pad id into one ``(B, T)`` batch."""
        return self.collate([self.process(text) for text in texts], multiple_of)

    def collate(self, processed: Sequence[Tokens], multiple_of: int = 1) -> TokenBatch:
        """Processed texts padded with the pad id into one ``(B, T)`` batch."""
        tokens, lengths = pad_sequences(
            [item.ids for item in processed], pad_id=self.table.pad_id, multiple_of=multiple_of
        )
        unknown: Counter[str] = Counter()
        for item in processed:
            unknown.update(item.unknown)
        return TokenBatch(
            tokens=tokens.astype(np.int64, copy=False),
            token_lengths=lengths,
            token_mask=length_mask(lengths, tokens.shape[1]),
            unknown=unknown,
            notes=tuple(dict.fromkeys(note for item in processed for note in item.notes)),
        )

    def _phonemize(self, spoken: str) -> str:
        from autovoice.espeak import phonemize

        return phonemize(spoken, voice=ESPEAK_VOICES[self.language])

"""Symbol tables: the ordered symbols a model reads, id 0 the pad symbol ``_``.

A table travels inside checkpoints and voice bundles as JSON (``to_dict`` / ``from_dict``), so
text is always encoded with the table the model was trained on.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from autovoice.text.normalize import TextError

PAD = "_"
KINDS = ("characters", "phonemes")
PUNCTUATION = ".,!?;:'-"

# what eSpeak NG writes for English (and the odd foreign word), in Unicode IPA
_IPA_VOWELS = "aeiouyæɐɑɒɔəɘɚɛɜɝɞɨɪʉʊʌʏøœɶɤɯɵᵻ"
_IPA_CONSONANTS = "bcdfghjklmnpqrstvwxzçðŋθɓɕɖɗɟɠɡɢɣɥɦɧɫɬɭɮɰɱɲɳɴɸɹɺɻɽɾʀʁʂʃʄʈʋʍʎʐʑʒʔʕʝʟʡʢβχⱱ"
_IPA_MARKS = "ˈˌːˑʰʱʲʷˠˤ˞ʼ\u0303\u0329\u032a\u032f\u0361"


@attrs.frozen(kw_only=True)
class SymbolTable:
    """An ordered set of symbols; a symbol's id is its position and id 0 is the pad ``_``.

    ``kind`` is ``"characters"`` or ``"phonemes"``. The pad symbol only pads: a literal ``_``
    in the input is an unknown symbol, never id 0.
    """

    symbols: tuple[str, ...] = attrs.field()
    kind: str = attrs.field()
    _index: Mapping[str, int] = attrs.field(init=False, repr=False, eq=False)

    @symbols.validator
    def _check_symbols(self, _attribute: attrs.Attribute[Any], symbols: tuple[Any, ...]) -> None:
        problem = _symbols_problem(symbols)
        if problem is not None:
            raise TextError(f"symbol table: field 'symbols' {problem}")

    @kind.validator
    def _check_kind(self, _attribute: attrs.Attribute[Any], kind: Any) -> None:
        if kind not in KINDS:
            expected = ", ".join(KINDS)
            raise TextError(f"symbol table: field 'kind' must be one of {expected}, got {kind!r}")

    @_index.default
    def _build_index(self) -> Mapping[str, int]:
        return {symbol: position for position, symbol in enumerate(self.symbols)}

    @property
    def pad_id(self) -> int:
        return 0

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._index and symbol != PAD

    def id_of(self, symbol: str) -> int:
        """The id of ``symbol``; a TextError naming it when the table lacks it."""
        if symbol not in self:
            raise TextError(f"symbol {symbol!r} is not in the {self.kind} table")
        return self._index[symbol]

    def encode(self, symbols: Iterable[str]) -> tuple[npt.NDArray[np.int64], Counter[str]]:
        """Ids of the known symbols, in order, and a count of the unknown ones (dropped)."""
        ids: list[int] = []
        unknown: Counter[str] = Counter()
        for symbol in symbols:
            if symbol in self:
                ids.append(self._index[symbol])
            else:
                unknown[symbol] += 1
        return np.asarray(ids, dtype=np.int64), unknown

    def decode(self, ids: Iterable[int] | npt.NDArray[np.integer[Any]]) -> str:
        """The symbols of ``ids`` joined into a string; pad ids are skipped."""
        pieces = []
        for raw in np.asarray(ids).reshape(-1).tolist():
            if not isinstance(raw, int) or not 0 <= raw < len(self.symbols):
                raise TextError(f"id {raw!r} is outside the {self.kind} table (0..{len(self) - 1})")
            if raw != 0:
                pieces.append(self.symbols[raw])
        return "".join(pieces)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: ``{"kind": ..., "symbols": [...]}``."""
        return {"kind": self.kind, "symbols": list(self.symbols)}

    @classmethod
    def from_dict(cls, data: object) -> SymbolTable:
        """The table ``to_dict`` described; a TextError naming the bad field otherwise."""
        if not isinstance(data, Mapping):
            raise TextError(f"symbol table: expected a mapping, got {type(data).__name__}")
        extra = sorted(set(data) - {"kind", "symbols"})
        if extra:
            raise TextError(f"symbol table: unknown field(s) {', '.join(map(repr, extra))}")
        for field in ("kind", "symbols"):
            if field not in data:
                raise TextError(f"symbol table: missing field {field!r}")
        symbols = data["symbols"]
        if not isinstance(symbols, (list, tuple)):
            raise TextError(f"symbol table: field 'symbols' must be a list, got {symbols!r}")
        return cls(symbols=tuple(symbols), kind=data["kind"])


def _symbols_problem(symbols: object) -> str | None:
    """What is wrong with a table's symbols, or None."""
    if not isinstance(symbols, tuple):
        return f"must be a tuple, got {type(symbols).__name__}"
    if not symbols or symbols[0] != PAD:
        return f"must start with the pad symbol {PAD!r}"
    for position, symbol in enumerate(symbols):
        if not isinstance(symbol, str) or not symbol:
            return f"entry {position} must be a non-empty string, got {symbol!r}"
    duplicates = sorted(symbol for symbol, count in Counter(symbols).items() if count > 1)
    if duplicates:
        return f"repeats {', '.join(map(repr, duplicates))}"
    return None


def characters_table(cased: bool = False) -> SymbolTable:
    """Pad, punctuation ``. , ! ? ; : ' -``, space and the letters a-z (and A-Z when cased)."""
    letters = string.ascii_lowercase + (string.ascii_uppercase if cased else "")
    return SymbolTable(symbols=(PAD, *PUNCTUATION, " ", *letters), kind="characters")


def phonemes_table() -> SymbolTable:
    """Pad, punctuation, space and the IPA that eSpeak NG writes, one code point per symbol.

    Diphthongs and affricates are sequences (``aɪ`` is ``a`` then ``ɪ``); stress ``ˈ ˌ`` and
    length ``ː`` are symbols of their own.
    """
    ipa = _IPA_VOWELS + _IPA_CONSONANTS + _IPA_MARKS
    return SymbolTable(symbols=(PAD, *PUNCTUATION, " ", *ipa), kind="phonemes")

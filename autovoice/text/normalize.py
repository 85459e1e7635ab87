"""English text normalization: written text turned into the words a speaker would say.

``normalize_text`` runs its passes in a fixed order: fold to ASCII (NFKC, typographic quotes and
dashes, accents; unspeakable characters and emoji dropped), read e-mail and web addresses and
phone numbers, expand what leads a number ("No. 5", "Mon.-Fri.", "May 3"), read units after
numbers ("5 kg"), read numbers aloud (num2words), expand the other abbreviations, read the symbols
left over, collapse whitespace. No pass leaves anything that it or an earlier pass would change,
so the result is a fixed point: normalizing it again returns it unchanged.

:func:`normalize_with_notes` also says what was dropped (emoji), for the caller to log: this
module stays pure and never logs.
"""

from __future__ import annotations

import re
import unicodedata

import attrs

from autovoice.errors import AutovoiceError
from autovoice.text._abbreviations import expand_abbreviations, expand_before_numbers
from autovoice.text._contacts import read_contacts
from autovoice.text._numbers import NUMBER, read_number
from autovoice.text._units import read_units

SUPPORTED_LANGUAGES = ("en",)

_PUNCTUATION = ".,!?;:'-"
_SYMBOLS = "$£€¥%&+=@#"
_ADDRESS = "/()_~°"  # kept through folding for addresses, phones and units, then dropped
_KEPT = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
    + _PUNCTUATION
    + _SYMBOLS
    + _ADDRESS
)
_FOLD = {
    "\t": " ", "\n": " ", "\r": " ", "\f": " ", "\v": " ", '"': "", "`": "'",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": "", "\u201d": "", "\u201e": "", "\u201f": "", "\u00ab": "", "\u00bb": "",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2212": "-",
    "\u2014": " - ", "\u2015": " - ",
    "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l",
    "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i",
}  # fmt: skip


class TextError(AutovoiceError):
    """Text the front end cannot turn into tokens; the message names the text or field."""


@attrs.frozen(kw_only=True)
class Normalized:
    """The spoken form of a text, and notes on what normalization dropped (``"dropped emoji
    😀"``), one per distinct emoji, in order of appearance."""

    text: str
    notes: tuple[str, ...] = ()


def normalize_text(text: str, language: str = "en") -> str:
    """The spoken form of ``text``: ``"Dr. Smith paid $5.50."`` gives
    ``"Doctor Smith paid five dollars, fifty cents."``.

    Case is kept; sentence punctuation ``. , ! ? ; : ' -`` is kept; digits and symbols become
    words; characters that cannot be spoken are dropped. Only English (``"en"``) is supported.
    """
    return normalize_with_notes(text, language).text


def normalize_with_notes(text: str, language: str = "en") -> Normalized:
    """:func:`normalize_text` with notes on what was dropped, for the caller to report."""
    check_language(language)
    notes = tuple(f"dropped emoji {emoji}" for emoji in find_emoji(text))
    return Normalized(text=_normalize(text), notes=notes)


def check_language(language: str) -> None:
    """A TextError listing the supported languages unless ``language`` is one of them."""
    if language not in SUPPORTED_LANGUAGES:
        supported = ", ".join(repr(name) for name in SUPPORTED_LANGUAGES)
        raise TextError(f"unsupported text language {language!r}; supported: {supported}")


def _normalize(text: str) -> str:
    text = _before_numbers(_fold(text))
    text = _before_numbers(_drop_address_symbols(text))  # again, on what the drop joined
    text = NUMBER.sub(read_number, text)
    text = _SYMBOL.sub(_read_symbol, expand_abbreviations(text))
    text = read_contacts(text)  # an address the other passes joined ("Mon..org", "&.com")
    return re.sub(r" +", " ", text).strip()


def _before_numbers(text: str) -> str:
    """Addresses and phone numbers, the abbreviations, ranges and dates that lead numbers, and
    units after numbers: the passes that read digits before the numbers pass does."""
    return read_units(expand_before_numbers(read_contacts(text)))


# --- folding to ASCII -------------------------------------------------------------------------


def _fold(text: str) -> str:
    """ASCII letters, digits, single spaces, kept punctuation and symbols; no space before
    ``.,!?;:``."""
    folded = "".join(_fold_char(char) for char in unicodedata.normalize("NFKC", text))
    return _tidy_spaces(folded)


def _tidy_spaces(text: str) -> str:
    return re.sub(r" +", " ", re.sub(r" +(?=[.,!?;:])", "", text))


def _drop_address_symbols(text: str) -> str:
    """The brackets, slashes and degree signs no address, phone number or unit took."""
    return _tidy_spaces(re.sub(f"[{re.escape(_ADDRESS)}]", " ", text))


def _fold_char(char: str) -> str:
    if char in _FOLD:
        return _FOLD[char]
    if char in _KEPT:
        return char
    if char.isascii():
        return "" if unicodedata.category(char) == "Cc" else " "
    if char.isdecimal():
        return str(unicodedata.decimal(char))
    category = unicodedata.category(char)
    if category in ("Cf", "Mn", "Me"):
        return ""
    base = unicodedata.normalize("NFKD", char)
    if base[0].isascii() and base[0].isalpha() and all(_is_mark(c) for c in base[1:]):
        return base[0]
    return " "


def _is_mark(char: str) -> bool:
    return unicodedata.category(char) in ("Mn", "Mc", "Me")


# --- emoji ------------------------------------------------------------------------------------

_PICTOGRAPH = "\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff"
_EMOJI = re.compile(
    "[\U0001f1e6-\U0001f1ff]{2}"  # a flag: two regional indicators
    f"|[{_PICTOGRAPH}][\ufe0f\U0001f3fb-\U0001f3ff]*(?:\u200d[{_PICTOGRAPH}][\ufe0f]*)*"
)


def find_emoji(text: str) -> tuple[str, ...]:
    """The distinct emoji in ``text`` (a flag, a skin tone or a joined family counts as one),
    in order of appearance; folding drops them all."""
    found = (match[0] for match in _EMOJI.finditer(unicodedata.normalize("NFKC", text)))
    return tuple(dict.fromkeys(emoji for emoji in found if _is_emoji(emoji)))


def _is_emoji(sequence: str) -> bool:
    return unicodedata.category(sequence[0]) in ("So", "Sk")


# --- symbols ----------------------------------------------------------------------------------

_SYMBOL = re.compile("[" + re.escape(_SYMBOLS) + "]")
_SYMBOL_WORDS = {
    "$": "dollars", "£": "pounds", "€": "euros", "¥": "yen", "%": "percent", "&": "and",
    "+": "plus", "=": "equals", "@": "at", "#": "hash",
}  # fmt: skip


def _read_symbol(match: re.Match[str]) -> str:
    before = match.string[match.start() - 1 : match.start()]
    after = match.string[match.end() : match.end() + 1]
    word = _SYMBOL_WORDS[match[0]]
    return (" " if before.isalnum() else "") + word + (" " if after.isalnum() else "")

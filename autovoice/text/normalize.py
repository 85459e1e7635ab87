"""English text normalization: written text turned into the words a speaker would say.

``normalize_text`` runs its passes in a fixed order: fold to ASCII (NFKC, typographic quotes and
dashes, accents; unspeakable characters dropped), expand the abbreviations that lead a number
("No. 5"), read numbers aloud (num2words), expand the other abbreviations, read the symbols left
over, collapse whitespace. No pass leaves anything that it or an earlier pass would change, so the
result is a fixed point: normalizing it again returns it unchanged.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from num2words import num2words  # type: ignore[import-untyped]

from autovoice.errors import AutovoiceError

SUPPORTED_LANGUAGES = ("en",)

_PUNCTUATION = ".,!?;:'-"
_SYMBOLS = "$£€¥%&+=@#"
_KEPT_ASCII = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 " + _PUNCTUATION + _SYMBOLS
)
_FOLD = {
    "\t": " ", "\n": " ", "\r": " ", "\f": " ", "\v": " ", '"': "", "`": "'",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": "", "\u201d": "", "\u201e": "", "\u201f": "", "\u00ab": "", "\u00bb": "",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2212": "-",
    "\u2014": " - ", "\u2015": " - ",
    "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l",
    "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i",
    "£": "£", "€": "€", "¥": "¥",
}  # fmt: skip


class TextError(AutovoiceError):
    """Text the front end cannot turn into tokens; the message names the text or field."""


def normalize_text(text: str, language: str = "en") -> str:
    """The spoken form of ``text``: ``"Dr. Smith paid $5.50."`` gives
    ``"Doctor Smith paid five dollars, fifty cents."``.

    Case is kept; sentence punctuation ``. , ! ? ; : ' -`` is kept; digits and symbols become
    words; characters that cannot be spoken are dropped. Only English (``"en"``) is supported.
    """
    check_language(language)
    text = _fold(text)
    text = _NUMBERED.sub(_expand_numbered, text)
    text = _NUMBER.sub(_read_number, text)
    text = _ABBREVIATION.sub(_expand_abbreviation, text)
    text = _SYMBOL.sub(_read_symbol, text)
    return re.sub(r" +", " ", text).strip()


def check_language(language: str) -> None:
    """A TextError listing the supported languages unless ``language`` is one of them."""
    if language not in SUPPORTED_LANGUAGES:
        supported = ", ".join(repr(name) for name in SUPPORTED_LANGUAGES)
        raise TextError(f"unsupported text language {language!r}; supported: {supported}")


# --- folding to ASCII -------------------------------------------------------------------------


def _fold(text: str) -> str:
    """ASCII letters, digits, spaces, kept punctuation and symbols; no space before ``.,!?;:``."""
    folded = "".join(_fold_char(char) for char in unicodedata.normalize("NFKC", text))
    return re.sub(r" +(?=[.,!?;:])", "", folded)


def _fold_char(char: str) -> str:
    if char in _FOLD:
        return _FOLD[char]
    if char in _KEPT_ASCII:
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


# --- abbreviations ----------------------------------------------------------------------------

_MONTHS = {
    "jan": "january", "feb": "february", "mar": "march", "apr": "april", "jun": "june",
    "jul": "july", "aug": "august", "sep": "september", "sept": "september",
    "oct": "october", "nov": "november", "dec": "december",
}  # fmt: skip
# read only before a number ("No. 5", "Jan. 2nd"), so expanded before numbers are read
_BEFORE_NUMBER = {"no": "number", **_MONTHS}
# titles expand only when capitalized ("Dr." but not "dr."); the rest in any case
_TITLES = {
    "mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "prof": "professor",
    "capt": "captain", "gen": "general", "lt": "lieutenant", "col": "colonel",
    "sgt": "sergeant", "rev": "reverend", "gov": "governor", "mt": "mount", "st": "saint",
}  # fmt: skip
_OTHERS = {
    "jr": "junior", "sr": "senior", "vs": "versus", "etc": "et cetera", "e.g": "for example",
    "i.e": "that is", "approx": "approximately", "dept": "department", "inc": "incorporated",
    "ltd": "limited", "co": "company",
}  # fmt: skip
# abbreviations whose period may also end the sentence
_SENTENCE_ENDERS = frozenset({"jr", "sr", "etc", "inc", "ltd", "co", "st"})


def _alternatives(keys: Iterable[str]) -> str:
    return "|".join(re.escape(key) for key in sorted(keys, key=len, reverse=True))


_NUMBERED = re.compile(
    rf"(?<![A-Za-z])(?P<abbr>{_alternatives(_BEFORE_NUMBER)})\.(?= ?[0-9])", re.IGNORECASE
)
_ABBREVIATION = re.compile(
    rf"(?<![A-Za-z])(?P<abbr>{_alternatives([*_TITLES, *_OTHERS])})\.", re.IGNORECASE
)
_CAPITAL_NEXT = re.compile(r" *[A-Z]")
_END = re.compile(r" *$")


def _expand_numbered(match: re.Match[str]) -> str:
    written, key = match["abbr"], match["abbr"].lower()
    if key in _MONTHS and written[0].islower():
        return match[0]
    return _match_case(_BEFORE_NUMBER[key], written)


def _expand_abbreviation(match: re.Match[str]) -> str:
    text, end, written, key = match.string, match.end(), match["abbr"], match["abbr"].lower()
    if key in _TITLES and written[0].islower():
        return match[0]
    words = _TITLES.get(key) or _OTHERS[key]
    if key == "st" and not _CAPITAL_NEXT.match(text, end):
        words = "street"  # "Baker St." and "St. Louis"
    words = _match_case(words, written)
    if key in _SENTENCE_ENDERS and words.lower() != "saint" and _ends_sentence(text, end):
        return words + "."
    return words + " " if text[end : end + 1].isalpha() else words


def _ends_sentence(text: str, position: int) -> bool:
    """Whether the text after a period at ``position`` shows that it ended a sentence."""
    return bool(_END.match(text, position) or _CAPITAL_NEXT.match(text, position))


def _match_case(words: str, written: str) -> str:
    if len(written) > 1 and written.replace(".", "").isupper():
        return words.upper()
    return words[0].upper() + words[1:] if written[0].isupper() else words


# --- numbers ----------------------------------------------------------------------------------

_NUM = r"[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+"
_AMPM = r"[ap]\.?m\b\.?"
_NUMBER = re.compile(
    rf"""(?P<sign>(?<![A-Za-z0-9])-)?(?:
      (?P<currency>[$£€¥])\ ?(?P<amount>(?:{_NUM})(?:\.[0-9]+)?|\.[0-9]+)
          (?:\ (?P<scale>thousand|million|billion|trillion)\b)?
    | (?P<hour>[0-9]{{1,2}}):(?P<minute>[0-5][0-9])(?![0-9])(?:\ ?(?P<tampm>{_AMPM}))?
    | (?P<clock>[0-9]{{1,2}})\ ?(?P<ampm>{_AMPM})
    | (?P<percent>(?:{_NUM})(?:\.[0-9]+)?|\.[0-9]+)\ ?%
    | \#(?P<hash>{_NUM})
    | (?P<ordinal>{_NUM})(?:st|nd|rd|th)(?![A-Za-z])
    | '?(?P<plural>{_NUM})s(?![A-Za-z])
    | (?P<decimal>(?:{_NUM})?\.[0-9]+)
    | (?P<integer>{_NUM})
    )""",
    re.VERBOSE | re.IGNORECASE | re.ASCII,
)
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_MAX_DIGITS = 15  # longer digit strings are read digit by digit
_CURRENCIES = {  # singular, plural, and the same for the minor unit (None: no minor unit)
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", None, None),
}


def _read_number(match: re.Match[str]) -> str:
    words = _number_words(match)
    if match["sign"]:
        words = "minus " + words
    ampm = match["tampm"] or match["ampm"] or ""
    if ampm.endswith(".") and _ends_sentence(match.string, match.end()):
        words += "."  # the period of "p.m." also ended the sentence
    before = match.string[match.start() - 1 : match.start()]
    after = match.string[match.end() : match.end() + 1]
    return (" " if before.isalpha() else "") + words + (" " if after.isalpha() else "")


def _number_words(match: re.Match[str]) -> str:
    groups = match.groupdict()
    if groups["currency"]:
        return _money(match["currency"], match["amount"], match["scale"])
    if groups["hour"]:
        return _time(match["hour"], match["minute"], match["tampm"])
    if groups["clock"]:
        return _time(match["clock"], "00", match["ampm"])
    if groups["percent"]:
        return _number(match["percent"]) + " percent"
    if groups["hash"]:
        return "number " + _cardinal(match["hash"])
    if groups["ordinal"]:
        return _ordinal(match["ordinal"])
    if groups["plural"]:
        return _plural(_integer(match["plural"], year=True))
    if groups["decimal"]:
        return _number(match["decimal"])
    return _integer(match["integer"], year=not match["sign"])


def _spell(digits: str) -> str:
    return " ".join(_DIGITS[int(digit)] for digit in digits)


def _cardinal(digits: str) -> str:
    digits = digits.replace(",", "")
    if (len(digits) > 1 and digits[0] == "0") or len(digits) > _MAX_DIGITS:
        return _spell(digits)
    return str(num2words(int(digits), lang="en")).replace(",", "")


def _integer(digits: str, year: bool) -> str:
    """A year for four digits in 1100-1999 or 2010-2099 (``year``); otherwise a cardinal."""
    if year and len(digits) == 4 and digits[0] != "0":
        value = int(digits)
        if 1100 <= value <= 1999 or 2010 <= value <= 2099:
            return str(num2words(value, lang="en", to="year"))
    return _cardinal(digits)


def _number(text: str) -> str:
    whole, dot, fraction = text.partition(".")
    if not dot:
        return _cardinal(whole)
    head = _cardinal(whole) + " " if whole else ""
    return f"{head}point {_spell(fraction)}"


def _ordinal(digits: str) -> str:
    digits = digits.replace(",", "")
    if len(digits) > _MAX_DIGITS:
        return _spell(digits)
    return str(num2words(int(digits), lang="en", to="ordinal")).replace(",", "")


def _plural(words: str) -> str:
    if words.endswith("y"):
        return words[:-1] + "ies"
    return words + ("es" if words.endswith("x") else "s")


def _money(symbol: str, amount: str, scale: str | None) -> str:
    one, many, minor_one, minor_many = _CURRENCIES[symbol]
    whole, _, fraction = amount.partition(".")
    if scale:
        return f"{_number(amount)} {scale.lower()} {many}"
    if minor_one is None or minor_many is None or len(fraction) > 2:
        return f"{_number(amount)} {one if amount == '1' else many}"
    major, minor = int(whole.replace(",", "") or "0"), int(fraction.ljust(2, "0"))
    parts = []
    if major or not minor:
        parts.append(f"{_cardinal(whole or '0')} {one if major == 1 else many}")
    if minor:
        parts.append(f"{_cardinal(str(minor))} {minor_one if minor == 1 else minor_many}")
    return ", ".join(parts)


def _time(hour: str, minute: str, ampm: str | None) -> str:
    words = _cardinal(hour)
    if minute == "00":
        words += "" if ampm else " o'clock"
    elif minute[0] == "0":
        words += " oh " + _DIGITS[int(minute[1])]
    else:
        words += " " + _cardinal(minute)
    if ampm:
        words += " AM" if ampm[0] in "aA" else " PM"
    return words


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

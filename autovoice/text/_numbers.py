"""Numbers read aloud: cardinals, ordinals, years, decades, decimals, money, times, percentages."""

from __future__ import annotations

import re

from num2words import num2words  # type: ignore[import-untyped]

from autovoice.text._reading import DIGITS, ends_sentence, spell

NUM = r"[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+"
"""An integer, with or without thousands separators (``1,000,000``)."""
_AMPM = r"[ap]\.?m\b\.?"
NUMBER = re.compile(
    rf"""(?P<sign>(?<![A-Za-z0-9])-)?(?:
      (?P<currency>[$£€¥])\ ?(?P<amount>(?:{NUM})(?:\.[0-9]+)?|\.[0-9]+)
          (?:\ (?P<scale>thousand|million|billion|trillion)\b)?
    | (?P<hour>[0-9]{{1,2}}):(?P<minute>[0-5][0-9])(?![0-9])(?:\ ?(?P<tampm>{_AMPM}))?
    | (?P<clock>[0-9]{{1,2}})\ ?(?P<ampm>{_AMPM})
    | (?P<percent>(?:{NUM})(?:\.[0-9]+)?|\.[0-9]+)\ ?%
    | \#(?P<hash>{NUM})
    | (?P<ordinal>{NUM})(?:st|nd|rd|th)(?![A-Za-z])
    | '?(?P<plural>{NUM})s(?![A-Za-z])
    | (?P<decimal>(?:{NUM})?\.[0-9]+)
    | (?P<integer>{NUM})
    )""",
    re.VERBOSE | re.IGNORECASE | re.ASCII,
)
_MAX_DIGITS = 15  # longer digit strings are read digit by digit
_CURRENCIES = {  # singular, plural, and the same for the minor unit (None: no minor unit)
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", None, None),
}


def read_number(match: re.Match[str]) -> str:
    """The words of one :data:`NUMBER` match, spaced from letters that touch it."""
    words = _number_words(match)
    if match["sign"]:
        words = "minus " + words
    ampm = match["tampm"] or match["ampm"] or ""
    if ampm.endswith(".") and ends_sentence(match.string, match.end()):
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
        return quantity(match["percent"]) + " percent"
    if groups["hash"]:
        return "number " + cardinal(match["hash"])
    if groups["ordinal"]:
        return ordinal(match["ordinal"])
    if groups["plural"]:
        return _plural(_integer(match["plural"], year=True))
    if groups["decimal"]:
        return quantity(match["decimal"])
    return _integer(match["integer"], year=not match["sign"])


def cardinal(digits: str) -> str:
    """``"1,250"`` as ``"one thousand two hundred and fifty"``; a leading zero or more than
    fifteen digits are read digit by digit."""
    digits = digits.replace(",", "")
    if (len(digits) > 1 and digits[0] == "0") or len(digits) > _MAX_DIGITS:
        return spell(digits)
    return str(num2words(int(digits), lang="en")).replace(",", "")


def _integer(digits: str, year: bool) -> str:
    """A year for four digits in 1100-1999 or 2010-2099 (``year``); otherwise a cardinal."""
    if year and len(digits) == 4 and digits[0] != "0":
        value = int(digits)
        if 1100 <= value <= 1999 or 2010 <= value <= 2099:
            return str(num2words(value, lang="en", to="year"))
    return cardinal(digits)


def quantity(text: str) -> str:
    """An integer or decimal never read as a year: ``"3.14"`` is ``"three point one four"``."""
    whole, dot, fraction = text.partition(".")
    if not dot:
        return cardinal(whole)
    head = cardinal(whole) + " " if whole else ""
    return f"{head}point {spell(fraction)}"


def ordinal(digits: str) -> str:
    """``"22"`` as ``"twenty-second"``."""
    digits = digits.replace(",", "")
    if len(digits) > _MAX_DIGITS:
        return spell(digits)
    return str(num2words(int(digits), lang="en", to="ordinal")).replace(",", "")


def _plural(words: str) -> str:
    if words.endswith("y"):
        return words[:-1] + "ies"
    return words + ("es" if words.endswith("x") else "s")


def _money(symbol: str, amount: str, scale: str | None) -> str:
    one, many, minor_one, minor_many = _CURRENCIES[symbol]
    whole, _, fraction = amount.partition(".")
    if scale:
        return f"{quantity(amount)} {scale.lower()} {many}"
    if minor_one is None or minor_many is None or len(fraction) > 2:
        return f"{quantity(amount)} {one if amount == '1' else many}"
    major, minor = int(whole.replace(",", "") or "0"), int(fraction.ljust(2, "0"))
    parts = []
    if major or not minor:
        parts.append(f"{cardinal(whole or '0')} {one if major == 1 else many}")
    if minor:
        parts.append(f"{cardinal(str(minor))} {minor_one if minor == 1 else minor_many}")
    return ", ".join(parts)


def _time(hour: str, minute: str, ampm: str | None) -> str:
    words = cardinal(hour)
    if minute == "00":
        words += "" if ampm else " o'clock"
    elif minute[0] == "0":
        words += " oh " + DIGITS[int(minute[1])]
    else:
        words += " " + cardinal(minute)
    if ampm:
        words += " AM" if ampm[0] in "aA" else " PM"
    return words

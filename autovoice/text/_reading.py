"""Small helpers that every normalization pass shares: digit names, case and spacing rules."""

from __future__ import annotations

import re
from collections.abc import Iterable

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_CAPITAL_NEXT = re.compile(r" *[A-Z]")
_END = re.compile(r" *$")


def spell(digits: str) -> str:
    """Digits read one by one: ``"0427"`` is ``"zero four two seven"``."""
    return " ".join(DIGITS[int(digit)] for digit in digits)


def alternatives(keys: Iterable[str]) -> str:
    """A regex alternation of ``keys``, longest first so a prefix never wins over the whole."""
    return "|".join(re.escape(key) for key in sorted(keys, key=len, reverse=True))


def capital_next(text: str, position: int) -> bool:
    """Whether the next word after ``position`` starts with a capital letter."""
    return bool(_CAPITAL_NEXT.match(text, position))


def ends_sentence(text: str, position: int) -> bool:
    """Whether the text after a period at ``position`` shows that it ended a sentence."""
    return bool(_END.match(text, position) or _CAPITAL_NEXT.match(text, position))


def match_case(words: str, written: str) -> str:
    """``words`` in upper case when ``written`` is, capitalized when it starts with a capital."""
    if len(written) > 1 and written.replace(".", "").isupper():
        return words.upper()
    return words[0].upper() + words[1:] if written[0].isupper() else words


def spaced(match: re.Match[str], words: str) -> str:
    """``words`` in place of ``match``, with a space on a side where a letter or digit touches."""
    before = match.string[match.start() - 1 : match.start()]
    after = match.string[match.end() : match.end() + 1]
    return (" " if before.isalnum() else "") + words + (" " if after.isalnum() else "")

"""Abbreviations, day and month ranges, and dates of the month (``May 3`` is May third)."""

from __future__ import annotations

import re

from autovoice.text._numbers import ordinal
from autovoice.text._reading import alternatives, capital_next, ends_sentence, match_case
from autovoice.text._tables import (
    ANY_CASE,
    BEFORE_NUMBER,
    CAPITALIZED,
    DAY_NAMES,
    DAYS,
    MONTH_NAMES,
    MONTHS,
    SENTENCE_ENDERS,
)

_NUMBERED = re.compile(
    rf"(?<![A-Za-z])(?P<abbr>{alternatives(BEFORE_NUMBER)})\.(?= ?[0-9])", re.IGNORECASE
)
_ABBREVIATION = re.compile(
    rf"(?<![A-Za-z])(?P<abbr>{alternatives([*CAPITALIZED, *ANY_CASE])})\.", re.IGNORECASE
)
_PAGES = re.compile(r"(?<![A-Za-z])(?P<pp>pp\. ?)(?P<first>[0-9]+) ?- ?(?=[0-9])", re.IGNORECASE)


def _names(full: tuple[str, ...], short: dict[str, str]) -> str:
    return alternatives([*full, *(key.capitalize() for key in short)])


_DAY, _MONTH = _names(DAY_NAMES, DAYS), _names(MONTH_NAMES, MONTHS)
# "Mon.-Fri." and "Jan. - Mar.": capitalized names of one kind, joined by dashes
_RANGE = re.compile(
    rf"""(?<![A-Za-z])(?:(?:{_DAY})\.?(?:\ ?-\ ?(?:{_DAY})\.?)+
    | (?:{_MONTH})\.?(?:\ ?-\ ?(?:{_MONTH})\.?)+)(?![A-Za-z])""",
    re.VERBOSE,
)
# a month then a day of the month: "May 3", "Jan 31st" ("Jan. 5" is "January 5" by then)
_DATE = re.compile(
    rf"""(?<![A-Za-z])(?P<month>{_MONTH})\ ?(?P<day>[1-9]|[12][0-9]|3[01])
    (?:st|nd|rd|th)?(?![A-Za-z0-9]|[.:,][0-9])""",
    re.VERBOSE,
)


def expand_before_numbers(text: str) -> str:
    """The abbreviations that lead a number ("No. 5", "Jan. 2nd", "pp. 10-12"), day and month
    ranges, and dates of the month; run before numbers are read."""
    text = _RANGE.sub(_read_range, text)
    text = _PAGES.sub(lambda match: match["pp"] + match["first"] + " to ", text)
    text = _NUMBERED.sub(_expand_numbered, text)
    return _DATE.sub(_read_date, text)


def expand_abbreviations(text: str) -> str:
    """The other abbreviations: titles, days, ``etc.``, ``e.g.`` and the like; then ranges of the
    days they gave ("Mon..-Fri." is "Monday.-Friday." by then)."""
    return _RANGE.sub(_read_range, _ABBREVIATION.sub(_expand_abbreviation, text))


def _full_name(written: str) -> str:
    key = written.lower()
    return (DAYS.get(key) or MONTHS.get(key) or key).capitalize()


def _read_range(match: re.Match[str]) -> str:
    names = (name.strip(" .") for name in match[0].split("-"))
    words = " to ".join(_full_name(name) for name in names)
    if match[0].endswith(".") and ends_sentence(match.string, match.end()):
        words += "."
    return words


def _read_date(match: re.Match[str]) -> str:
    return f"{_full_name(match['month'])} {ordinal(match['day'])}"


def _expand_numbered(match: re.Match[str]) -> str:
    written, key = match["abbr"], match["abbr"].lower()
    if key in MONTHS and written[0].islower():
        return match[0]
    return match_case(BEFORE_NUMBER[key], written)


def _expand_abbreviation(match: re.Match[str]) -> str:
    text, end, written, key = match.string, match.end(), match["abbr"], match["abbr"].lower()
    if key in CAPITALIZED and written[0].islower():
        return match[0]
    if key == "sun" and ends_sentence(text, end):
        return match[0]  # "the Sun." is not a day
    words = CAPITALIZED.get(key) or ANY_CASE[key]
    if key == "st" and not capital_next(text, end):
        words = "street"  # "Baker St." and "St. Louis"
    words = match_case(words, written)
    if key in SENTENCE_ENDERS and words.lower() != "saint" and ends_sentence(text, end):
        return words + "."
    return words + " " if text[end : end + 1].isalpha() else words

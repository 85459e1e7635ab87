"""Abbreviations, day and month ranges, and dates of the month (``May 3`` is May third); and
whether the period of an abbreviation ends a sentence, as these passes read it."""

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
# an abbreviation and its period ending the searched text ("e.g.", "Jan.", "p.")
_ENDING = re.compile(
    rf"(?<![A-Za-z])(?P<abbr>{alternatives([*BEFORE_NUMBER, *CAPITALIZED, *ANY_CASE])})\.\Z",
    re.IGNORECASE,
)
_LONGEST = max(len(key) for key in [*BEFORE_NUMBER, *CAPITALIZED, *ANY_CASE]) + 1


def _names(full: tuple[str, ...], short: dict[str, str]) -> str:
    return alternatives([*full, *(key.capitalize() for key in short)])


_DAY, _MONTH = _names(DAY_NAMES, DAYS), _names(MONTH_NAMES, MONTHS)
# "Mon.-Fri." and "Jan. - Mar.": capitalized names of one kind, joined by dashes
_RANGE = re.compile(
    rf"""(?<![A-Za-z])(?:(?:{_DAY})\.?(?:\ ?-\ ?(?:{_DAY})\.?)+
    | (?:{_MONTH})\.?(?:\ ?-\ ?(?:{_MONTH})\.?)+)(?![A-Za-z])""",
    re.VERBOSE,
)
_RANGE_REACH = 40  # characters around a period that hold the names on either side of it
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


def abbreviation_ends_sentence(text: str, end: int) -> bool | None:
    """Whether normalizing ``text`` keeps the period just before ``end`` as a sentence end when
    it closes an abbreviation or a day or month range: False when the period is read with the
    abbreviation ("Dr.", "e.g.", "Vol.", "ext.", and "No.", "p.", "Jan." before a number) or
    within the range ("Mon. - Fri."), True when it stays to end the sentence ("etc." or "Inc."
    before a capital or the end of the text); None when no abbreviation that normalization
    reads ends at ``end``. ``text`` has single spaces, as after folding."""
    in_range = _range_ends_sentence(text, end)
    if in_range is not None:
        return in_range
    found = _ENDING.search(text, max(0, end - _LONGEST), end)
    if found is None:
        return None
    written = found["abbr"]
    if _NUMBERED.match(text, found.start()) and _reads_numbered(written):
        return False
    if not _reads(written, text, end):
        return None
    return _keeps_period(written, _reading(written, text, end), text, end)


def _range_ends_sentence(text: str, end: int) -> bool | None:
    """Whether a period just before ``end`` in a day or month range ends the sentence: only at
    the end of the range, before a capital or the end of the text; None outside ranges."""
    for match in _RANGE.finditer(text, max(0, end - _RANGE_REACH), end + _RANGE_REACH):
        if match.start() < end <= match.end():
            return match.end() == end and ends_sentence(text, end)
    return None


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


def _reads_numbered(written: str) -> bool:
    """Whether an abbreviation that leads a number is read as written: a month only when
    capitalized ("Jan. 5", not "jan. 5")."""
    return not (written.lower() in MONTHS and written[0].islower())


def _expand_numbered(match: re.Match[str]) -> str:
    written = match["abbr"]
    if not _reads_numbered(written):
        return match[0]
    return match_case(BEFORE_NUMBER[written.lower()], written)


def _reads(written: str, text: str, end: int) -> bool:
    """Whether the abbreviation ``written``, its period ending at ``end``, is read aloud: titles
    and days only when capitalized, and "Sun." not when it ends a sentence ("the Sun.")."""
    key = written.lower()
    if key not in CAPITALIZED and key not in ANY_CASE:
        return False
    if key in CAPITALIZED and written[0].islower():
        return False
    return not (key == "sun" and ends_sentence(text, end))


def _reading(written: str, text: str, end: int) -> str:
    key = written.lower()
    words = CAPITALIZED.get(key) or ANY_CASE[key]
    if key == "st" and not capital_next(text, end):
        words = "street"  # "Baker St." and "St. Louis"
    return match_case(words, written)


def _keeps_period(written: str, words: str, text: str, end: int) -> bool:
    """Whether the period after ``written``, read as ``words``, also ends the sentence."""
    key = written.lower()
    return key in SENTENCE_ENDERS and words.lower() != "saint" and ends_sentence(text, end)


def _expand_abbreviation(match: re.Match[str]) -> str:
    text, end, written = match.string, match.end(), match["abbr"]
    if not _reads(written, text, end):
        return match[0]
    words = _reading(written, text, end)
    if _keeps_period(written, words, text, end):
        return words + "."
    return words + " " if text[end : end + 1].isalpha() else words

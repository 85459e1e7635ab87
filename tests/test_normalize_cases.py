"""Normalization case by case: each written text and the exact words it must become.

Every rule of ``docs/text.md`` has cases here, so removing or changing a rule fails a case:
phone numbers, units, abbreviations, dates, web and e-mail addresses, emoji, and the numbers,
money, times and ordinals that came before them. The emoji note is checked from the pure
function (returned, never logged) to the engine (logged once).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from autovoice.text import Normalized, TextFrontEnd, normalize_text, normalize_with_notes

PHONES = [
    ("Call 555-123-4567 now.", "Call five five five, one two three, four five six seven now."),
    ("Call (555) 123-4567.", "Call five five five, one two three, four five six seven."),
    ("555.123.4567", "five five five, one two three, four five six seven"),
    ("+1 555 123 4567", "plus one, five five five, one two three, four five six seven"),
    ("+1 (555) 123-4567", "plus one, five five five, one two three, four five six seven"),
    ("+44 20 7946 0958", "plus four four, two zero, seven nine four six, zero nine five eight"),
    ("1-800-555-1234", "one, eight zero zero, five five five, one two three four"),
    ("+15551234567", "plus one five five five one two three four five six seven"),
    (
        "555-123-4567 ext. 89",
        "five five five, one two three, four five six seven, extension eight nine",
    ),
    ("Tel. 555-010-2030", "Telephone five five five, zero one zero, two zero three zero"),
    ("Dial ext. 204.", "Dial extension two zero four."),
]

UNITS = [
    ("1 km", "one kilometer"),
    ("5 kg", "five kilograms"),
    ("-3 °C", "minus three degrees Celsius"),
    ("-3°C", "minus three degrees Celsius"),
    ("It was −3 °C.", "It was minus three degrees Celsius."),
    ("1 °F today", "one degree Fahrenheit today"),
    ("98.6 °F", "ninety-eight point six degrees Fahrenheit"),
    ("a 90° turn", "a ninety degrees turn"),
    ("50%", "fifty percent"),
    ("0.5% fat", "zero point five percent fat"),
    ("60 mph", "sixty miles per hour"),
    ("100 km/h", "one hundred kilometers per hour"),
    ("1 km/h", "one kilometer per hour"),
    ("10 m/s", "ten meters per second"),
    ("5 s", "five seconds"),
    ("5s", "fives"),
    ("250 ms", "two hundred and fifty milliseconds"),
    ("1 h or 2 h", "one hour or two hours"),
    ("1.5 GB", "one point five gigabytes"),
    ("16 GB of RAM and 512 MB", "sixteen gigabytes of RAM and five hundred and twelve megabytes"),
    ("1 ft", "one foot"),
    ("6 ft", "six feet"),
    ("It is 5 m.", "It is five meters."),
    ("12 cm and 3 mm", "twelve centimeters and three millimeters"),
    ("2 lb or 1 lb", "two pounds or one pound"),
    ("200 mg", "two hundred milligrams"),
    ("5g", "five grams"),
    ("2024 km", "two thousand and twenty-four kilometers"),
    ("1,500 kg", "one thousand five hundred kilograms"),
    ("1 min, 3 min", "one minute, three minutes"),
    ("2 L", "two liters"),
    ("440 Hz", "four hundred and forty hertz"),
]

ABBREVIATIONS = [
    ("Fri.", "Friday."),
    ("See you Mon. at noon.", "See you Monday at noon."),
    ("Open Mon.-Fri.", "Open Monday to Friday."),
    ("Jan.–Dec.", "January to December."),
    ("Sat. and Sun., both", "Saturday and Sunday, both"),
    ("We saw the Sun.", "We saw the Sun."),
    ("Vol. 3", "Volume three"),
    ("see pp. 10-12", "see pages ten to twelve"),
    ("see p. 7", "see page seven"),
    ("Fig. 3", "Figure three"),
    ("e.g. this, i.e. that, etc.", "for example this, that is that, et cetera."),
    ("cats vs. dogs", "cats versus dogs"),
    ("Dr. Who and dr. who", "Doctor Who and dr. who"),
    ("Mr. and Mrs. Smith", "Mister and Missus Smith"),
    ("on Main St.", "on Main Street."),
    ("St. Louis", "Saint Louis"),
    ("Smith Rd.", "Smith Road."),
    ("No. 5", "Number five"),
    ("approx. 5 kg", "approximately five kilograms"),
]

DATES = [
    ("Jan. 2nd", "January second"),
    ("Dec. 25", "December twenty-fifth"),
    ("May 3, 1999", "May third, nineteen ninety-nine"),
    ("March 15th", "March fifteenth"),
    ("Jan 31", "January thirty-first"),
    ("in May 2024", "in May twenty twenty-four"),
]

ADDRESSES = [
    ("https://example.com/docs", "example dot com slash docs"),
    ("Visit www.example.com.", "Visit w w w dot example dot com."),
    ("Try example.org/faq/", "Try example dot org slash faq"),
    ("GitHub.com", "GitHub dot com"),
    (
        "http://example.com:8080/a_b?q=1",
        "example dot com colon eight zero eight zero slash a underscore b question mark q equals"
        " one",
    ),
    ("jane.doe@example.org", "jane dot doe at example dot org"),
    ("Write to jane.doe@example.org.", "Write to jane dot doe at example dot org."),
    (
        "john_smith+tts@mail.example.co.uk",
        "john underscore smith plus tts at mail dot example dot co dot uk",
    ),
]

EMOJI = [
    ("Great job 🎉!", "Great job!"),
    ("👍🏽 ok", "ok"),
    ("Hi 🇫🇷 😀😀", "Hi"),
]

EARLIER = [
    ("I have 42 cats and 1,000,000 dogs.", "I have forty-two cats and one million dogs."),
    ("In 1999 and 2024.", "In nineteen ninety-nine and twenty twenty-four."),
    ("$5.50", "five dollars, fifty cents"),
    ("£3.50 and €1", "three pounds, fifty pence and one euro"),
    ("The 21st century", "The twenty-first century"),
    ("Meet at 3:30 p.m.", "Meet at three thirty PM."),
    ("#1 fan", "number one fan"),
    ("The 1990s", "The nineteen nineties"),
    ("It fell to -5 degrees.", "It fell to minus five degrees."),
    ("Pi is 3.14.", "Pi is three point one four."),
    ("007", "zero zero seven"),
    ("Rock & roll + jazz = fun @ home", "Rock and roll plus jazz equals fun at home"),
    ("hello , world ( aside ) !", "hello, world aside!"),
]

CASES = PHONES + UNITS + ABBREVIATIONS + DATES + ADDRESSES + EMOJI + EARLIER
GUIDE = Path(__file__).resolve().parents[1] / "docs" / "text.md"


def test_there_are_enough_cases():
    assert len(CASES) >= 60
    assert len({text for text, _ in CASES}) == len(CASES), "a case is listed twice"


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_normalize_case(text, expected):
    assert normalize_text(text) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_every_case_is_a_fixed_point(text, expected):
    assert normalize_text(expected) == expected


def test_dropped_emoji_are_returned_as_notes():
    assert normalize_with_notes("Hi 🇫🇷 😀, 😀 and 👍🏽!") == Normalized(
        text="Hi, and!",
        notes=("dropped emoji 🇫🇷", "dropped emoji 😀", "dropped emoji 👍🏽"),
    )
    assert normalize_with_notes("No emoji; 中文 is not one.").notes == ()


def test_the_front_end_passes_the_notes_on_and_logs_nothing(caplog):
    front_end = TextFrontEnd()
    with caplog.at_level(logging.DEBUG):
        tokens = front_end.process("Good news 🎉.")
        batch = front_end.batch(["One 🎉.", "Two 😀 🎉.", "Three."])
    assert tokens.text == "good news." and tokens.notes == ("dropped emoji 🎉",)
    assert batch["notes"] == ("dropped emoji 🎉", "dropped emoji 😀")
    assert TextFrontEnd(normalize=False).process("Good news 🎉.").notes == ()
    assert caplog.records == []


def test_the_engine_logs_the_emoji_note_once(caplog):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("espeakng_loader")
    from autovoice.bundle import default_voice_path
    from autovoice.inference import VoiceInferenceEngine

    if default_voice_path() is None:
        pytest.skip("no default voice installed")
    engine = VoiceInferenceEngine(None, backend="onnxruntime")
    with caplog.at_level(logging.INFO, logger="autovoice.inference"):
        wave = engine.synthesize_speech("Good news 🎉 and more 😀.")
    notes = [r for r in caplog.records if r.name == "autovoice.inference.engine"]
    assert wave.size > 0
    assert len(notes) == 1 and notes[0].levelno == logging.INFO
    assert "dropped emoji 🎉" in notes[0].getMessage()
    assert "dropped emoji 😀" in notes[0].getMessage()


def test_the_guide_table_and_snippets_hold():
    guide = GUIDE.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(.+)` \| `(.+)` \|$", guide, re.MULTILINE)
    assert len(rows) >= 9
    for written, spoken in rows:
        assert normalize_text(written) == spoken
    for snippet in re.findall(r"```python\n(.*?)```", guide, re.DOTALL):
        exec(compile(snippet, str(GUIDE), "exec"), {})

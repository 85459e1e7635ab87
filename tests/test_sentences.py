"""Sentence splitting agrees with normalization: a period that normalization reads with its
abbreviation ("p. 7", "Jan. 5", "Dr. Smith") never ends a sentence, so every sentence the engine
synthesizes on its own reads as it would within the whole text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autovoice.inference import split_sentences
from autovoice.text import abbreviation_ends_sentence, normalize_text

SPLITS = [
    ("See p. 7 and Vol. 3, ext. 12. Then stop.", ["See p. 7 and Vol. 3, ext. 12.", "Then stop."]),
    ("It opens Jan. 5 at noon. Be there.", ["It opens Jan. 5 at noon.", "Be there."]),
    ("Read pp. 10-12. Then No. 5 and Fig. 3.", ["Read pp. 10-12.", "Then No. 5 and Fig. 3."]),
    ("Ask Dr. Who, e.g. Ms. Lee.", ["Ask Dr. Who, e.g. Ms. Lee."]),
    ("Go to St. Louis. Then Baker St.", ["Go to St. Louis.", "Then Baker St."]),
    ("Open Mon. - Fri. Closed Sat. We rest.", ["Open Mon. - Fri.", "Closed Sat.", "We rest."]),
    ("We met Acme Inc. The end.", ["We met Acme Inc.", "The end."]),
    ("It took 5 ms. Then 3 ft. More.", ["It took 5 ms.", "Then 3 ft.", "More."]),
    ("The answer is no. We left.", ["The answer is no.", "We left."]),
    ("Watch the Sun. It shines.", ["Watch the Sun.", "It shines."]),
]
"""Texts and their sentences: a unit ("ms.", "ft.") and a word that is no abbreviation here
("no." before no number, "the Sun.") end a sentence, as they keep their period when normalized."""


@pytest.mark.parametrize(("text", "sentences"), SPLITS)
def test_sentences_end_only_where_normalization_keeps_the_period(text, sentences):
    assert split_sentences(text) == sentences


@pytest.mark.parametrize(("text", "sentences"), SPLITS)
def test_sentences_normalize_as_the_whole_text_does(text, sentences):
    assert " ".join(normalize_text(s) for s in split_sentences(text)) == normalize_text(text)


def test_the_examples_read_as_the_normalizer_reads_them():
    first, second = split_sentences("See p. 7 and Vol. 3, ext. 12. Then stop.")
    assert normalize_text(first) == "See page seven and Volume three, extension one two."
    assert normalize_text(second) == "Then stop."
    first, second = split_sentences("It opens Jan. 5 at noon. Be there.")
    assert normalize_text(first) == "It opens January fifth at noon."
    assert normalize_text(second) == "Be there."


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("Dr.", " Smith", False),
        ("see p.", " 7", False),
        ("Jan.", " 5", False),
        ("Vol.", " 3", False),
        ("ext.", " 12", False),
        ("e.g.", " X", False),
        ("St.", " Louis", False),
        ("Mon.", " - Fri.", False),
        ("Mon. - Fri.", " Then", True),
        ("etc.", " Then", True),
        ("Acme Co.", "", True),
        ("p.", " Then", None),
        ("jan.", " 5", None),
        ("dr.", " Then", None),
        ("5 km.", " Then", None),
        ("the Sun.", " Then", None),
    ],
)
def test_the_text_package_says_which_periods_end_a_sentence(before, after, expected):
    assert abbreviation_ends_sentence(before + after, len(before)) is expected


WORDS = [
    *("Dr.", "dr.", "Ms.", "ms.", "St.", "p.", "pp.", "Vol.", "ext.", "Fig.", "No.", "no."),
    *("Jan.", "jan.", "Sept.", "Mar.", "Mon.", "Fri.", "Sun.", "etc.", "Inc.", "Jr.", "e.g."),
    *("J.", "U.S.", "km.", "Mon. - Fri.", "Jan. - Mar.", "Mon.-Fri."),
    *("5", "12.", "7", "Then", "the", "Smith", "stop.", "Go!", "end?", "so,", '"Hi."', "(see"),
]


@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12))
def test_any_text_of_abbreviations_normalizes_the_same_split_or_whole(words):
    text = " ".join(words)
    sentences = split_sentences(text)
    assert " ".join(normalize_text(s) for s in sentences) == normalize_text(text)

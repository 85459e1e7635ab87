"""The sentence grammar and the corpus distilled from a teacher voice (a stand-in teacher here)."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from autovoice.corpus import load_sentences
from autovoice.corpus.demo import CorpusError
from autovoice.corpus.distill import (
    corpus_sentences,
    load_heldout,
    load_reading,
    load_teacher,
    make_distilled_corpus,
)
from autovoice.corpus.generate import generate_sentences
from autovoice.data.reader import scan_corpus


class ToneTeacher:
    """Speaks every text as a tone whose length grows with the text, padded with silence."""

    name = "tone"
    sample_rate = 16000

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.spoken: list[tuple[str, int]] = []

    def speak(self, text: str, seed: int) -> np.ndarray:
        self.spoken.append((text, seed))
        n = 400 * len(text)
        tone = 0.5 * np.sin(2 * np.pi * 220 * np.arange(n) / self.sample_rate)
        return np.concatenate([np.zeros(8000), tone, np.zeros(8000)]).astype(np.float32)

    def describe(self) -> str:
        return "a test tone"


def test_grammar_is_seeded_distinct_and_english() -> None:
    first = generate_sentences(400, np.random.default_rng(7))
    assert first == generate_sentences(400, np.random.default_rng(7))
    assert first != generate_sentences(400, np.random.default_rng(8))
    assert len(set(first)) == 400
    assert all(s[0].isupper() and s[-1] in ".?!" for s in first)
    assert sum(s.endswith("?") for s in first) > 20  # questions as well as statements
    assert sum(any(c.isdigit() for c in s) for s in first) > 40  # numbers to normalize
    assert "{" not in "".join(first)  # every slot filled


def test_grammar_rejects_negative_count() -> None:
    with pytest.raises(ValueError, match="count"):
        generate_sentences(-1, np.random.default_rng(0))


def test_heldout_sentences_never_reach_a_corpus() -> None:
    held = {s.casefold() for s in load_heldout()}
    chosen = corpus_sentences(3000, 0)
    assert len(chosen) > 3000  # built-in sentences plus generated ones
    assert not held & {s.casefold() for s in chosen}
    assert set(load_sentences()) <= set(chosen)


def test_reading_sentences_widen_the_vocabulary_and_skip_heldout() -> None:
    import re

    from autovoice.text import normalize_text

    def vocabulary(sentences: list[str]) -> set[str]:
        return {w for s in sentences for w in re.findall(r"[a-z']+", normalize_text(s).lower())}

    reading = load_reading()
    assert len(reading) > 1500 and len(set(reading)) == len(reading)
    assert all(s[0].isupper() and s[-1] in ".?!" for s in reading)
    assert not {s.casefold() for s in load_heldout()} & {s.casefold() for s in reading}
    grammar = generate_sentences(4000, np.random.default_rng(0))
    assert len(vocabulary(reading)) > 3 * len(vocabulary(grammar + load_sentences()))
    assert set(reading) <= set(corpus_sentences(10, 0))
    assert not set(reading) & set(corpus_sentences(10, 0, builtin=False))


def test_distilled_corpus_is_an_ordinary_corpus(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from autovoice.config import parse_config

    teacher = ToneTeacher()
    report = make_distilled_corpus(
        tmp_path / "c", teacher=teacher, generated=12, builtin=False, sample_rate=8000
    )
    assert report.utterances == 12
    assert [seed for _, seed in teacher.spoken] == list(range(12))  # one seed per utterance
    assert all(not any(c.isdigit() for c in text) for text, _ in teacher.spoken)  # normalized
    lines = (tmp_path / "c" / "metadata.csv").read_text().splitlines()
    assert len(lines) == 12 and lines[0].startswith("tone_00001|")
    speakers = json.loads((tmp_path / "c" / "speakers.json").read_text())
    assert speakers["0"]["name"] == "tone"
    data = parse_config({"data": {"corpus": str(tmp_path / "c")}}).data
    scanned = scan_corpus(data).report
    assert scanned.utterances == 12 and not scanned.bad
    # trimmed: the 1 s of silence around each tone is cut to a short margin
    expected = sum(400 * len(text) / 16000 + 0.16 for text, _ in teacher.spoken) / 3600
    assert report.hours == pytest.approx(expected, rel=0.05)


def test_third_party_teacher_by_module_path(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    module = types.ModuleType("fake_teacher_mod")
    module.make = ToneTeacher  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_teacher_mod", module)
    teacher = load_teacher("fake_teacher_mod:make", threads=3)
    assert isinstance(teacher, ToneTeacher) and teacher.threads == 3


def test_teacher_errors_name_the_problem(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CorpusError, match="unknown 'nobody'"):
        load_teacher("nobody")
    with pytest.raises(CorpusError, match="cannot load 'no_such_module_xyz:f'"):
        load_teacher("no_such_module_xyz:f")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(CorpusError, match="not empty"):
        make_distilled_corpus(tmp_path / "full", teacher=ToneTeacher(), generated=1)


def test_missing_hibari_says_what_to_install(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "hibari", None)  # import fails as if not installed
    with pytest.raises(CorpusError, match=r"autovoice\[teacher\]"):
        load_teacher("hibari")

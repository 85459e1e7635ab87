"""A new speaker's corpus from another hibari voice: ``--teacher hibari/VOICE`` (a stand-in
hibari module here; the real one fetches its other voices on first use)."""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import pytest

from autovoice.corpus.demo import CorpusError
from autovoice.corpus.distill import load_teacher


@pytest.fixture
def hibari(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []

    class Hibari:
        sample_rate = 24000

        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)

        def __call__(self, text: str, seed: int) -> np.ndarray:
            return np.zeros(10, np.float32)

    package = types.ModuleType("hibari")
    package.Hibari = Hibari  # type: ignore[attr-defined]
    voices = types.ModuleType("hibari.voices")
    voices.VOICES = {"heart": {}, "kore": {}}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "hibari", package)
    monkeypatch.setitem(sys.modules, "hibari.voices", voices)
    monkeypatch.setattr("importlib.metadata.version", lambda _name: "0.2.1")
    return made


def test_a_hibari_voice_is_chosen_by_name(hibari: list[dict[str, Any]]) -> None:
    teacher = load_teacher("hibari/kore", threads=2)
    assert hibari == [{"threads": 2, "voice": "kore"}]
    assert teacher.name == "hibari-kore" and "voice kore" in teacher.describe()
    default = load_teacher("hibari")
    assert hibari[-1] == {"threads": 1} and default.name == "hibari"


def test_an_unknown_hibari_voice_lists_the_voices(hibari: list[dict[str, Any]]) -> None:
    with pytest.raises(CorpusError, match="no voice 'nobody'; voices: heart, kore"):
        load_teacher("hibari/nobody")
    with pytest.raises(CorpusError, match="unknown 'hibari/'"):
        load_teacher("hibari/")
    assert hibari == []

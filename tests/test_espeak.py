"""The eSpeak NG binding (autovoice.espeak): phonemes, speech, variants and errors."""

from __future__ import annotations

import string
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from autovoice import espeak
from autovoice.espeak import EspeakError, list_variants, phonemize, synthesize

# ASCII letters that are also IPA symbols; eSpeak's IPA never uses c, g (it writes ɡ), q, x, y
IPA_ASCII = set("abdefhijklmnoprstuvwz")


def rms(wave: np.ndarray) -> float:
    return float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))


def test_phonemize_gives_ipa_words_with_stress() -> None:
    ipa = phonemize("hello world")
    assert ipa.split() and len(ipa.split()) == 2
    assert "ˈ" in ipa
    ascii_letters = {c for c in ipa if c in string.ascii_letters}
    assert ascii_letters <= IPA_ASCII, ascii_letters
    assert any(ord(c) > 127 and c not in "ˈˌ" for c in ipa), "no IPA-only symbol"
    assert ipa != "hello world"


def test_phonemize_ignores_case_and_grows_with_text() -> None:
    assert phonemize("Hello World") == phonemize("hello world")
    short, long = phonemize("the cat"), phonemize("the cat sat on the warm mat by the door")
    assert len(long.split()) > len(short.split())


def test_phonemize_keeps_clause_punctuation_and_drops_the_rest() -> None:
    ipa = phonemize('Hello, world! Is it "raining"? Yes (a little).')
    assert ipa.count(",") == 1 and ipa.count("!") == 1 and ipa.count("?") == 1
    assert ipa.endswith(".")
    assert not set(ipa) & set('"()')
    words = ipa.split()
    assert words[0].endswith(",") and words[1].endswith("!")
    assert phonemize("!!!") == ""


def test_phonemize_other_language() -> None:
    assert phonemize("bonjour", "fr") != phonemize("bonjour", "en-us")


def test_phonemize_is_thread_safe() -> None:
    texts = [f"number {n} is not {n + 1}" for n in range(12)]
    expected = [phonemize(text) for text in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(phonemize, texts)) == expected


def test_synthesize_returns_audible_mono_float32() -> None:
    wave, sample_rate = synthesize("Audio for a test.")
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert sample_rate >= 8000
    assert np.abs(wave).max() <= 1.0
    assert rms(wave) > 0.01
    assert 0.3 < wave.size / sample_rate < 5.0


def test_synthesize_duration_grows_with_text() -> None:
    short, sr = synthesize("One word.")
    long, _ = synthesize("One word, then many more words in a much longer sentence than before.")
    assert long.size > 2 * short.size
    assert sr == synthesize("x")[1]


def test_synthesize_settings_matter() -> None:
    text = "Speaking at a steady pace."
    normal, _ = synthesize(text, rate=175)
    fast, _ = synthesize(text, rate=300)
    assert fast.size < 0.8 * normal.size
    low, _ = synthesize(text, pitch=10)
    assert np.abs(low[: normal.size] - normal[: low.size]).mean() > 0.01
    quiet, _ = synthesize(text, volume=50)
    assert rms(quiet) < 0.75 * rms(normal)


SPEAK_TWICE = """
import hashlib
from autovoice.espeak import synthesize
for voice in ("en-us", "en-us+klatt3", "en-us+f2"):
    for text in ("A first sentence, with breath.", "And a second one."):
        wave, rate = synthesize(text, voice, rate=160, pitch=40)
        print(voice, rate, hashlib.sha256(wave.tobytes()).hexdigest())
"""


def test_same_calls_in_a_fresh_process_give_identical_audio() -> None:
    runs = [
        subprocess.run(
            [sys.executable, "-c", SPEAK_TWICE], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    hashes = [line.split()[-1] for line in runs[0].splitlines()]
    assert len(hashes) == 6 and len(set(hashes)) == 6


def test_variants_sound_different() -> None:
    text = "The same words in two voices."
    a, _ = synthesize(text, "en-us+klatt3")
    b, _ = synthesize(text, "en-us+f2")
    n = min(a.size, b.size)
    assert a.size != b.size or not np.array_equal(a, b)
    assert np.abs(a[:n] - b[:n]).mean() > 0.01


def test_list_variants() -> None:
    variants = list_variants()
    assert variants == sorted(variants)
    assert {"klatt", "klatt3", "f2", "m6"} <= set(variants)


@pytest.mark.parametrize("voice", ["xx-nolanguage", "en-us+novariant", "en-us+../f2"])
def test_unknown_voice_is_named(voice: str) -> None:
    with pytest.raises(EspeakError, match="unknown eSpeak NG voice") as info:
        synthesize("hello", voice)
    assert voice.partition("+")[2 if "+" in voice else 0] in str(info.value)
    with pytest.raises(EspeakError):
        phonemize("hello", voice)
    assert synthesize("hello")[0].size > 0  # the engine still works afterwards


@pytest.mark.parametrize(
    "settings", [{"rate": 10}, {"rate": 1000}, {"pitch": -1}, {"pitch_range": 101}, {"volume": 201}]
)
def test_out_of_range_settings_are_errors(settings: dict[str, int]) -> None:
    name = next(iter(settings))
    with pytest.raises(EspeakError, match=name):
        synthesize("hello", **settings)


def test_missing_library_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(espeak, "_engine", None)
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    with pytest.raises(EspeakError, match="pip install espeakng-loader"):
        phonemize("hello")

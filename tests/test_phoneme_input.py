"""Inline phonemes ``[[ ... ]]`` and a user lexicon reach the tokens as the voice's symbols, and
change the audio as they should; unknown symbols and malformed lexicon lines are named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autovoice.cli import main
from autovoice.inference import VoiceInferenceEngine
from autovoice.text import TextError, TextFrontEnd, phonemes_table
from autovoice.text.inline import parse_lexicon

CHARS = TextFrontEnd(symbols="characters")


def decoded(front: TextFrontEnd, text: str) -> str:
    return front.table.decode(front.process(text).ids)


def test_inline_symbols_are_the_tokens_with_or_without_spaces() -> None:
    assert decoded(CHARS, "say [[ h e l o ]] now") == "say helo now"
    assert decoded(CHARS, "say [[helo]] now") == "say helo now"
    words = CHARS.process("say [[ h e l o ]] now.", words=True).words
    assert [w.text for w in words] == ["say", "h e l o", "now"]
    assert decoded(CHARS, "say hello now") == "say hello now"  # no block: as before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("say [[ h Q ]]", r"unknown phoneme 'Q' at character 10"),
        ("say [[ h e", r"the \[\[ at character 5 has no closing \]\]"),
        ("say ]] now", r"the \]\] at character 5 closes no \[\["),
        ("say [[ ]] now", "empty phonemes"),
    ],
)
def test_bad_blocks_are_named(text: str, message: str) -> None:
    with pytest.raises(TextError, match=message):
        CHARS.process(text)


def test_the_lexicon_replaces_its_words_ignoring_case() -> None:
    lexicon = parse_lexicon("# names\nautovoice\to t o\n\nNASA\tn a s a\n", CHARS.table, "w.tsv")
    front = TextFrontEnd(symbols="characters", lexicon=lexicon)
    assert decoded(front, "AutoVoice and nasa, autovoices.") == "oto and nasa, autovoices."
    assert [w.text for w in front.process("AutoVoice talks", words=True).words] == [
        "AutoVoice",
        "talks",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("word phonemes\n", "w.tsv, line 1: expected word<TAB>phonemes"),
        ("ok\to k\n\tk\n", "w.tsv, line 2: the word must be one word"),
        ("ok\to k\nok\tk\n", r"w.tsv, line 2: 'ok' is already in the lexicon \(line 1\)"),
        ("# c\nok\to Q\n", "w.tsv, line 2: unknown phoneme 'Q' at character 6"),
        ("ok\t \n", "w.tsv, line 1: empty phonemes"),
    ],
)
def test_malformed_lexicon_lines_are_named(content: str, message: str) -> None:
    with pytest.raises(TextError, match=message):
        parse_lexicon(content, CHARS.table, "w.tsv")


@pytest.fixture(scope="module")
def engine() -> VoiceInferenceEngine:
    pytest.importorskip("onnxruntime")
    return VoiceInferenceEngine(None, backend="onnxruntime", threads=1)


def test_phonemes_reach_the_voice_and_its_audio(engine: VoiceInferenceEngine) -> None:
    front = engine.front_end
    plain = front.process("Say hello to him.")
    inline = front.process("Say [[ h ə l oʊ ]] to him.")
    assert "həloʊ" in inline.text and "həloʊ" not in plain.text
    table = phonemes_table()
    assert front.table.decode(inline.ids).split()[1] == "həloʊ"
    assert all(symbol in table for symbol in "həloʊ")
    long_block = "Say [[ h ə ə ə l l l oʊ ʊ ʊ ʊ ]] to him."
    short = engine.synthesize_speech("Say [[ h ə l oʊ ]] to him.")
    longer = engine.synthesize_speech(long_block)
    assert len(longer) > len(short)  # more symbols, more frames
    assert not np.array_equal(engine.synthesize_speech("Say [[ b ɑː ]] to him."), short)


def test_the_cli_lexicon(tmp_path: Path, engine: VoiceInferenceEngine) -> None:
    lexicon = tmp_path / "words.tsv"
    lexicon.write_text("tomato\tt ə m ɑː t oʊ\n", encoding="utf-8")
    out = tmp_path / "out.wav"
    assert main(["synthesize", "A tomato.", "-o", str(out), "--lexicon", str(lexicon)]) == 0
    with_lexicon = VoiceInferenceEngine(None, backend="onnxruntime", lexicon=lexicon)
    assert "təmɑːtoʊ" in with_lexicon.front_end.process("A tomato.").text
    assert "təmɑːtoʊ" not in engine.front_end.process("A tomato.").text
    lexicon.write_text("tomato t ə m\n", encoding="utf-8")
    assert main(["synthesize", "A tomato.", "-o", str(out), "--lexicon", str(lexicon)]) == 1
    assert main(["synthesize", "A tomato.", "-o", str(out), "--lexicon", str(tmp_path)]) == 1

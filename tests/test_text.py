"""The text front end: normalization, symbol tables, padding and masks, batches, phonemes."""

from __future__ import annotations

import json
import string
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autovoice.config import TextConfig
from autovoice.errors import AutovoiceError
from autovoice.text import (
    PAD,
    SymbolTable,
    TextError,
    TextFrontEnd,
    characters_table,
    length_mask,
    normalize_text,
    pad_sequences,
    phonemes_table,
    unpad,
)

# --- normalization ----------------------------------------------------------------------------

NORMALIZED = [
    (
        "Dr. Smith paid $5.50 on the 3rd of May, 1999.",
        "Doctor Smith paid five dollars, fifty cents on the third of May, nineteen ninety-nine.",
    ),
    ("It’s “quoted” — really–truly", "It's quoted - really-truly"),
    (
        "Mr. and Mrs. Jones vs. the St. Louis Co.",
        "Mister and Missus Jones versus the Saint Louis Company.",
    ),
    ("He lives on Baker St.", "He lives on Baker Street."),
    ("e.g. apples, i.e. fruit, etc.", "for example apples, that is fruit, et cetera."),
    ("DR. WHO and dr. who", "DOCTOR WHO and dr. who"),
    ("Mr.Smith", "Mister Smith"),
    ("No. 5, but say no.", "Number five, but say no."),
    ("Jan. 2nd", "January second"),
    ("I have 42 cats and 1,000,000 dogs.", "I have forty-two cats and one million dogs."),
    ("The 1st, 22nd and 101st.", "The first, twenty-second and one hundred and first."),
    ("In 1999 and 2024.", "In nineteen ninety-nine and twenty twenty-four."),
    (
        "1900 and 1066 and 2005",
        "nineteen hundred and one thousand and sixty-six and two thousand and five",
    ),
    ("Pi is 3.14.", "Pi is three point one four."),
    ("It fell to -5 degrees.", "It fell to minus five degrees."),
    ("12% and 12.5 %", "twelve percent and twelve point five percent"),
    ("$1 $0.99 $1.01", "one dollar ninety-nine cents one dollar, one cent"),
    ("$2.5 million", "two point five million dollars"),
    ("£3.50 and €1 and ¥500", "three pounds, fifty pence and one euro and five hundred yen"),
    ("Meet at 3:30, 3:05 or 3:00.", "Meet at three thirty, three oh five or three o'clock."),
    ("Call at 7 p.m.", "Call at seven PM."),
    ("Call at 9:15am today", "Call at nine fifteen AM today"),
    ("Rock & roll + jazz = fun @ home", "Rock and roll plus jazz equals fun at home"),
    ("#1 fan", "number one fan"),
    ("The 1990s and '80s.", "The nineteen nineties and eighties."),
    ("COVID19 and mp3", "COVID nineteen and mp three"),
    ("007", "zero zero seven"),
    ("Café naïve façade Straße", "Cafe naive facade Strasse"),
    ("hello , world ( aside ) !", "hello, world aside!"),
    ("tabs\tand\nnewlines   here", "tabs and newlines here"),
    ("emoji 😀 and 中文 dropped", "emoji and dropped"),
    ("zero\u200bwidth", "zerowidth"),
    ("١٢ arabic digits", "twelve arabic digits"),
]


@pytest.mark.parametrize(("text", "expected"), NORMALIZED)
def test_normalize_text(text, expected):
    assert normalize_text(text) == expected


def test_unknown_language_lists_supported_ones():
    with pytest.raises(TextError, match=r"'fr'.*supported: 'en'"):
        normalize_text("bonjour", language="fr")


# mostly text built from pieces that exercise every rule, plus arbitrary characters
_PIECES = st.sampled_from(
    [
        *string.printable,
        *"$£€¥%&#@’“”—–…éßæ½²١\u200b😀中",
        *["Mr.", "St.", "No.", "Jan.", "e.g.", "a.m.", "p.m", "1st", "3:30", "$5.50", "1990s"],
        *["'90s", ",000", ".5", " ", " -", "Co. ", "etc."],
        *["555-123-4567", "(555) ", "+1 ", "ext. ", " kg", "°C", "km/h", " s", "https://"],
        *["www.", ".com", "/docs", "jane.doe@", "Mon.", "-Fri.", "Sun.", "May ", "pp. ", "👍🏽"],
    ]
)
_TEXT = st.one_of(st.lists(_PIECES, max_size=20).map("".join), st.text(max_size=40))


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_normalize_is_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_normalized_text_uses_only_character_symbols(text):
    _ids, unknown = characters_table(cased=True).encode(normalize_text(text))
    assert unknown == Counter()


# --- symbol tables ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table", [characters_table(), characters_table(cased=True), phonemes_table()]
)
def test_table_layout_and_dict_round_trip(table):
    assert table.symbols[0] == PAD and table.pad_id == 0
    assert len(set(table.symbols)) == len(table) == len(table.symbols)
    assert [table.id_of(symbol) for symbol in table.symbols[1:]] == list(range(1, len(table)))
    restored = SymbolTable.from_dict(json.loads(json.dumps(table.to_dict())))
    assert restored == table
    assert restored.encode("a b")[0].tolist() == table.encode("a b")[0].tolist()


_ALPHABET = characters_table().symbols[1:]


@given(st.lists(st.sampled_from(_ALPHABET)).map("".join))
def test_encode_decode_round_trip(text):
    table = characters_table()
    ids, unknown = table.encode(text)
    assert ids.dtype == np.int64 and len(ids) == len(text)
    assert unknown == Counter()
    assert table.decode(ids) == text


def test_unknown_symbols_are_dropped_and_counted():
    table = characters_table()
    ids, unknown = table.encode("héllo_wörld é")
    assert table.decode(ids) == "hllowrld "
    assert unknown == Counter({"é": 2, "ö": 1, PAD: 1})


def test_decode_skips_pads_and_rejects_foreign_ids():
    table = characters_table()
    ids, _ = table.encode("hi")
    assert table.decode([0, *ids.tolist(), 0, 0]) == "hi"
    with pytest.raises(TextError, match="id 999"):
        table.decode([999])
    with pytest.raises(TextError, match="'é'"):
        table.id_of("é")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "characters"}, "missing field 'symbols'"),
        ({"symbols": ["_", "a"]}, "missing field 'kind'"),
        ({"kind": "characters", "symbols": ["_", "a"], "extra": 1}, "unknown field.*'extra'"),
        ({"kind": "letters", "symbols": ["_", "a"]}, "field 'kind'.*'letters'"),
        ({"kind": "characters", "symbols": "_a"}, "field 'symbols' must be a list"),
        ({"kind": "characters", "symbols": ["a", "_"]}, "field 'symbols' must start with the pad"),
        ({"kind": "characters", "symbols": ["_", "a", "a"]}, "field 'symbols' repeats 'a'"),
        ({"kind": "characters", "symbols": ["_", 3]}, "field 'symbols'.*entry 1"),
        ({"kind": "characters", "symbols": ["_", ""]}, "field 'symbols'.*entry 1"),
        (["_", "a"], "expected a mapping"),
    ],
)
def test_from_dict_names_the_bad_field(data, field):
    with pytest.raises(TextError, match=field):
        SymbolTable.from_dict(data)


# --- padding and masks ------------------------------------------------------------------------

_SEQS = st.lists(st.lists(st.integers(1, 200), max_size=12), max_size=6)


@given(_SEQS, st.integers(1, 8), st.integers(-3, 3))
def test_pad_unpad_round_trip(lists, multiple_of, pad_id):
    seqs = [np.asarray(values, dtype=np.int64) for values in lists]
    padded, lengths = pad_sequences(seqs, pad_id=pad_id, multiple_of=multiple_of)
    width = max((len(seq) for seq in seqs), default=0)
    assert padded.shape[0] == len(seqs) and padded.shape[1] % multiple_of == 0
    assert width <= padded.shape[1] < width + multiple_of
    assert lengths.dtype == np.int64 and lengths.tolist() == [len(seq) for seq in seqs]
    assert [row.tolist() for row in unpad(padded, lengths)] == lists
    mask = length_mask(lengths, padded.shape[1])
    assert mask.shape == padded.shape and mask.sum(axis=1).tolist() == lengths.tolist()
    assert np.all(padded[~mask] == pad_id)


@given(st.lists(st.integers(0, 20), max_size=8))
def test_mask_rows_are_prefixes(lengths):
    mask = length_mask(lengths)
    assert mask.shape == (len(lengths), max(lengths, default=0))
    for row, length in zip(mask, lengths, strict=True):
        assert row[:length].all() and not row[length:].any()


def test_padding_keeps_trailing_axes():
    frames = [np.ones((3, 4), np.float32), np.ones((5, 4), np.float32)]
    padded, lengths = pad_sequences(frames)
    assert padded.shape == (2, 5, 4) and padded.dtype == np.float32
    assert padded[0, 3:].sum() == 0 and lengths.tolist() == [3, 5]
    assert [part.shape for part in unpad(padded, lengths)] == [(3, 4), (5, 4)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pad_sequences([np.ones(2)], multiple_of=0), "multiple_of"),
        (lambda: pad_sequences([np.ones((2, 3)), np.ones((2, 4))]), "sequence 1"),
        (lambda: length_mask([2, 5], max_len=3), "max_len 3"),
        (lambda: length_mask([2, -1]), ">= 0"),
        (lambda: unpad(np.zeros((2, 3)), [1]), "does not match 1 lengths"),
        (lambda: unpad(np.zeros((1, 3)), [4]), "exceeds the padded width"),
    ],
)
def test_padding_errors_are_text_errors(call, message):
    with pytest.raises(TextError, match=message):
        call()


# --- the front end ----------------------------------------------------------------------------


def test_batch_shapes_and_masks():
    front_end = TextFrontEnd()
    texts = ["Hi.", "Dr. Smith paid $5.50.", "A longer sentence, with 3 words more!"]
    batch = front_end.batch(texts, multiple_of=4)
    lengths = [len(front_end.process(text).ids) for text in texts]
    assert batch["tokens"].dtype == np.int64 and batch["token_lengths"].dtype == np.int64
    assert batch["tokens"].shape == batch["token_mask"].shape
    assert batch["tokens"].shape[0] == 3 and batch["tokens"].shape[1] % 4 == 0
    assert batch["token_lengths"].tolist() == lengths
    assert batch["token_mask"].sum(axis=1).tolist() == lengths
    assert np.all(batch["tokens"][~batch["token_mask"]] == 0)
    assert batch["unknown"] == Counter()


def test_process_lowercases_and_keeps_the_normalized_text():
    tokens = TextFrontEnd().process("Dr. Smith paid $5.")
    assert tokens.text == "doctor smith paid five dollars."
    assert characters_table().decode(tokens.ids) == tokens.text
    cased = TextFrontEnd(lowercase=False).process("Dr. Who")
    assert cased.text == "Doctor Who" and cased.unknown == Counter()


def test_unknowns_are_summed_over_the_batch():
    front_end = TextFrontEnd(normalize=False)
    batch = front_end.batch(["café", "naïve é"])
    assert batch["unknown"] == Counter({"é": 2, "ï": 1})
    assert batch["token_lengths"].tolist() == [3, 5]


@pytest.mark.parametrize("text", ["", "   ", "😀 中文", "***"])
def test_nothing_to_speak_names_the_text(text):
    with pytest.raises(TextError, match=repr(text).replace("*", r"\*")):
        TextFrontEnd().process(text)


def test_text_with_no_known_symbols_names_it():
    with pytest.raises(TextError, match=r"'中文'.*no known characters"):
        TextFrontEnd(normalize=False).process("中文")


def test_front_end_settings_are_checked():
    with pytest.raises(TextError, match="supported: 'en'"):
        TextFrontEnd(language="xx")
    with pytest.raises(TextError, match="'letters'"):
        TextFrontEnd(symbols="letters")
    with pytest.raises(TextError, match="phonemes symbol table"):
        TextFrontEnd(symbols="characters", table=phonemes_table())
    assert issubclass(TextError, AutovoiceError)


def test_from_config():
    front_end = TextFrontEnd.from_config(TextConfig(symbols="phonemes", lowercase=False))
    assert front_end.symbols == "phonemes" and front_end.table == phonemes_table()
    assert not front_end.lowercase and front_end.normalize and front_end.language == "en"


def test_character_mode_loads_neither_espeak_nor_torch():
    script = (
        "import sys; from autovoice.text import TextFrontEnd; TextFrontEnd().batch(['Hi 5.']);"
        "print(sorted({'autovoice.espeak', 'torch', 'espeakng_loader'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- phonemes ---------------------------------------------------------------------------------

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Dr. Smith paid $5.50 on the 3rd of May, 1999.",
    "She sells seashells by the seashore; measure the treasure!",
    "How much wood would a woodchuck chuck if a woodchuck could chuck wood?",
    "I've been thinking about the button, the bottle and the little kitten.",
    "Rural February: squirrels, anthropology, genre, rouge and beige.",
    "Meet me at 3:30 p.m. near St. Paul's Cathedral.",
    "We sold 1,250,000 copies in the 1990s, roughly 12% of the market.",
    "Isn't it strange that we can't hear the thunder anymore?",
    "Judge the huge bridge with joy and genuine courage.",
    "Thirty-three thousand three hundred and thirty-three thistles.",
    "The vision of the azure treasure was unusual.",
    "Whether the weather is cold or hot, we will go.",
    "Cheap chips and sharp cheese make a church lunch.",
    "Yes, young yaks yawn in the yard.",
    "Our hour-long tour ended where the fire burned.",
    "Choir boys sing royal songs in the coin-operated hall.",
    "The naïve café owner served jalapeño croissants.",
    "Please call Mrs. Johnson at 7 a.m. tomorrow.",
    "Temperatures fell to -5 degrees on Jan. 2nd.",
    "Pi is approximately 3.14159, e.g. a little more than three.",
    "Mathematics, physics and chemistry are difficult subjects.",
    "The lieutenant colonel received a medal for bravery.",
    "Photographs of the pharaoh's pyramids hung on the wall.",
    "Would you rather eat an orange, a pear, or a plum?",
    "The 21st century began on January 1st, 2001.",
    "He whispered, ‘Don’t worry; everything will be fine.’",
    "Knowledge is power, and knights kneel before the king.",
    "Usually, the leisure center closes at 10:45.",
    "Zoe's zebra zigzagged through the zoo's azalea garden.",
    "Xylophones, oxen, and exams exist in excess.",
]


@pytest.fixture(scope="module")
def phoneme_batch():
    pytest.importorskip("espeakng_loader")
    front_end = TextFrontEnd(symbols="phonemes")
    return front_end, [front_end.process(text) for text in SENTENCES]


def test_phonemes_cover_ordinary_english(phoneme_batch):
    _front_end, tokens = phoneme_batch
    assert sum((item.unknown for item in tokens), Counter()) == Counter()
    for item in tokens:
        assert "ˈ" in item.text and not set(item.text) & set(string.ascii_uppercase + "0123456789")
        assert phonemes_table().decode(item.ids) == item.text


def test_phonemes_keep_clause_punctuation(phoneme_batch):
    front_end, _tokens = phoneme_batch
    tokens = front_end.process("Hello, world!")
    assert tokens.text.endswith("!") and "," in tokens.text
    assert {"ð", "ʌ", "ˈ"} <= set(front_end.process("The other one.").text)
    batch = front_end.batch(SENTENCES[:4])
    assert batch["tokens"].shape == (4, int(batch["token_lengths"].max()))
    assert batch["unknown"] == Counter()

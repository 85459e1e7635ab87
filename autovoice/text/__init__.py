"""The text front end: normalization, symbol tables, padding and masks (pure, torch-free)."""

from autovoice.text._abbreviations import abbreviation_ends_sentence
from autovoice.text.frontend import ESPEAK_VOICES, TextFrontEnd, TokenBatch, Tokens
from autovoice.text.normalize import (
    SUPPORTED_LANGUAGES,
    Normalized,
    TextError,
    normalize_text,
    normalize_with_notes,
)
from autovoice.text.symbols import PAD, SymbolTable, characters_table, phonemes_table
from autovoice.text.tokenize import length_mask, pad_sequences, unpad

__all__ = [
    "ESPEAK_VOICES",
    "PAD",
    "SUPPORTED_LANGUAGES",
    "Normalized",
    "SymbolTable",
    "TextError",
    "TextFrontEnd",
    "TokenBatch",
    "Tokens",
    "abbreviation_ends_sentence",
    "characters_table",
    "length_mask",
    "normalize_text",
    "normalize_with_notes",
    "pad_sequences",
    "phonemes_table",
    "unpad",
]

"""eSpeak NG through ctypes: text to IPA phonemes, and text to speech with its voice variants.

The library and its data come from the ``espeakng-loader`` wheel; no system espeak is needed.

libespeak-ng keeps its state in C globals (the selected voice, the speech parameters, the synth
callback), so a process can hold only one engine. This module mirrors that: a single engine,
created on first use and shared by the whole process, with a lock around every call into the
library. Calls from several threads are therefore safe but serialized.
"""

from __future__ import annotations

import ctypes
import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from autovoice.errors import AutovoiceError

__all__ = ["EspeakError", "list_variants", "phonemize", "synthesize", "version"]

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_PHONEMES_IPA = 0x02
_INITIALIZE_DONT_EXIT = 0x8000
_EE_OK = 0
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_RATE_LIMITS = (80, 450)
_RAND_SEED = 1  # for eSpeak's noise generator (breathy variants), reset before every utterance
# a run of clause marks followed by a space, a closing quote or bracket, or the end of the text
_CLAUSE_MARK = re.compile(r"([.,;:!?]+)(?=[\s\"')\]}»”’]|$)")
_INSTALL_HINT = "pip install espeakng-loader"

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakError(AutovoiceError):
    """eSpeak NG is missing, failed, or was asked for a voice it does not have."""


def _locate() -> tuple[str, str]:
    """The shared library and the espeak-ng-data folder shipped by espeakng-loader."""
    try:
        import espeakng_loader  # type: ignore[import-untyped]
    except ImportError as error:
        raise EspeakError(f"eSpeak NG is not installed: {_INSTALL_HINT}") from error
    try:
        return str(espeakng_loader.get_library_path()), str(espeakng_loader.get_data_path())
    except RuntimeError as error:
        raise EspeakError(f"eSpeak NG data is missing ({error}): {_INSTALL_HINT}") from error


def _declare(lib: ctypes.CDLL) -> None:
    """Argument and result types of the functions used here, as in speak_lib.h."""
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,  # text
        ctypes.c_size_t,  # size
        ctypes.c_uint,  # position
        ctypes.c_int,  # position_type
        ctypes.c_uint,  # end_position
        ctypes.c_uint,  # flags
        ctypes.c_void_p,  # unique_identifier
        ctypes.c_void_p,  # user_data
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_TextToPhonemes.argtypes = [
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    if hasattr(lib, "espeak_ng_SetRandSeed"):  # eSpeak NG 1.52 and later
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = ctypes.c_int
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    lib.espeak_Info.restype = ctypes.c_char_p


class _Engine:
    """The process's one eSpeak NG instance; every method must be called with ``lock`` held."""

    def __init__(self) -> None:
        library, data = _locate()
        try:
            self.lib = ctypes.CDLL(library)
        except OSError as error:
            raise EspeakError(f"cannot load {library} ({error}): {_INSTALL_HINT}") from error
        _declare(self.lib)
        self.data = Path(data)
        options = _INITIALIZE_DONT_EXIT
        rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, os.fsencode(data), options)
        if rate <= 0:
            raise EspeakError(f"eSpeak NG failed to start with data from {data}")
        self.sample_rate = int(rate)
        self.chunks: list[np.ndarray] = []
        self.callback = _SynthCallback(self._collect)  # kept alive as long as the engine
        self.lib.espeak_SetSynthCallback(self.callback)
        self.voice = ""
        folder = self.data / "voices" / "!v"
        self.variants = sorted(entry.name for entry in folder.iterdir() if entry.is_file())

    def _collect(self, wav: Any, count: int, _events: Any) -> int:
        if wav and count > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0  # 0: continue synthesis

    def select(self, voice: str) -> None:
        if voice == self.voice:
            return
        variant = voice.partition("+")[2]
        if variant and variant not in self.variants:
            raise EspeakError(f"unknown eSpeak NG voice variant {variant!r} in voice {voice!r}")
        if self.lib.espeak_SetVoiceByName(voice.encode("utf-8")) != _EE_OK:
            self.voice = ""
            raise EspeakError(f"unknown eSpeak NG voice {voice!r}")
        self.voice = voice

    def set_parameter(self, parameter: int, value: int) -> None:
        if self.lib.espeak_SetParameter(parameter, value, 0) != _EE_OK:
            raise EspeakError(f"eSpeak NG rejected parameter {parameter} = {value}")

    def phonemes(self, text: str) -> str:
        """eSpeak's IPA for ``text``, its clauses joined by spaces; punctuation is dropped."""
        buffer = ctypes.create_string_buffer(text.encode("utf-8"))
        pointer = ctypes.c_void_p(ctypes.addressof(buffer))
        clauses: list[str] = []
        while pointer.value:
            result = self.lib.espeak_TextToPhonemes(
                ctypes.byref(pointer), _CHARS_UTF8, _PHONEMES_IPA
            )
            clauses.append((result or b"").decode("utf-8").strip())
        return " ".join(clause for clause in clauses if clause)

    def speak(self, text: str) -> np.ndarray:
        data = text.encode("utf-8") + b"\0"
        self.chunks = []
        if hasattr(self.lib, "espeak_ng_SetRandSeed"):  # else noise is seeded from the clock
            self.lib.espeak_ng_SetRandSeed(_RAND_SEED)
        status = self.lib.espeak_Synth(data, len(data), 0, 1, 0, _CHARS_UTF8, None, None)
        chunks, self.chunks = self.chunks, []
        if status != _EE_OK:
            raise EspeakError(f"eSpeak NG failed to speak {text[:40]!r} (error {status})")
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return (np.concatenate(chunks).astype(np.float32) / 32768.0).astype(np.float32)


_engine: _Engine | None = None
_lock = threading.Lock()


def _get_engine() -> _Engine:
    """The shared engine, started on first use; call with ``_lock`` held."""
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine


def phonemize(text: str, voice: str = "en-us") -> str:
    """IPA phonemes of ``text`` in ``voice``'s language.

    Words are separated by spaces and carry eSpeak's stress marks (ˈ ˌ). Clause punctuation
    (runs of ``. , ; : ! ?``) that ends a word, i.e. is followed by a space, a closing quote or
    bracket, or the end of the text, is kept as written and attached to the phonemes before it:
    ``"Hello, world!"`` gives ``"həlˈoʊ, wˈɜːld!"``. All other punctuation is dropped, as is a
    mark with no spoken word before it.
    """
    pieces = _CLAUSE_MARK.split(text)  # clause, mark, clause, mark, ..., last clause
    with _lock:
        engine = _get_engine()
        engine.select(voice)
        spoken = [engine.phonemes(clause) for clause in pieces[0::2]]
    marks = [*pieces[1::2], ""]
    return " ".join(phones + mark for phones, mark in zip(spoken, marks, strict=True) if phones)


def synthesize(
    text: str,
    voice: str = "en-us",
    *,
    rate: int = 175,
    pitch: int = 50,
    pitch_range: int = 50,
    volume: int = 100,
) -> tuple[np.ndarray, int]:
    """Speak ``text``: a float32 mono waveform in [-1, 1] and its sample rate (Hz).

    ``voice`` is a language, optionally with a variant (``en-us+f2``, ``en-us+klatt3``).
    ``rate`` is in words per minute (80 to 450); ``pitch`` and ``pitch_range`` are 0 to 100;
    ``volume`` is 0 to 200 (100 is eSpeak's normal level; some variants clip at 100).

    eSpeak's noise generator is reseeded before every utterance, but libespeak-ng still carries
    some state from one utterance to the next (pitch flutter phase, filter memories), so repeating
    a call in the same process may give slightly different samples. A fresh process making the
    same calls in the same order gives identical audio.
    """
    _check_range("rate", rate, *_RATE_LIMITS)
    _check_range("pitch", pitch, 0, 100)
    _check_range("pitch_range", pitch_range, 0, 100)
    _check_range("volume", volume, 0, 200)
    with _lock:
        engine = _get_engine()
        engine.select(voice)
        engine.set_parameter(_RATE, rate)
        engine.set_parameter(_PITCH, pitch)
        engine.set_parameter(_RANGE, pitch_range)
        engine.set_parameter(_VOLUME, volume)
        return engine.speak(text), engine.sample_rate


def list_variants() -> list[str]:
    """Names of the voice variants that can follow ``+`` in a voice name, sorted."""
    with _lock:
        return list(_get_engine().variants)


def version() -> str:
    """The version of the loaded eSpeak NG library, e.g. ``1.52.0``."""
    with _lock:
        info = _get_engine().lib.espeak_Info(None)
    return (info or b"unknown").decode("utf-8", "replace").split()[0]


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise EspeakError(f"{name} must be in [{low}, {high}], got {value}")

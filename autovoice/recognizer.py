"""The speech recognizer that scores voices: PocketSphinx with its bundled US English model.

The benchmarks' word error rates and the demo's come from this one class. PocketSphinx is an
optional dependency (the ``eval`` extra): it runs offline, on a CPU, with a model inside its
wheel, so a score never needs a download.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util

import numpy as np

from autovoice.errors import AutovoiceError

__all__ = ["RECOGNIZER_RATE", "Recognizer", "load_recognizer", "recognizer_available"]

RECOGNIZER_RATE = 16000
"""PocketSphinx's en-us model hears 16 kHz audio."""


def recognizer_available() -> bool:
    return importlib.util.find_spec("pocketsphinx") is not None


class Recognizer:
    """``transcribe(wave, sample_rate) -> text``, lower case, no punctuation."""

    def __init__(self) -> None:
        if not recognizer_available():
            raise AutovoiceError("scoring speech needs pocketsphinx: pip install 'autovoice[eval]'")
        from pocketsphinx import Decoder  # type: ignore[import-untyped, unused-ignore]

        self.decoder = Decoder(samprate=RECOGNIZER_RATE, loglevel="FATAL")
        self.name = f"pocketsphinx {importlib.metadata.version('pocketsphinx')} (bundled en-us)"

    def transcribe(self, wave: np.ndarray, sample_rate: int) -> str:
        from autovoice.audio.process import peak_normalize, resample

        audio = peak_normalize(resample(wave, sample_rate, RECOGNIZER_RATE), 0.9)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hypothesis = self.decoder.hyp()
        return str(hypothesis.hypstr) if hypothesis is not None else ""


def load_recognizer() -> Recognizer | None:
    """A recognizer, or None where pocketsphinx is not installed."""
    return Recognizer() if recognizer_available() else None

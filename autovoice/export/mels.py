"""The export's check that an acoustic model and a vocoder were trained on the same mels."""

from __future__ import annotations

from autovoice.config import AudioConfig
from autovoice.export.errors import ExportError

#: the audio settings a mel depends on: the acoustic model and the vocoder must agree on them
MEL_SETTINGS = ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "f_min", "f_max")


def check_audio_match(acoustic: AudioConfig, vocoder: AudioConfig, where: str) -> None:
    """Refuse a vocoder trained on other mels than the acoustic model makes."""
    different = [
        f"$.audio.{name} {getattr(acoustic, name)} vs {getattr(vocoder, name)}"
        for name in (*MEL_SETTINGS, "log_clamp")
        if getattr(acoustic, name) != getattr(vocoder, name)
    ]
    if different:
        raise ExportError(
            f"{where}: the acoustic model and the vocoder were trained on different mels "
            f"(acoustic vs vocoder): {', '.join(different)}"
        )

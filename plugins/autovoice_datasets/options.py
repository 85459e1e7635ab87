"""Options of the built-in datasets (attrs only: cheap to import)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from autovoice.config.fields import Relation, between, ge, one_of, optional, setting
from autovoice.config.schema import freeze


def _test_fraction() -> float | None:
    return setting(  # type: ignore[no-any-return]
        None,
        doc="Fraction of utterances held out for testing; unset: the same as data.val_fraction.",
        checks=[optional(between(0, 0.5))],
    )


@attrs.frozen(kw_only=True)
class VoiceOptions:
    """Options of the ``voice`` dataset: text, mel and speaker, plus audio for vocoders."""

    segment_size: int = setting(
        8192,
        doc="Samples of the random audio segment (and its mel frames) each item carries for "
        "vocoder training; a multiple of audio.hop_length; 0 leaves audio out.",
        checks=[ge(0)],
    )
    mel_dir: str = setting(
        "",
        doc="Folder of mels predicted by an acoustic model (one <id>.npy per utterance, as "
        "`autovoice train --stage finetune-vocoder` writes them): audio segments then come with "
        "the predicted mel frames instead of the recorded ones. Empty: the recorded mels.",
    )
    pitch: bool = setting(
        True,
        doc="Give each item its f0 per mel frame (Hz, 0 where unvoiced), for acoustic models "
        "with a pitch predictor.",
    )
    test_fraction: float | None = _test_fraction()


@attrs.frozen(kw_only=True)
class PairedOptions:
    """Options of the ``paired`` dataset: one sentence spoken by two speakers."""

    align: str = setting(
        "dtw",
        doc="dtw: the target mel is warped onto the source's frames by dynamic time warping; "
        "none: both keep their own lengths.",
        checks=[one_of("dtw", "none")],
    )
    source_speaker: str = setting(
        "", doc="Only pairs spoken first by this speaker; empty: every speaker."
    )
    target_speaker: str = setting(
        "", doc="Only pairs whose target is this speaker; empty: every other speaker."
    )
    test_fraction: float | None = _test_fraction()


@attrs.frozen(kw_only=True)
class AugmentedOptions:
    """Options of the ``augmented`` dataset: another dataset, randomly altered per epoch."""

    base: str = setting(
        "voice",
        doc="The dataset whose items are augmented (voice or paired); validation and test "
        "use it unaugmented.",
        checks=[one_of("voice", "paired")],
    )
    base_options: Mapping[str, Any] = setting(
        doc="Options of the base dataset, as its own options table.",
        factory=dict,
        converter=freeze,
    )
    gain_db: float = setting(
        6.0, doc="Gain drawn uniformly within +-gain_db decibels; 0 disables.", checks=[ge(0)]
    )
    noise_prob: float = setting(
        0.5, doc="Probability of adding white noise to an item.", checks=[between(0, 1)]
    )
    snr_db: float = setting(
        20.0, doc="Signal-to-noise ratio (dB) of the added noise.", checks=[between(-10, 100)]
    )
    speed_prob: float = setting(
        0.5, doc="Probability of changing an item's speed.", checks=[between(0, 1)]
    )
    speed_min: float = setting(
        0.9, doc="Slowest speed factor (by resampling).", checks=[between(0.5, 2)]
    )
    speed_max: float = setting(
        1.1,
        doc="Fastest speed factor (by resampling).",
        checks=[between(0.5, 2), Relation(">=", "speed_min")],
    )
    time_masks: int = setting(2, doc="SpecAugment time masks per mel.", checks=[ge(0)])
    time_mask_width: int = setting(
        20, doc="Widest SpecAugment time mask, in frames.", checks=[ge(0)]
    )
    freq_masks: int = setting(2, doc="SpecAugment frequency masks per mel.", checks=[ge(0)])
    freq_mask_width: int = setting(
        8, doc="Widest SpecAugment frequency mask, in mel bands.", checks=[ge(0)]
    )

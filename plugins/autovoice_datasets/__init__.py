"""Built-in datasets: ``voice`` (TTS and vocoders), ``paired`` (voice conversion) and
``augmented`` (either one, randomly altered).

Importing this module is cheap: the datasets live in submodules that
:meth:`autovoice.specs.PluginSpec.load` imports on first use. Each factory is called as
``factory(options, *, config, registry=None)`` with the whole configuration (the dataset needs
the ``data``, ``audio`` and ``text`` sections).
"""

from __future__ import annotations

from autovoice.hookspecs import hookimpl
from autovoice.specs import DatasetSpec
from autovoice_datasets.options import AugmentedOptions, PairedOptions, VoiceOptions

__all__ = ["AugmentedOptions", "PairedOptions", "VoiceOptions", "autovoice_datasets"]


@hookimpl
def autovoice_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            name="voice",
            factory="autovoice_datasets.voice:create",
            options_type=VoiceOptions,
            description="Text tokens, log-mel and speaker id per utterance, plus a random "
            "audio segment with its mel frames for vocoder training.",
        ),
        DatasetSpec(
            name="paired",
            factory="autovoice_datasets.paired:create",
            options_type=PairedOptions,
            description="One sentence by two speakers: source and target mels, the target "
            "aligned to the source's frames by dynamic time warping.",
        ),
        DatasetSpec(
            name="augmented",
            factory="autovoice_datasets.augmented:create",
            options_type=AugmentedOptions,
            description="Another dataset with gain, noise, speed perturbation and SpecAugment "
            "masks, reproducible per (seed, epoch, item).",
        ),
    ]

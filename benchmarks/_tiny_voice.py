"""A tiny voice bundle made on the spot: demo corpus, a few training steps, export.

The models are far too small and too briefly trained to speak: the bundle is for tests and for
measuring speed, never for judging quality. Needs torch (``autovoice[train]``) and eSpeak NG.
"""

from __future__ import annotations

from pathlib import Path

from autovoice.config import Config, apply_overrides

__all__ = [
    "ACOUSTIC",
    "MAGNITUDE_VOCODER",
    "MEL_HEAD",
    "SHIPPED_ACOUSTIC",
    "VOCODER",
    "make_tiny_voice",
]

ACOUSTIC = (
    "model.name='voice_transformer'",
    "model.options.preset='tiny'",
    "model.options.d_model=64",
    "model.options.encoder_layers=1",
    "model.options.decoder_layers=1",
    "model.options.ff_dim=128",
    "model.options.predictor_channels=64",
    "model.options.aligner_dim=32",
    "data.options.segment_size=0",
    "data.options.pitch=true",
    "training.learning_rate=1e-2",
    "training.warmup_steps=2",
)
"""A VoiceTransformer smaller than the tiny preset, trained fast enough to predict durations."""

VOCODER = (
    "vocoder.name='hifigan'",
    "vocoder.options.preset='v3'",
    "vocoder.options.upsample_initial_channel=32",
    "vocoder.options.segment_size=2048",
    "vocoder.options.discriminators='none'",
    "data.options.segment_size=2048",
    "data.options.pitch=false",
)
"""A HiFi-GAN V3 with a quarter of its channels, spectral losses only."""

MAGNITUDE_VOCODER = (
    "vocoder.name='magnitude_gl'",
    "vocoder.options.channels=32",
    "vocoder.options.dilations=[1, 2]",
    "vocoder.options.segment_size=2048",
    "vocoder.options.iterations=8",
    "data.options.segment_size=2048",
    "data.options.pitch=false",
)
"""A learned-magnitude Griffin-Lim vocoder with two narrow blocks and 8 iterations."""

MEL_HEAD = None
"""No vocoder to train: the voice's vocoder stage is the head that is Griffin-Lim from the mel."""

SHIPPED_ACOUSTIC = (
    "model.name='voice_transformer'",
    "model.options.preset='tiny'",
    "data.options.segment_size=0",
    "data.options.pitch=true",
    "text.symbols='phonemes'",
    "training.learning_rate=1e-2",
    "training.warmup_steps=2",
)
"""The shipped default voice's acoustic model (tiny preset, on phonemes)."""


def _config(workdir: Path, steps: int, extra: tuple[str, ...]) -> Config:
    return apply_overrides(
        Config(),
        [
            f"data.corpus='{workdir / 'corpus'}'",
            "data.val_fraction=0.2",
            "data.min_duration=0.1",
            "training.batch_size=4",
            f"training.max_steps={steps}",
            "training.val_every=1000",
            "training.checkpoint_every=1000",
            "training.log_every=1000",
            "training.device='cpu'",
            f"training.output_dir='{workdir / 'runs'}'",
            *extra,
        ],
    )


def make_tiny_voice(
    workdir: str | Path,
    *,
    acoustic_steps: int = 12,
    vocoder_steps: int = 2,
    speakers: int = 2,
    sentences: int = 8,
    shipped_sizes: bool = False,
    vocoder: tuple[str, ...] | None = VOCODER,
) -> Path:
    """Train both stages in ``workdir`` (new or empty) and export ``workdir/voice``. With
    ``shipped_sizes`` the acoustic model has the default voice's architecture (the tiny preset
    on phonemes). ``vocoder`` holds the vocoder stage's config overrides (:data:`VOCODER`,
    :data:`MAGNITUDE_VOCODER`, any vocoder plugin's), whose recipe and spec name the head its
    bundle records; :data:`MEL_HEAD` (None) trains none and exports the head that is
    Griffin-Lim from the mel."""
    import torch

    from autovoice.corpus.demo import make_demo_corpus
    from autovoice.export import export_voice
    from autovoice.training.build import build_trainer
    from autovoice.training.runtime import Runtime

    root = Path(workdir)
    make_demo_corpus(root / "corpus", speakers=speakers, sentences=sentences, seed=0, workers=1)
    runtime = Runtime(torch.device("cpu"), "fp32")
    stages = [("acoustic", acoustic_steps, SHIPPED_ACOUSTIC if shipped_sizes else ACOUSTIC)]
    if vocoder is not None:
        stages.append(("vocoder", vocoder_steps, vocoder))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for stage, steps, extra in stages:
            config = _config(root, steps, extra)
            build_trainer(config, stage=stage, runtime=runtime, progress=False).fit()
    runs = root / "runs"
    return export_voice(
        runs / "acoustic",
        None if vocoder is None else runs / "vocoder",
        root / "voice",
        overrides=["export.validate=false"],
    )

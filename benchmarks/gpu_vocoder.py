"""Train the default voice's vocoder on a GPU machine for a fixed number of minutes.

A few minutes of a GPU do what hours of the 2-core CPU do, so this is kept ready for whenever one
is lent (a machine with CUDA torch, no network, where autovoice may not be pip-installed)::

    python -m benchmarks.gpu_vocoder --corpus data/hibari --out OUT --minutes 6 \\
        [--init CHECKPOINT] [--set vocoder.options.discriminators=mrd ...]

It reads ``configs/default-voice-istft.toml``, points it at ``--corpus`` (any corpus autovoice
reads: the distilled one, or a part of it small enough to carry), prepares the feature cache,
and trains the ``vocoder`` stage on ``cuda`` with ``--batch-size`` clips of ``--segment-size``
samples (a GPU affords longer clips and bigger batches than the CPU recipe) until ``--minutes``
have passed: whole chunks of ``--checkpoint-every`` steps, each ending in a checkpoint, so the
last may end a little after the time. The newest checkpoint is copied to ``OUT/vocoder``; it
resumes, fine-tunes and exports here like any other.

The built-in plugins are registered directly, so the source tree on ``PYTHONPATH`` (``.`` and
``plugins``) is enough, with the core's dependencies importable. The CUDA image this project is
lent holds torch, numpy, attrs, pluggy, safetensors and tqdm but not cattrs, tomli-w, soundfile,
soxr, num2words (and its docopt) or espeakng-loader: carry those as wheels.
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default-voice-istft.toml"
BUILTIN_PLUGINS = (
    "autovoice_stores",
    "autovoice_datasets",
    "autovoice_models",
    "autovoice_onnxruntime",
    "autovoice_torch",
)


def registry() -> object:
    """Every built-in plugin, registered directly (no entry points needed)."""
    import importlib

    from autovoice.plugins import Registry

    modules = [importlib.import_module(name) for name in BUILTIN_PLUGINS]
    return Registry.discover(plugins=modules, entry_points=False)


def overrides(args: argparse.Namespace) -> list[str]:
    """The config overrides of a run: corpus, cache, device, sizes, output, then ``--set``."""
    out = Path(args.out).resolve()
    return [
        f"data.corpus='{Path(args.corpus).resolve()}'",
        f"data.cache_dir='{out / 'cache'}'",
        f"training.output_dir='{out / 'runs'}'",
        f"training.device='{args.device}'",
        f"training.batch_size={args.batch_size}",
        f"data.options.segment_size={args.segment_size}",
        f"vocoder.options.segment_size={args.segment_size}",
        f"training.checkpoint_every={args.checkpoint_every}",
        "training.max_steps=10000000",
        *args.set,
    ]


def train(args: argparse.Namespace) -> Path:
    """Prepare, train for ``args.minutes``, copy the newest checkpoint; its path in OUT."""
    import attrs

    from autovoice.config.load import load_config
    from autovoice.data.loading import FeatureSource, fill_cache
    from autovoice.data.reader import load_corpus
    from autovoice.training.build import build_trainer

    reg: Any = registry()
    config = load_config(CONFIG, overrides=overrides(args), registry=reg)
    source = FeatureSource.create(config.audio, config.data.cache_dir)
    failed = [o for _, o in fill_cache(source, load_corpus(config.data).utterances)
              if o not in ("cached", "computed")]  # fmt: skip
    if failed:
        raise SystemExit(f"{len(failed)} utterances failed to prepare, first: {failed[0]}")
    trainer = build_trainer(config, stage="vocoder", registry=reg, init=args.init, progress=False)
    deadline = time.monotonic() + args.minutes * 60
    while True:  # one checkpoint's worth of steps at a time, at least once
        trainer.training = attrs.evolve(
            trainer.training, max_steps=trainer.step + args.checkpoint_every
        )
        trainer.fit()
        left = deadline - time.monotonic()
        print(f"step {trainer.step}, {max(left, 0):.0f} s left", flush=True)
        if left <= 0:
            break
    runs = Path(args.out) / "runs" / "vocoder" / "checkpoints"
    newest = sorted(p for p in runs.iterdir() if p.name.startswith("step-"))[-1]
    target = Path(args.out) / "vocoder" / newest.name
    shutil.copytree(newest, target, dirs_exist_ok=True)
    return target


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_vocoder", description=__doc__)
    parser.add_argument("--corpus", required=True, help="the corpus to train on")
    parser.add_argument("--out", required=True, help="folder for the cache, runs and the result")
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--segment-size", type=int, default=16384)
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--init", help="checkpoint to start from (weights only)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    print(f"newest checkpoint: {train(args)}")


if __name__ == "__main__":
    main()

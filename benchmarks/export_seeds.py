"""Export validation over many training seeds: ``python -m benchmarks.export_seeds``.

For each seed, trains the demo's acoustic model (``autovoice/demo.toml`` on the demo corpus)
with ``training.seed`` set to it, exports it with ONNX Runtime parity validation, and validates
the exported graph again on more input draws. Prints one line per seed and a JSON summary: how
many cases were checked, how many rounding ties ONNX Runtime took the other way (explained, see
``autovoice.export.rounding``), and the largest difference left. Any failure is reported with
its message and ends the run with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path


def _train(config_path: Path, root: Path, seed: int, steps: int) -> Path:
    from autovoice.config import load_config
    from autovoice.training.build import build_trainer

    out = root / f"seed-{seed}"
    overrides = [
        f"data.corpus={root / 'corpus'}",
        f"data.cache_dir={root / 'cache'}",
        f"training.output_dir={out}",
        f"training.seed={seed}",
        f"training.max_steps={steps}",
        f"training.val_every={steps}",
        f"training.checkpoint_every={steps}",
    ]
    config = load_config(config_path, overrides=overrides)
    build_trainer(config, stage="acoustic", progress=False).fit()
    return out / "acoustic"


def _check(run: Path, bundle: Path, draws: int) -> tuple[int, int, float]:
    from autovoice.export.bundle_writer import export_voice, load_stage
    from autovoice.export.validate import ValidationLengths, acoustic_cases, validate_exported_model
    from autovoice.plugins import Registry
    from autovoice.text import SymbolTable

    registry = Registry.discover()
    export_voice(run, None, bundle, registry=registry, griffin_lim={}, overwrite=True)
    source = load_stage(run, "acoustic", registry)
    module = source.recipe.export_module().eval()
    n_symbols = len(SymbolTable.from_dict(source.symbols))
    cases, ties, worst = 0, 0, 0.0
    for draw in range(1, draws + 1):
        batch = acoustic_cases(
            n_symbols=n_symbols,
            n_speakers=max(len(source.speakers), 1),
            lengths=ValidationLengths(),
            seed=draw,
        )
        report = validate_exported_model(
            module, bundle / "acoustic.onnx", source.recipe.signature, batch, tolerance=1e-3
        )
        cases, ties, worst = cases + len(batch), ties + report.ties, max(worst, report.worst)
    return cases, ties, worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--steps", type=int, default=150, help="acoustic steps per seed")
    parser.add_argument("--draws", type=int, default=10, help="extra input draws per export")
    parser.add_argument("--config", type=Path, default=Path("autovoice/demo.toml"))
    parser.add_argument("--work", type=Path, default=Path("export-seeds"))
    args = parser.parse_args(argv)
    from autovoice.corpus.demo import make_demo_corpus
    from autovoice.errors import AutovoiceError

    shutil.rmtree(args.work, ignore_errors=True)
    make_demo_corpus(args.work / "corpus", speakers=2, sentences=120)
    totals = {"seeds": 0, "cases": 0, "ties": 0, "worst": 0.0, "failures": []}
    for seed in range(args.seeds):
        start = time.perf_counter()
        try:
            run = _train(args.config, args.work, seed, args.steps)
            cases, ties, worst = _check(run, args.work / f"voice-{seed}", args.draws)
        except AutovoiceError as error:
            totals["failures"].append({"seed": seed, "error": str(error)})  # type: ignore[union-attr]
            print(f"seed {seed}: FAILED: {error}", flush=True)
            continue
        totals["seeds"] += 1  # type: ignore[operator]
        totals["cases"] += cases  # type: ignore[operator]
        totals["ties"] += ties  # type: ignore[operator]
        totals["worst"] = max(totals["worst"], worst)  # type: ignore[type-var]
        took = time.perf_counter() - start
        line = f"seed {seed}: {cases} cases, {ties} ties, worst {worst:.3g} ({took:.0f} s)"
        print(line, flush=True)
        shutil.rmtree(args.work / f"seed-{seed}", ignore_errors=True)
    print(json.dumps(totals))
    return 1 if totals["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())

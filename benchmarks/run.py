"""Run benchmark suites: ``python -m benchmarks.run [--suite NAME ...] [--out DIR] [--quick]``.

A suite is a module ``benchmarks/bench_<name>.py`` with ``run(quick: bool) -> (result, table)``:
``result`` a JSON-able dict, ``table`` markdown. Each suite writes ``<out>/<name>.json`` and
``<out>/<name>.md``; the run ends stdout with one JSON line of every suite's result.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path
from typing import Any

from benchmarks._common import ROOT, machine, write_results


def available_suites() -> list[str]:
    here = Path(__file__).resolve().parent
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> int:
    suites = available_suites()
    parser = argparse.ArgumentParser(prog="benchmarks.run", description=__doc__)
    parser.add_argument("--suite", action="append", choices=suites, help="repeatable; default all")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller inputs")
    args = parser.parse_args(argv)
    record = machine()
    results: dict[str, Any] = {"machine": record, "suites": {}}
    for name in args.suite or suites:
        print(f"== {name}", file=sys.stderr)
        module = importlib.import_module(f"benchmarks.bench_{name}")
        result, table = module.run(quick=args.quick)
        result = {"suite": name, "machine": record, "quick": args.quick, **result}
        write_results(args.out, name, result, table)
        print(table)
        results["suites"][name] = result
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run benchmark suites: ``python -m benchmarks.run [--suite NAME ...] [--quick] [--no-docs]``.

A suite is a module ``benchmarks/bench_<name>.py`` with ``run(quick: bool) -> (result, table)``:
``result`` a JSON-able dict, ``table`` markdown. Each suite writes ``<out>/<name>.json`` (with
the machine record, the settings and its wall time) and ``<out>/<name>.md``; the run ends
stdout with one JSON line of every suite's result. A full run (not ``--quick``, not
``--no-docs``) then rewrites ``docs/benchmarks.md`` from every result in ``<out>``, with
charts in ``docs/images/``. Every system measured is pinned to ``--threads`` CPU threads.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks._common import DEFAULT_THREADS, ROOT, THREADS_ENV, machine, write_results
from benchmarks._voice import VOICE_ENV, WORK_ENV

BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def available_suites() -> list[str]:
    here = Path(__file__).resolve().parent
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )


def about(module: Any) -> str:
    """The first paragraph of a suite's docstring, as one markdown line."""
    first = (module.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(first.split()).replace("``", "`")


def run_suite(name: str, quick: bool) -> tuple[dict[str, Any], str]:
    """One suite's result (with its machine record, settings and wall time) and table; a
    suite that raises gives a result with ``error`` and the traceback's tail."""
    record = machine()
    started = time.perf_counter()
    module = importlib.import_module(f"benchmarks.bench_{name}")
    try:
        result, table = module.run(quick=quick)
    except Exception as exc:
        tail = traceback.format_exc().strip().splitlines()[-6:]
        result, table = {"error": f"{type(exc).__name__}: {exc}", "traceback": tail}, ""
        table = f"failed: {result['error']}"
    wall = time.perf_counter() - started
    head = {"suite": name, "machine": record, "quick": quick, "about": about(module)}
    return {**head, "wall_s": wall, **result}, table


RUN_RECORD = "run.json"
"""In the results folder: the wall time of the last run of every suite."""


def write_docs(out: Path, docs: Path, images: Path) -> None:
    """``docs`` (markdown) and its charts, from every result in ``out``."""
    from benchmarks._report import charts, load_results, render

    results, tables = load_results(out)
    record = out / RUN_RECORD
    total = json.loads(record.read_text()).get("total_s") if record.is_file() else None
    link = os.path.relpath(images, docs.parent).replace(os.sep, "/")
    drawn = charts(results, images, prefix=f"{link}/")
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(render(results, tables, images=drawn, total_s=total))


def _parser(suites: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchmarks.run", description=__doc__)
    parser.add_argument("--suite", action="append", choices=suites, help="repeatable; default all")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller inputs")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="CPU threads")
    parser.add_argument("--voice", metavar="BUNDLE", help="autovoice voice to measure")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--images", type=Path, default=ROOT / "docs" / "images")
    return parser


def main(argv: list[str] | None = None) -> int:
    suites = available_suites()
    args = _parser(suites).parse_args(argv)
    started = time.perf_counter()
    work = tempfile.mkdtemp(prefix="autovoice-bench-")
    threads = str(max(args.threads, 1))
    os.environ.update({THREADS_ENV: threads, WORK_ENV: work})
    for name in BLAS_THREADS:  # numpy's BLAS and OpenMP, before any suite imports them
        os.environ.setdefault(name, threads)
    if args.voice:
        os.environ[VOICE_ENV] = str(Path(args.voice).resolve())
    results: dict[str, Any] = {"suites": {}}
    try:
        for name in args.suite or suites:
            print(f"== {name}", file=sys.stderr, flush=True)
            result, table = run_suite(name, args.quick)
            write_results(args.out, name, result, table)
            print(table, flush=True)
            print(f"== {name}: {result['wall_s']:.0f} s", file=sys.stderr, flush=True)
            results["suites"][name] = result
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["total_s"] = time.perf_counter() - started
    if args.suite is None and not args.quick:
        record = {"total_s": results["total_s"], "suites": list(results["suites"])}
        (args.out / RUN_RECORD).write_text(json.dumps(record) + "\n")
    if not (args.quick or args.no_docs):
        write_docs(args.out, args.docs, args.images)
    print(json.dumps(results))
    return 1 if any("error" in r for r in results["suites"].values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Child processes measured from outside: wall time to exit and peak resident memory.

The peak comes from ``wait4``'s resource usage of that one child (Linux: ``ru_maxrss`` in KiB).
Linux carries the peak of the address space a process replaces over into the new program's
``ru_maxrss``, so a child started straight from a large benchmark process would report at least
that process's size. Each command is therefore started by a small launcher (a bare Python),
which spawns it, waits for it, and reports its seconds and peak.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

__all__ = ["Finished", "WorkerError", "last_json_line", "run_measured", "run_worker"]


class WorkerError(RuntimeError):
    """A measured child process that failed: the command and the tail of its output."""


@attrs.frozen(kw_only=True)
class Finished:
    """One child process run to its end."""

    command: tuple[str, ...]
    returncode: int
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str

    def check(self) -> Finished:
        """``self``, or :class:`WorkerError` when the child failed."""
        if self.returncode != 0:
            tail = "\n".join(self.stderr.strip().splitlines()[-15:])
            raise WorkerError(f"{' '.join(self.command)} exited {self.returncode}:\n{tail}")
        return self


LAUNCHER = """
import os, sys, time
report, command = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.posix_spawnp(command[0], command, os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
with open(report, "w") as out:
    out.write(f"{seconds} {usage.ru_maxrss}")
sys.exit(os.waitstatus_to_exitcode(status))
"""
"""Spawns ``argv[2:]``, waits, and writes ``SECONDS MAXRSS_KIB`` of that child to ``argv[1]``."""


def run_measured(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    stdin: str | None = None,
) -> Finished:
    """Run ``command`` to its end; seconds from start to exit and its peak RSS in MiB."""
    import sys

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "usage"
        launched = [sys.executable, "-S", "-c", LAUNCHER, str(report), *command]
        feed: dict[str, Any] = (
            {"input": stdin.encode()} if stdin is not None else {"stdin": subprocess.DEVNULL}
        )
        done = subprocess.run(
            launched,
            **feed,
            capture_output=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
        seconds, kib = report.read_text().split() if report.is_file() else ("nan", "0")
    return Finished(
        command=tuple(command),
        returncode=done.returncode,
        seconds=float(seconds),
        peak_rss_mb=int(kib) / 1024.0,
        stdout=done.stdout.decode(errors="replace"),
        stderr=done.stderr.decode(errors="replace"),
    )


def last_json_line(text: str) -> Any:
    """The last line of ``text`` that parses as JSON."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith(("{", "[")):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON line in the output")


def run_worker(module: str, request: Mapping[str, Any]) -> tuple[Any, Finished]:
    """``python -m module REQUEST_JSON`` in a fresh interpreter: its last JSON line, and the
    process record (peak memory of the whole worker included)."""
    import sys

    from benchmarks._common import ROOT

    command = [sys.executable, "-m", module, json.dumps(request)]
    done = run_measured(command, cwd=str(ROOT)).check()
    return last_json_line(done.stdout), done

"""Files as an earlier commit of this repository held them: voices shipped before a change, so
that tests can hold today's code to what those voices did. Needs the checkout's git history;
:func:`voice_at` returns None without it (an sdist, a shallow clone), and the tests skip."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VOICE_DIR = "autovoice/voices/default"

BEFORE_CONTROLS = "2c47e77"
"""The default voice as shipped before speech controls: its acoustic graph takes no pitch or
energy inputs and gives no durations."""
WITH_CONTROLS = "d6e7a5c"
"""The same weights exported with speech controls (the release after :data:`BEFORE_CONTROLS`)."""


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, check=False)


def voice_at(commit: str, dest: Path) -> Path | None:
    """The default voice bundle as ``commit`` held it, written into ``dest`` (made); None where
    git or that commit is not at hand."""
    if shutil.which("git") is None or _git("cat-file", "-e", f"{commit}^{{commit}}").returncode:
        return None
    manifest = _git("show", f"{commit}:{VOICE_DIR}/manifest.json")
    if manifest.returncode:
        return None
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "manifest.json").write_bytes(manifest.stdout)
    for name in json.loads(manifest.stdout)["files"]:
        blob = _git("show", f"{commit}:{VOICE_DIR}/{name}")
        if blob.returncode:
            return None
        (dest / name).write_bytes(blob.stdout)
    return dest

"""The README's file tree is the map of the house: every path it lists exists, and every room
exists on it (each module at the top of ``autovoice/``, each package of ``autovoice/`` and of
``plugins/`` down to two levels, and each built-in model plugin)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESCRIPTION_COLUMN = 36
"""Where the tree's descriptions start: a line whose text starts there continues the one above."""


def _tree() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Files\n+```text\n(.*?)```", text, re.S)
    assert block, "README.md has no '## Files' text block"
    return block.group(1).splitlines()


def listed_paths() -> set[str]:
    """Every path the tree names, relative to the repository (directories end with ``/``)."""
    paths: set[str] = set()
    parents: list[tuple[int, str]] = []
    for line in _tree():
        indent = len(line) - len(line.lstrip())
        if not line.strip() or indent >= DESCRIPTION_COLUMN:
            continue
        entry = line.strip().split("  ")[0]
        while parents and parents[-1][0] >= indent:
            parents.pop()
        prefix = parents[-1][1] if parents else ""
        for name in (part.strip() for part in entry.split(",")):
            paths.add(prefix + name)
        if entry.endswith("/"):
            parents.append((indent, prefix + entry))
    return paths


def rooms() -> set[str]:
    """What must be on the map: the top-level modules of ``autovoice/`` and every package of
    ``autovoice/`` and ``plugins/`` at most two levels down."""
    found = {
        f"autovoice/{p.name}"
        for p in (ROOT / "autovoice").iterdir()
        if p.suffix == ".py" or (p / "__init__.py").is_file()
    }
    found = {f"{p}/" if (ROOT / p).is_dir() else p for p in found}
    for top in ("autovoice", "plugins"):
        for init in (ROOT / top).glob("*/*/__init__.py"):
            found.add(init.parent.relative_to(ROOT).as_posix() + "/")
        for init in (ROOT / top).glob("*/__init__.py"):
            found.add(init.parent.relative_to(ROOT).as_posix() + "/")
    return found


def test_every_path_on_the_map_exists():
    missing = sorted(p for p in listed_paths() if not (ROOT / p.rstrip("/")).exists())
    assert not missing, f"README.md's file tree lists paths that do not exist: {missing}"


def test_every_room_is_on_the_map():
    unlisted = sorted(rooms() - listed_paths())
    assert not unlisted, f"README.md's file tree leaves out: {unlisted}"


def test_the_map_reader_sees_nested_entries():
    paths = listed_paths()
    assert {"autovoice/", "autovoice/config/", "autovoice/config/schema.py"} <= paths
    assert "autovoice/demo.toml" in paths and "scripts/gpu-check.sh" in paths

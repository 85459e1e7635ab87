"""``autovoice plugins``: every installed plugin, its kind, origin and whether it is usable."""

from __future__ import annotations

import argparse
import json
from typing import Any


def registry() -> Any:
    from autovoice.plugins import Registry

    return Registry.discover()


def render_table(rows: list[dict[str, Any]]) -> list[str]:
    table = [["NAME", "KIND", "FROM", "STATUS"]]
    for row in rows:
        status = "available" if row["available"] else f"unavailable: {row['reason']}"
        origin = f"{row['distribution']} {row['version']}".strip()
        table.append([row["name"], row["kind"], origin, status])
    widths = [max(len(line[i]) for line in table) for i in range(3)]
    lines = []
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        lines.append("  ".join([*cells, line[3]]))
    return lines


def run(args: argparse.Namespace) -> int:
    from autovoice.plugins import describe_plugins

    rows = describe_plugins(registry())
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no plugins installed")
    else:
        print("\n".join(render_table(rows)))
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("plugins", help="list installed plugins and whether each is usable")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.set_defaults(func=run)

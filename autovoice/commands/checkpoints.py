"""``autovoice checkpoints list DIR`` and ``autovoice checkpoints info PATH`` (no torch needed).

``list`` shows every checkpoint of a run with its step, epoch, metrics, size and the best and
latest marks; ``info`` shows what one checkpoint holds and checks every file's checksum.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from autovoice.errors import AutovoiceError

EXIT_DAMAGED = 1


def _size(count: float) -> str:
    if count < 1000:
        return f"{count:.0f} B"
    exponent = min(int(math.log10(count) // 3), 3)
    return f"{count / 1000**exponent:.1f} {('kB', 'MB', 'GB')[exponent - 1]}"


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _metrics(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())) or "-"


def list_rows(
    location: str,
    metric: str = "val_loss",
    mode: str = "min",
    registry: Any = None,
    *,
    verify: bool = False,
) -> list[dict[str, Any]]:
    """One row per checkpoint under ``location``, oldest step first, with its marks.

    Every checkpoint is checked before it can be marked: its files must all be there with the
    sizes meta.json gives (read from the store without reading the files), and with ``verify``
    their checksums must match (every file read). One that fails is a ``damaged`` row naming
    the problem, and the ``latest`` and ``best`` marks go to the usable checkpoints only."""
    from autovoice.training.checkpoints.catalog import check_sizes, open_store, scan
    from autovoice.training.checkpoints.catalog import verify as verify_checkpoint
    from autovoice.training.retention import best, newest

    store = open_store(location, registry=registry)
    found = scan(store)
    check = verify_checkpoint if verify else check_sizes
    problems = {record.name: check(store, record.name) for record in found.records}
    usable = [record for record in found.records if not problems[record.name]]
    top = {r.name for r in best(usable, 1, metric, mode)}
    last = {r.name for r in newest(usable, 1)}
    integrity = "checksums ok" if verify else "sizes ok"
    rows: list[dict[str, Any]] = []
    for record in found.records:
        if problems[record.name]:
            reason = "; ".join(problems[record.name])
            rows.append({"name": record.name, "status": "damaged", "reason": reason})
            continue
        marks = [m for m, names in (("latest", last), ("best", top)) if record.name in names]
        rows.append(
            {
                "name": record.name,
                "step": record.step,
                "epoch": record.epoch,
                "metrics": dict(record.metrics),
                "size": record.size,
                "created": record.created,
                "marks": marks,
                "status": "complete",
                "integrity": integrity,
            }
        )
    for name, why in found.damaged.items():
        rows.append({"name": name, "status": "damaged", "reason": why})
    for name in found.incomplete:
        rows.append({"name": name, "status": "incomplete", "reason": "interrupted save"})
    return rows


def render_list(rows: Sequence[dict[str, Any]]) -> list[str]:
    table = [["NAME", "STEP", "EPOCH", "METRICS", "SIZE", "SAVED (UTC)", "INTEGRITY", "MARKS"]]
    for row in rows:
        if row["status"] != "complete":
            status = f"{row['status']}: {row['reason']}"
            table.append([row["name"], "-", "-", status, "", "", "", ""])
            continue
        table.append(
            [
                row["name"],
                str(row["step"]),
                str(row["epoch"]),
                _metrics(row["metrics"]),
                _size(row["size"]),
                _when(row["created"]),
                row["integrity"],
                ",".join(row["marks"]),
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in table
    ]


def checkpoint_info(path: str, verify: bool = True, registry: Any = None) -> dict[str, Any]:
    """What the checkpoint at ``path`` (a directory or URI) holds, and its problems if any."""
    from autovoice.training.checkpoints.catalog import (
        location,
        open_store,
        read_meta,
        split_location,
    )
    from autovoice.training.checkpoints.catalog import verify as verify_checkpoint

    parent, name = split_location(path)
    store = open_store(parent, registry=registry)
    meta, size = read_meta(store, name)
    info = {key: meta.get(key) for key in ("name", "step", "epoch", "created", "metrics")}
    info |= {"location": location(store, name), "size": size, "files": meta["files"]}
    info |= {key: meta.get(key) for key in ("contents", "environment", "config", "symbols")}
    info["tensors"] = _tensor_summary(store, name) if verify else None
    info["problems"] = verify_checkpoint(store, name) if verify else None
    return info


def _tensor_summary(store: Any, name: str) -> dict[str, dict[str, Any]]:
    """Tensors, parameters and dtypes per module, read from the safetensors header."""
    try:
        data = store.read_bytes(f"{name}/model.safetensors")
        length = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + length])
    except (AutovoiceError, OSError, ValueError):
        return {}  # the integrity check says what is wrong with the file
    modules: dict[str, dict[str, Any]] = {}
    for key, entry in header.items():
        if key == "__metadata__" or not isinstance(entry, dict):
            continue
        module = modules.setdefault(key.split("/")[0], {"tensors": 0, "values": 0, "dtypes": []})
        module["tensors"] += 1
        module["values"] += math.prod(entry.get("shape", []))
        if entry.get("dtype") not in module["dtypes"]:
            module["dtypes"].append(entry.get("dtype"))
    return modules


def render_info(info: dict[str, Any]) -> list[str]:
    env = info.get("environment") or {}
    git = env.get("git") or {}
    lines = [
        ("checkpoint", info["location"]),
        ("step", str(info["step"])),
        ("epoch", str(info["epoch"])),
        ("saved", f"{_when(float(info['created'] or 0))} UTC"),
        ("metrics", _metrics(info["metrics"] or {})),
        ("size", _size(info["size"] + sum(f["size"] for f in info["files"].values()))),
    ]
    lines += [
        ("file", f"{n}  {_size(f['size'])}  sha256 {f['sha256'][:16]}")
        for n, f in sorted(info["files"].items())
    ]
    for module, summary in (info.get("tensors") or {}).items():
        kinds = "/".join(summary["dtypes"])
        lines.append(
            (
                "module",
                f"{module}: {summary['tensors']} tensors, {summary['values']:,} values ({kinds})",
            )
        )
    for kind in ("optimizers", "schedulers", "scaler"):
        names = (info.get("contents") or {}).get(kind) or []
        lines.append((kind, ", ".join(names) or "-"))
    versions = ", ".join(f"{k} {env[k]}" for k in ("python", "torch", "autovoice") if k in env)
    lines += [("versions", versions or "-"), ("platform", str(env.get("platform", "-")))]
    if git:
        lines.append(("git", f"{git.get('commit')}{' (dirty)' if git.get('dirty') else ''}"))
    config, symbols = info.get("config"), info.get("symbols")
    lines.append(("config", ", ".join(sorted(config)) if isinstance(config, dict) else "-"))
    lines.append(("symbols", _describe_symbols(symbols)))
    problems = info.get("problems")
    if problems is not None:
        lines.append(("integrity", "ok: every checksum matches" if not problems else "DAMAGED"))
        lines += [("problem", problem) for problem in problems]
    return [f"{label:<11} {value}" for label, value in lines]


def run_list(args: argparse.Namespace) -> int:
    rows = list_rows(args.location, args.metric, args.mode, verify=args.verify)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"no checkpoints in {args.location}")
    else:
        print("\n".join(render_list(rows)))
    return 0


def run_info(args: argparse.Namespace) -> int:
    info = checkpoint_info(args.path, verify=not args.no_verify)
    print(json.dumps(info, indent=2) if args.json else "\n".join(render_info(info)))
    return EXIT_DAMAGED if info["problems"] else 0


def register(sub: Any) -> None:
    parser = sub.add_parser("checkpoints", help="list and inspect training checkpoints")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the checkpoints of a run, best and latest marked")
    listing.add_argument("location", help="checkpoint directory or store URI")
    listing.add_argument("--metric", default="val_loss", help="metric for the best mark")
    listing.add_argument("--mode", choices=("min", "max"), default="min", help="better is")
    listing.add_argument(
        "--verify", action="store_true", help="read every file and check its checksum"
    )
    listing.add_argument("--json", action="store_true", help="print JSON for machines")
    listing.set_defaults(func=run_list)
    info = actions.add_parser("info", help="what one checkpoint holds; checks its checksums")
    info.add_argument("path", help="a checkpoint directory or URI (…/step-000001000)")
    info.add_argument("--no-verify", action="store_true", help="skip reading the files")
    info.add_argument("--json", action="store_true", help="print JSON for machines")
    info.set_defaults(func=run_info)


def _describe_symbols(symbols: object) -> str:
    """``"42 characters"`` for a symbol table as ``SymbolTable.to_dict()`` writes it."""
    if isinstance(symbols, dict) and isinstance(symbols.get("symbols"), list):
        return f"{len(symbols['symbols'])} {symbols.get('kind', 'symbols')}"
    return "-"

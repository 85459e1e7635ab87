"""The reliability trial: SIGKILL a tiny training run at many points, and feed every entry point
crafted bad inputs. Ends stdout with one JSON line.

Kill points. A tiny acoustic model trains on a corpus of tones made here. The run is killed over
and over: at a random moment of its steps (the process is frozen with SIGSTOP first, the
checkpoints it has are read and verified, then SIGKILL), or at a point inside a save (hooks in
the training process stop it half-way through a file, after a file, or half-way through
retention, and wait there for the kill). After each kill ``autovoice train --resume auto`` goes
on. Counted: checkpoints lost (complete and verified before a kill, unreadable or gone after,
other than by retention: ``checkpoint.max_keep`` newer ones survive it), and resume exactness
(the final weights and every logged loss against a run that was never interrupted).

Bad inputs. Each case runs ``python -m autovoice ...`` in a subprocess and is classified: a
clear error (non-zero exit, an ``error:`` message naming what is wrong, no traceback), an unclear
error (refused, but the message does not name it), a traceback, a silent acceptance (exit 0 where
it must refuse), a hang (past the time limit), and for the known-good inputs accepted or wrongly
refused.

    python scripts/reliability.py                 # the full trial (a few minutes on 2 cores)
    python scripts/reliability.py --quick         # 3 kill points, a sample of the inputs
    python scripts/reliability.py --only inputs   # one part
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parent.parent
RATE = 16000
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
CASE_TIMEOUT = 120.0

# -- a corpus of tones --------------------------------------------------------------------------


def tone(seconds: float, freq: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(7 * t))).astype(np.float32)


WORDS = [
    "the",
    "kettle",
    "clicked",
    "off",
    "while",
    "a",
    "dog",
    "barked",
    "at",
    "seven",
    "green",
    "doors",
]


def make_corpus(root: Path, utterances: int = 10) -> Path:
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(utterances):
        sf.write(root / "wavs" / f"u{i}.wav", tone(0.6 + 0.07 * i, 180.0 + 25 * i), RATE)
        text = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(3 + i % 4))
        lines.append(json.dumps({"audio_filepath": f"wavs/u{i}.wav", "text": text}))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return root


TRAIN_CONFIG = """
[data]
corpus = "{corpus}"
min_duration = 0.1
val_fraction = 0.2

[data.options]
segment_size = 0

[model.options]
preset = "tiny"

[training]
output_dir = "{out}"
batch_size = 2
max_steps = {steps}
val_every = 4
checkpoint_every = 2
log_every = 1
device = "cpu"

[checkpoint]
max_keep = {keep}
keep_best = 0
"""

# -- the training process, with its stop points -------------------------------------------------

SAVE_POINTS = ("inside-model-file", "after-model-file", "after-state-file", "inside-meta-file")
RETENTION_POINT = "during-retention"


def _stop(marker: str) -> None:
    Path(marker).write_text(str(os.getpid()))
    time.sleep(600)


def child(point: str, save: int, marker: str, argv: list[str]) -> int:
    """Train (``argv`` after ``train``), stopping at ``point`` of this process's ``save``-th
    save; ``point = "steps"``: only write ``marker`` when training starts."""
    from autovoice.cli import main
    from autovoice.training.checkpoints.manager import CheckpointManager
    from autovoice.training.trainer import Trainer
    from autovoice_stores.local import LocalStore  # type: ignore[import-untyped]

    fit, write_ckpt, fill, write, delete = (
        Trainer.fit,
        CheckpointManager._write,
        LocalStore._fill,
        LocalStore.write_bytes,
        LocalStore.delete,
    )
    count = {"save": 0, "fill": 0, "write": 0}
    inside = {"inside-model-file": 1, "inside-meta-file": 3}.get(point)
    after = {"after-model-file": 1, "after-state-file": 2}.get(point)

    def started(self: Any, *a: Any, **k: Any) -> Any:
        if point == "steps":
            Path(marker).write_text(str(os.getpid()))
        return fit(self, *a, **k)

    def counted_write(self: Any, *a: Any, **k: Any) -> Any:
        count["save"] += 1
        count["fill"] = count["write"] = 0
        return write_ckpt(self, *a, **k)

    def half_fill(self: Any, fd: int, data: bytes) -> None:
        count["fill"] += 1
        if count["save"] != save or count["fill"] != inside:
            fill(self, fd, data)
            return
        with os.fdopen(fd, "wb") as file:
            file.write(data[: len(data) // 2])
            file.flush()
            os.fsync(file.fileno())
            _stop(marker)

    def write_then_stop(self: Any, key: str, data: bytes) -> None:
        write(self, key, data)
        count["write"] += 1
        if count["save"] == save and count["write"] == after:
            _stop(marker)

    def delete_then_stop(self: Any, key: str) -> None:
        delete(self, key)
        if point == RETENTION_POINT and count["save"] >= save:
            _stop(marker)

    Trainer.fit = started  # type: ignore[method-assign]
    CheckpointManager._write = counted_write  # type: ignore[method-assign]
    LocalStore._fill = half_fill
    LocalStore.write_bytes = write_then_stop
    LocalStore.delete = delete_then_stop
    return main(["train", *argv])


# -- the kill trial -----------------------------------------------------------------------------


def _checkpoints(directory: Path) -> dict[str, bool]:
    """Each complete checkpoint's name -> whether it reads back whole (every checksum)."""
    from autovoice.errors import AutovoiceError
    from autovoice.training.checkpoints.manager import CheckpointManager

    if not directory.is_dir():
        return {}
    manager = CheckpointManager(directory, max_keep=100, keep_best=0, recover=False)
    found = {}
    for record in manager.list_checkpoints():
        try:
            manager.read(record.name)
            found[record.name] = True
        except AutovoiceError:
            found[record.name] = False
    return found


def _lost(before: dict[str, bool], after: dict[str, bool], keep: int) -> list[str]:
    """Verified before, not readable after, and not explained by retention (``keep`` newer
    readable checkpoints exist after the kill)."""
    readable = sorted(name for name, ok in after.items() if ok)
    lost = []
    for name in (n for n, ok in before.items() if ok):
        if after.get(name):
            continue
        if sum(1 for other in readable if other > name) >= keep:
            continue
        lost.append(name)
    return lost


def _train_argv(config: Path, out: Path) -> list[str]:
    return [str(config), "--quiet", "--stage", "acoustic", "--resume", "auto",
            "--set", f"training.output_dir='{out}'"]  # fmt: skip


def _spawn(point: str, save: int, marker: Path, argv: list[str], log: Path) -> Any:
    command = [sys.executable, __file__, "_child", point, str(save), str(marker), "--", *argv]
    with log.open("ab") as sink:
        return subprocess.Popen(command, env=ENV, stdout=sink, stderr=sink, cwd=REPO)


def _wait_marker(proc: Any, marker: Path, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.02)
    return marker.exists() and proc.poll() is None


def _kill_once(
    point: str, save: int, out: Path, argv: list[str], keep: int, rng: random.Random
) -> dict[str, Any]:
    """One kill at ``point``; returns what it found. ``finished``: the run ended first."""
    marker = out.parent / f"marker-{time.monotonic_ns()}"
    proc = _spawn(point, save, marker, argv, out.parent / "train.log")
    try:
        if not _wait_marker(proc, marker, 300):
            proc.wait(timeout=300)
            return {"point": point, "killed": False, "code": proc.returncode}
        if point == "steps":
            time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGSTOP)
        before = _checkpoints(out / "acoustic" / "checkpoints")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    after = _checkpoints(out / "acoustic" / "checkpoints")
    lost = _lost(before, after, keep)
    return {"point": point, "killed": True, "before": len(before), "lost": lost}


def _weights(directory: Path) -> tuple[str, dict[str, Any]]:
    from autovoice.training.checkpoints.manager import CheckpointManager

    manager = CheckpointManager(directory, recover=False)
    newest = manager.list_checkpoints()[-1].name
    return newest, manager.read(newest)[1]


def _logged(logs: Path) -> dict[tuple[str, int], list[float]]:
    """Every scalar the run's TensorBoard files hold: (tag, step) -> values, file by file."""
    from tensorboard.backend.event_processing.event_file_loader import (  # type: ignore[import-untyped]
        EventFileLoader,
    )
    from tensorboard.util.tensor_util import make_ndarray  # type: ignore[import-untyped]

    values: dict[tuple[str, int], list[float]] = {}
    for path in sorted(logs.rglob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime_ns):
        events = EventFileLoader(str(path)).Load()
        while True:
            try:
                event = next(events)
            except StopIteration:
                break
            except Exception:  # the end of a file cut by a kill: its whole events were taken
                break
            for value in event.summary.value:
                number = float(make_ndarray(value.tensor).reshape(-1)[0])
                values.setdefault((value.tag, event.step), []).append(number)
    return values


def _compare_weights(a: dict[str, Any], b: dict[str, Any]) -> tuple[int, int]:
    import torch

    tensors = differ = 0
    for module in sorted(set(a) | set(b)):
        for name in sorted(set(a.get(module, {})) | set(b.get(module, {}))):
            tensors += 1
            x, y = a.get(module, {}).get(name), b.get(module, {}).get(name)
            if x is None or y is None or not torch.equal(x, y):
                differ += 1
    return tensors, differ


def _plan(kills: int, rng: random.Random) -> list[tuple[str, int]]:
    points = [*SAVE_POINTS, RETENTION_POINT]
    plan: list[tuple[str, int]] = []
    for i in range(kills):
        plan.append(("steps", 0) if i % 2 == 0 else (points[(i // 2) % len(points)], 1 + i % 2))
    rng.shuffle(plan)
    return plan


def kill_trial(work: Path, kills: int, seed: int) -> dict[str, Any]:
    """SIGKILL a tiny run ``kills`` times (resuming after each), then compare it with a
    straight run."""
    rng = random.Random(seed)
    steps, keep = 20 + 5 * kills, 3
    corpus = make_corpus(work / "corpus")
    config = work / "train.toml"
    config.write_text(TRAIN_CONFIG.format(corpus=corpus, out=work / "x", steps=steps, keep=keep))
    straight, chain = work / "straight", work / "chain"
    straight.mkdir()
    chain.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "autovoice", "train", *_train_argv(config, straight / "run")],
        env=ENV, cwd=REPO, capture_output=True, timeout=600,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"the uninterrupted run failed:\n{done.stderr.decode()[-2000:]}")
    argv = _train_argv(config, chain / "run")
    results = [_kill_once(p, s, chain / "run", argv, keep, rng) for p, s in _plan(kills, rng)]
    final = subprocess.run(
        [sys.executable, "-m", "autovoice", "train", *argv],
        env=ENV, cwd=REPO, capture_output=True, timeout=600,
    )  # fmt: skip
    stage = "acoustic"
    name_a, weights_a = _weights(straight / "run" / stage / "checkpoints")
    name_b, weights_b = _weights(chain / "run" / stage / "checkpoints")
    tensors, differ = _compare_weights(weights_a, weights_b)
    ref, got = _logged(straight / "run" / stage / "logs"), _logged(chain / "run" / stage / "logs")
    compared = sum(1 for key in ref if key in got)
    mismatched = sum(1 for key in ref if key in got and set(got[key]) != set(ref[key]))
    killed = [r for r in results if r["killed"]]
    return {
        "kill_points_tried": len(killed),
        "kill_points_not_reached": len(results) - len(killed),
        "kills_by_point": dict(Counter(r["point"] for r in killed)),
        "checkpoints_verified_before_kills": sum(r["before"] for r in killed),
        "checkpoints_lost": sum(len(r["lost"]) for r in killed),
        "lost": [name for r in killed for name in r["lost"]],
        "final_run_exit": final.returncode,
        "final_checkpoint": [name_a, name_b],
        "weights_tensors_compared": tensors,
        "weights_tensors_different": differ,
        "logged_values_reference": len(ref),
        "logged_values_compared": compared,
        "logged_values_different": mismatched,
        "logged_values_missing": len(ref) - compared,
        "resume_exact": final.returncode == 0 and name_a == name_b and differ == 0
        and mismatched == 0,
        "checkpoint_dir": str(chain / "run" / stage / "checkpoints"),
    }  # fmt: skip


# -- the bad-input catalogue --------------------------------------------------------------------

Setup = Callable[[Path], tuple[list[str], bytes | None]]
"""Makes a case's input under a fresh folder; returns the autovoice arguments and stdin."""


class Case:
    """One input: ``expect`` is refuse (a clear error), accept (exit 0), or warn (a refusal,
    or exit 0 with a warning naming it: a stage that falls back to another backend)."""

    def __init__(
        self, kind: str, name: str, setup: Setup, *, expect: str = "refuse", names: str = ""
    ) -> None:
        self.kind, self.name, self.setup, self.expect, self.names = kind, name, setup, expect, names


def classify(case: Case, code: int | None, out: str, err: str, folder: Path) -> str:
    text = out + err
    if code is None:
        return "hang"
    if "Traceback (most recent call last)" in text:
        return "traceback"
    if (folder / "PWNED").exists():
        return "silent acceptance"  # a crafted pickle ran its payload
    if case.expect == "accept":
        return "accepted" if code == 0 else "wrongly refused"
    named = case.names in text if case.names else "error" in err.lower()
    if code == 0:
        warned = case.expect == "warn" and "warning" in err.lower() and named
        return "warned fallback" if warned else "silent acceptance"
    return "clear error" if named else "unclear error"


def run_case(case: Case, root: Path) -> dict[str, Any]:
    folder = root / case.kind / case.name
    folder.mkdir(parents=True)
    args, stdin = case.setup(folder)
    command = [sys.executable, "-m", "autovoice", *args]
    try:
        done = subprocess.run(
            command, input=stdin or b"", capture_output=True, timeout=CASE_TIMEOUT,
            env=ENV, cwd=folder,
        )  # fmt: skip
        code, out, err = done.returncode, done.stdout.decode(errors="replace"), ""
        err = done.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        code, out, err = None, "", ""
    verdict = classify(case, code, out, err, folder)
    message = next((line for line in err.splitlines() if "error" in line.lower()), "")
    return {"kind": case.kind, "name": case.name, "expect": case.expect, "class": verdict,
            "exit": code, "message": message[:300] or err.strip()[-300:]}  # fmt: skip


class _Payload:
    """Unpickled, it runs a command (what a malicious checkpoint would do): creates a file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _pickle_payload(marker: Path) -> bytes:
    import pickle

    return pickle.dumps({"extra": _Payload(str(marker))})


def checkpoint_cases(good: Path) -> list[Case]:
    """Crafted checkpoints, from a good one (``good``), at info, checkpoints list, train
    --resume and export."""

    def copy(folder: Path) -> Path:
        target = folder / "ckpts" / good.name
        shutil.copytree(good, target)
        return target

    def pickle_state(folder: Path) -> Path:
        target = copy(folder)
        (target / "state.pt").write_bytes(_pickle_payload(folder / "PWNED"))
        return target

    def truncated_weights(folder: Path) -> Path:
        target = copy(folder)
        data = (target / "model.safetensors").read_bytes()
        (target / "model.safetensors").write_bytes(data[: len(data) // 2])
        return target

    def garbage_meta(folder: Path) -> Path:
        target = copy(folder)
        (target / "meta.json").write_bytes(b"\x00\xffnot json{")
        return target

    def typed_meta(folder: Path) -> Path:
        target = copy(folder)
        meta = json.loads((target / "meta.json").read_text())
        meta["step"], meta["epoch"] = "seven", [1]
        (target / "meta.json").write_text(json.dumps(meta))
        return forge(target)  # its own checksum right: the field checks must refuse it

    def forge(target: Path) -> Path:
        """Make every checksum match again: only the loader itself can refuse the forgery."""
        import hashlib

        from autovoice.training.checkpoints.meta import SELF_CHECKSUM, _canonical

        meta = json.loads((target / "meta.json").read_text())
        blob = (target / "state.pt").read_bytes()
        meta["files"]["state.pt"] = {"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}
        meta.pop(SELF_CHECKSUM, None)
        meta[SELF_CHECKSUM] = hashlib.sha256(_canonical(meta)).hexdigest()
        (target / "meta.json").write_text(json.dumps(meta))
        return target

    def pickle_checksummed(folder: Path) -> Path:
        return forge(pickle_state(folder))

    def torch_zip_checksummed(folder: Path) -> Path:
        import io

        import torch

        target = copy(folder)
        buffer = io.BytesIO()
        torch.save({"extra": _Payload(str(folder / "PWNED"))}, buffer)  # data.pkl runs it
        (target / "state.pt").write_bytes(buffer.getvalue())
        return forge(target)

    crafted = {
        "pickle-state": (pickle_state, "state.pt"),
        "pickle-state-checksummed": (pickle_checksummed, "state.pt"),
        "torch-zip-payload-checksummed": (torch_zip_checksummed, "state.pt"),
        "truncated-weights": (truncated_weights, "model.safetensors"),
        "garbage-meta": (garbage_meta, "meta.json"),
        "wrongly-typed-meta": (typed_meta, "meta.json"),
    }
    cases = []
    export = ("--vocoder", "griffin_lim", "--out", "v")
    for label, (make, names) in crafted.items():
        # info reads no pickle: a forgery with every checksum right is described, never run
        expect = "accept" if label.endswith("-checksummed") else "refuse"
        info = _at(make, ["info"])
        cases.append(Case("checkpoint", f"info-{label}", info, names=names, expect=expect))
        load = _at(make, ["export"], export)
        cases.append(Case("checkpoint", f"export-{label}", load, names=names))
    cases.append(Case("checkpoint", "info-good", _at(copy, ["info"]), expect="accept"))
    cases.append(
        Case("checkpoint", "list-verify-truncated",
             _at(lambda f: truncated_weights(f).parent, ["checkpoints", "list"], ("--verify",)),
             expect="accept")
    )  # fmt: skip
    return cases


def _at(make: Callable[[Path], Path], before: list[str], after: tuple[str, ...] = ()) -> Setup:
    def setup(folder: Path) -> tuple[list[str], bytes | None]:
        return [*before, str(make(folder)), *after], None

    return setup


def _bundle(folder: Path) -> Path:
    """A copy of the shipped voice (hard links: cheap, and indistinguishable from files)."""
    source = REPO / "autovoice" / "voices" / "default"
    target = folder / "voice"
    target.mkdir()
    for path in source.iterdir():
        if path.is_file():
            try:
                os.link(path, target / path.name)
            except OSError:
                shutil.copy2(path, target / path.name)
    (target / "manifest.json").unlink()
    shutil.copy2(source / "manifest.json", target / "manifest.json")
    return target


def _edit_manifest(bundle: Path, change: Callable[[dict[str, Any]], None]) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    change(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def _replace_file(bundle: Path, name: str, data: bytes, *, rehash: bool) -> None:
    import hashlib

    (bundle / name).unlink()
    (bundle / name).write_bytes(data)
    if rehash:
        entry = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        _edit_manifest(bundle, lambda m: m["files"].__setitem__(name, entry))


def _bundle_crafts() -> dict[str, tuple[Callable[[Path], None], str]]:
    def link_outside(b: Path) -> None:
        (b / "vocoder.onnx").unlink()
        (b / "vocoder.onnx").symlink_to("/etc/passwd")

    def link_dir(b: Path) -> None:
        (b / "acoustic.onnx").unlink()
        (b / "acoustic.onnx").symlink_to("/etc")

    def set_at(*keys: str, value: Any) -> Callable[[Path], None]:
        def change(m: dict[str, Any]) -> None:
            node = m
            for key in keys[:-1]:
                node = node[key]
            node[keys[-1]] = value

        return lambda b: _edit_manifest(b, change)

    def shapes_81(b: Path) -> None:
        def change(m: dict[str, Any]) -> None:
            m["acoustic"]["signature"]["outputs"][0]["shape"][1] = 81
            m["vocoder"]["signature"]["inputs"][0]["shape"][1] = 81

        _edit_manifest(b, change)

    return {
        "symlink-to-etc-passwd": (link_outside, "vocoder.onnx"),
        "symlink-to-a-folder": (link_dir, "acoustic.onnx"),
        "files-entry-a-string": (set_at("files", "acoustic.onnx", value="abc"), "acoustic.onnx"),
        "files-not-an-object": (set_at("files", value=[1, 2]), "files"),
        "n-mels-81-in-signatures": (shapes_81, "81"),
        "audio-n-mels-81": (set_at("audio", "n_mels", value=81), "n_mels"),
        "format-version-negative": (set_at("format_version", value=-3), "format_version"),
        "preset-enormous": (set_at("acoustic", "options", "preset", value="enormous"), "preset"),
        "sample-rate-a-string": (set_at("audio", "sample_rate", value="fast"), "sample_rate"),
        "speakers-a-number": (set_at("speakers", value=3), "speakers"),
        "garbage-onnx-rehashed": (
            lambda b: _replace_file(b, "vocoder.onnx", os.urandom(4096), rehash=True),
            "vocoder.onnx",
        ),
        "garbage-onnx": (
            lambda b: _replace_file(b, "vocoder.onnx", os.urandom(4096), rehash=False),
            "vocoder.onnx",
        ),
        "manifest-not-json": (
            lambda b: (b / "manifest.json").write_bytes(b'{"format": \xff'),
            "manifest.json",
        ),
        "no-manifest": (lambda b: (b / "manifest.json").unlink(), "manifest.json"),
    }


FALLBACK_OK = {"garbage-onnx-rehashed"}
"""Crafts after which synthesis may fall back to the bundle's weights on another backend."""


def bundle_cases() -> list[Case]:
    cases = []
    for label, (craft, names) in _bundle_crafts().items():

        def made(folder: Path, craft: Callable[[Path], None] = craft) -> Path:
            bundle = _bundle(folder)
            craft(bundle)
            return bundle

        cases.append(Case("bundle", f"info-{label}", _at(made, ["info"]), names=names))
        synth = _at(made, ["synthesize", "Hello.", "-o", "out.wav", "--voice"])
        expect = "warn" if label in FALLBACK_OK else "refuse"
        cases.append(Case("bundle", f"synthesize-{label}", synth, names=names, expect=expect))
    cases.append(Case("bundle", "info-good", _at(_bundle, ["info"]), expect="accept"))
    synth_good = _at(_bundle, ["synthesize", "Hello.", "-o", "out.wav", "--voice"])
    cases.append(Case("bundle", "synthesize-good", synth_good, expect="accept"))
    return cases


def _corpus_crafts() -> dict[str, tuple[Callable[[Path], object], str]]:
    def audio(fault: Callable[[Path], object]) -> Callable[[Path], object]:
        return lambda root: fault(root / "wavs" / "u3.wav")

    def float_with(value: float) -> Callable[[Path], None]:
        def write(path: Path) -> None:
            wave = tone(0.8, 300.0)
            wave[100] = value
            sf.write(path, wave, RATE, subtype="FLOAT")

        return write

    def cut(fmt: str) -> Callable[[Path], None]:
        def write(path: Path) -> None:
            sf.write(path, tone(1.5, 300.0), RATE, format=fmt)
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])

        return write

    def manifest_line(line: str) -> Callable[[Path], None]:
        def write(root: Path) -> None:
            lines = (root / "manifest.jsonl").read_text().splitlines()
            lines[3] = line
            (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")

        return write

    def raw_line(data: bytes) -> Callable[[Path], None]:
        def write(root: Path) -> None:
            lines = (root / "manifest.jsonl").read_bytes().splitlines()
            lines[3] = data
            (root / "manifest.jsonl").write_bytes(b"\n".join(lines) + b"\n")

        return write

    return {
        "nan-samples": (audio(float_with(np.nan)), "manifest.jsonl:4"),
        "inf-samples": (audio(float_with(np.inf)), "manifest.jsonl:4"),
        "truncated-wav": (audio(cut("WAV")), "manifest.jsonl:4"),
        "truncated-flac": (audio(cut("FLAC")), "manifest.jsonl:4"),
        "silent": (audio(lambda p: sf.write(p, np.zeros(RATE), RATE)), "manifest.jsonl:4"),
        "flac-named-wav": (
            audio(lambda p: sf.write(p, tone(0.8, 300.0), RATE, format="FLAC")),
            "manifest.jsonl:4",
        ),
        "not-audio": (audio(lambda p: p.write_text("hello")), "manifest.jsonl:4"),
        "empty-audio": (audio(lambda p: p.write_bytes(b"")), "manifest.jsonl:4"),
        "missing-file": (audio(lambda p: p.unlink()), "manifest.jsonl:4"),
        "too-long": (audio(lambda p: sf.write(p, tone(25.0, 300.0), RATE)), "manifest.jsonl:4"),
        "empty-text": (
            manifest_line(json.dumps({"audio_filepath": "wavs/u3.wav", "text": "  "})),
            "manifest.jsonl:4",
        ),
        "text-a-number": (
            manifest_line(json.dumps({"audio_filepath": "wavs/u3.wav", "text": 7})),
            "manifest.jsonl:4",
        ),
        "no-audio-field": (manifest_line(json.dumps({"text": "hi"})), "manifest.jsonl:4"),
        "invalid-json": (manifest_line('{"audio_filepath": "wavs/u3.wav", "text": '),
                         "manifest.jsonl:4"),
        "not-utf8-line": (raw_line(b'{"audio_filepath": "wavs/u3.wav", "text": "\xff\xfe"}'),
                          "manifest.jsonl:4"),
        "duplicate-id": (
            manifest_line(json.dumps({"audio_filepath": "wavs/u2.wav", "text": "again"})),
            "manifest.jsonl:4",
        ),
        "absolute-path-elsewhere": (
            manifest_line(json.dumps({"audio_filepath": "/etc/passwd", "text": "hi"})),
            "manifest.jsonl:4",
        ),
    }  # fmt: skip


def corpus_cases() -> list[Case]:
    cases = []
    for label, (craft, names) in _corpus_crafts().items():

        def made(folder: Path, craft: Callable[[Path], object] = craft) -> Path:
            root = make_corpus(folder / "corpus", utterances=6)
            craft(root)
            return root

        cases.append(Case("corpus", f"check-{label}", _at(made, ["corpus", "check"]), names=names))

    def other_rates(folder: Path) -> Path:
        root = make_corpus(folder / "corpus", utterances=6)
        stereo = np.stack([tone(1.0, 300.0, 8000), tone(1.0, 320.0, 8000)], axis=1)
        sf.write(root / "wavs" / "u1.wav", stereo, 8000)  # 8 kHz stereo: resampled, kept
        sf.write(root / "wavs" / "u2.wav", tone(1.0, 300.0, 48000), 48000, subtype="PCM_24")
        return root

    good = _at(lambda f: make_corpus(f / "corpus", 6), ["corpus", "check"])
    cases.append(Case("corpus", "check-good", good, expect="accept"))
    rates = _at(other_rates, ["corpus", "check"])
    cases.append(Case("corpus", "check-other-sample-rates", rates, expect="accept"))
    cases.append(Case("corpus", "check-not-a-corpus", _at(lambda f: f, ["corpus", "check"])))
    return cases


def _synth(*args: str, stdin: bytes | None = None) -> Setup:
    def setup(folder: Path) -> tuple[list[str], bytes | None]:
        (folder / "adir").mkdir()
        return [a.replace("{dir}", str(folder)) for a in args], stdin

    return setup


def cli_cases() -> list[Case]:
    bad_text = b"Hello \xff\xfe there.\n"
    specs: list[tuple[str, Setup, str]] = [
        ("synthesize-o-dir", _synth("synthesize", "Hi.", "-o", "{dir}/adir"), "adir"),
        ("synthesize-o-noext", _synth("synthesize", "Hi.", "-o", "noext"), "noext"),
        ("synthesize-o-empty", _synth("synthesize", "Hi.", "-o", ""), "-o"),
        ("synthesize-o-bad-ext", _synth("synthesize", "Hi.", "-o", "x.xyz"), "xyz"),
        ("threads-huge", _synth("synthesize", "Hi.", "-o", "a.wav", "--threads", "100000"),
         "--threads"),
        ("threads-billion", _synth("synthesize", "Hi.", "-o", "a.wav", "--threads",
                                   "1000000000"), "--threads"),
        ("threads-negative", _synth("synthesize", "Hi.", "-o", "a.wav", "--threads", "-4"),
         "--threads"),
        ("stdin-invalid-utf8", _synth("synthesize", "-o", "a.wav", stdin=bad_text), "UTF-8"),
        ("file-invalid-utf8", _file_case(bad_text), "UTF-8"),
        ("stdin-empty", _synth("synthesize", "-o", "a.wav", stdin=b""), "text"),
        ("pace-nan", _synth("synthesize", "Hi.", "-o", "a.wav", "--pace", "nan"), "pace"),
        ("pace-zero", _synth("synthesize", "Hi.", "-o", "a.wav", "--pace", "0"), "pace"),
        ("speaker-99", _synth("synthesize", "Hi.", "-o", "a.wav", "--speaker", "99"), "speaker"),
        ("voice-missing", _synth("synthesize", "Hi.", "-o", "a.wav", "--voice", "nowhere"),
         "nowhere"),
        ("backend-unknown", _synth("synthesize", "Hi.", "-o", "a.wav", "--backend", "warp"),
         "warp"),
        ("set-unknown-key", _synth("synthesize", "Hi.", "-o", "a.wav", "--set", "nope.x=1"),
         "nope"),
        ("set-no-equals", _synth("synthesize", "Hi.", "-o", "a.wav", "--set", "garbage"),
         "garbage"),
        ("train-set-bad-value", _train_set("training.batch_size=-1"), "batch_size"),
        ("train-set-wrong-type", _train_set("training.batch_size='many'"), "batch_size"),
        ("train-set-bad-toml", _train_set("training.batch_size=[1"), "batch_size"),
        ("set-threads-huge", _synth("synthesize", "Hi.", "-o", "a.wav", "--set",
                                    "inference.threads=100000"), "threads"),
        ("info-missing-path", _synth("info", "{dir}/missing"), "missing"),
        ("info-empty-folder", _synth("info", "{dir}/adir"), "adir"),
    ]  # fmt: skip
    cases = [Case("cli", name, setup, names=names) for name, setup, names in specs]
    good = _synth("synthesize", "-o", "a.wav", stdin=b"Hello there.\n")
    cases.append(Case("cli", "synthesize-stdin-good", good, expect="accept"))
    zero = _synth("synthesize", "Hi.", "-o", "a.wav", "--threads", "0")  # 0: the backend decides
    cases.append(Case("cli", "threads-zero", zero, expect="accept"))
    return cases


def _file_case(data: bytes) -> Setup:
    def setup(folder: Path) -> tuple[list[str], bytes | None]:
        (folder / "text.txt").write_bytes(data)
        return ["synthesize", "--file", str(folder / "text.txt"), "-o", "a.wav"], None

    return setup


def _train_set(setting: str) -> Setup:
    def setup(folder: Path) -> tuple[list[str], bytes | None]:
        corpus = make_corpus(folder / "corpus", 6)
        config = folder / "c.toml"
        config.write_text(TRAIN_CONFIG.format(corpus=corpus, out=folder / "out", steps=1, keep=2))
        return ["train", str(config), "--quiet", "--set", setting], None

    return setup


CONFIGS = {
    "unknown-key": ("[training]\nbatch_sise = 4\n", "batch_sise"),
    "wrong-type": ('[training]\nbatch_size = "four"\n', "batch_size"),
    "out-of-range": ("[training]\nbatch_size = 0\n", "batch_size"),
    "negative-rate": ("[audio]\nsample_rate = -22050\n", "sample_rate"),
    "hop-over-fft": ("[audio]\nhop_length = 4096\nn_fft = 1024\n", ""),
    "unknown-model": ('[model]\nname = "voice_transfromer"\n', "voice_transfromer"),
    "toml-syntax": ("[training\nbatch_size = 4\n", "c.toml"),
    "unknown-section": ("[trainig]\nbatch_size = 4\n", "trainig"),
    "nan-learning-rate": ("[training]\nlearning_rate = nan\n", "learning_rate"),
}


def config_cases() -> list[Case]:
    def check(text: str | bytes) -> Setup:
        def setup(folder: Path) -> tuple[list[str], bytes | None]:
            path = folder / "c.toml"
            path.write_bytes(text if isinstance(text, bytes) else text.encode())
            return ["config", "check", str(path)], None

        return setup

    cases = [Case("config", name, check(t), names=n) for name, (t, n) in CONFIGS.items()]
    cases.append(Case("config", "not-utf8", check(b'[training]\nx = "\xff"\n'), names="c.toml"))
    cases.append(Case("config", "missing-file", _synth("config", "check", "{dir}/none.toml"),
                      names="none.toml"))  # fmt: skip
    cases.append(Case("config", "good", check("[training]\nbatch_size = 4\n"), expect="accept"))
    return cases


def catalogue(checkpoint: Path | None) -> list[Case]:
    cases = bundle_cases() + corpus_cases() + cli_cases() + config_cases()
    return (checkpoint_cases(checkpoint) if checkpoint else []) + cases


QUICK = {
    "corpus/check-nan-samples",
    "corpus/check-good",
    "cli/synthesize-o-noext",
    "config/unknown-key",
    "config/good",
    "bundle/info-files-entry-a-string",
}


def input_trial(work: Path, checkpoint: Path | None, quick: bool, jobs: int) -> dict[str, Any]:
    cases = catalogue(checkpoint)
    if quick:
        cases = [c for c in cases if f"{c.kind}/{c.name}" in QUICK]
    root = work / "inputs"
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(lambda case: run_case(case, root), cases))
    counts = Counter(r["class"] for r in results)
    return {
        "bad_inputs_tried": sum(1 for r in results if r["expect"] != "accept"),
        "good_inputs_tried": sum(1 for r in results if r["expect"] == "accept"),
        "classes": dict(counts),
        "by_kind": {
            kind: dict(Counter(r["class"] for r in results if r["kind"] == kind))
            for kind in sorted({r["kind"] for r in results})
        },
        "tracebacks": counts["traceback"],
        "silent_acceptances": counts["silent acceptance"],
        "cases": results,
    }


# -- main ---------------------------------------------------------------------------------------


def _report(kills: dict[str, Any] | None, inputs: dict[str, Any] | None) -> None:
    if kills:
        print(f"kill points tried: {kills['kill_points_tried']} {kills['kills_by_point']}")
        print(
            f"  checkpoints verified before the kills: "
            f"{kills['checkpoints_verified_before_kills']}, lost: {kills['checkpoints_lost']}"
        )
        print(f"  resume exact: {kills['resume_exact']} (weights: "
              f"{kills['weights_tensors_compared']} tensors, {kills['weights_tensors_different']}"
              f" differ; logged values: {kills['logged_values_compared']} compared, "
              f"{kills['logged_values_different']} differ, {kills['logged_values_missing']} "
              "never flushed by a killed process)")  # fmt: skip
    if inputs:
        print(f"bad inputs tried: {inputs['bad_inputs_tried']}, known-good inputs: "
              f"{inputs['good_inputs_tried']}")  # fmt: skip
        for kind, classes in inputs["by_kind"].items():
            print(f"  {kind}: " + ", ".join(f"{k} {v}" for k, v in sorted(classes.items())))
        for case in inputs["cases"]:
            if case["class"] not in ("clear error", "accepted"):
                print(f"  {case['class']}: {case['kind']}/{case['name']}: {case['message']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 kill points, 6 inputs")
    parser.add_argument("--kills", type=int, default=16, help="kill points (default 16)")
    parser.add_argument("--only", choices=("kills", "inputs"), help="run one part")
    parser.add_argument("--seed", type=int, default=0, help="random delays and order")
    parser.add_argument("--jobs", type=int, default=2, help="input cases at once (default 2)")
    parser.add_argument("--work", help="working folder (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="reliability-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        kills = None
        if args.only != "inputs":
            kills = kill_trial(work / "kills", 3 if args.quick else args.kills, args.seed)
        checkpoint = None
        if kills:
            found = sorted(Path(kills["checkpoint_dir"]).glob("step-*"))
            checkpoint = found[-1] if found else None
        inputs = None
        if args.only != "kills":
            inputs = input_trial(work, checkpoint, args.quick, args.jobs)
        _report(kills, inputs)
        result = {
            "date": time.strftime("%Y-%m-%d"),
            "quick": args.quick,
            "seconds": round(time.monotonic() - started, 1),
            "kills": kills,
            "inputs": inputs,
        }
        print(json.dumps(result))
        ok = (not kills or (kills["checkpoints_lost"] == 0 and kills["resume_exact"])) and (
            not inputs or inputs["tracebacks"] + inputs["silent_acceptances"] == 0
        )
        return 0 if ok else 1
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        point, save, marker, _sep, *rest = sys.argv[2:]
        sys.exit(child(point, int(save), marker, rest))
    sys.exit(main())

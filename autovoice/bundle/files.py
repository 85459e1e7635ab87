"""A voice bundle's files: locating a bundle, extracting a ``.tar`` once into a cache, paths
held inside the bundle, and SHA-256 checksums (torch-free)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from autovoice.bundle.records import MANIFEST, BundleError

_CHUNK = 1 << 20


def is_bundle(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` looks like a bundle: a directory with a manifest, or a ``.tar``."""
    where = Path(path)
    return (where / MANIFEST).is_file() or (where.is_file() and tarfile.is_tarfile(where))


# -- files and checksums ------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_table(root: Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{name: {"sha256", "size"}}`` of the files ``names`` (relative to ``root``)."""
    return {
        name: {"sha256": sha256_file(root / name), "size": (root / name).stat().st_size}
        for name in sorted(names)
    }


def check_file(root: Path, name: str, entry: Mapping[str, Any]) -> None:
    """Raise :class:`BundleError` naming ``name`` unless it has the listed size and checksum."""
    path = bundle_path(root, name, f"$.files[{name!r}]")
    if not path.exists():
        raise BundleError(f"{path}: missing (listed in {MANIFEST})")
    if not path.is_file():
        raise BundleError(f"{path}: not a regular file (listed in {MANIFEST})")
    size = path.stat().st_size
    if size != entry.get("size"):
        raise BundleError(f"{path}: size {size} bytes, {MANIFEST} says {entry.get('size')}")
    if sha256_file(path) != entry.get("sha256"):
        raise BundleError(f"{path}: checksum mismatch: the file is corrupt or was changed")


# -- locating and extracting --------------------------------------------------------------------


def bundle_root(path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None) -> Path:
    """The bundle directory of ``path``; a ``.tar`` is extracted (once) under ``cache_dir``."""
    where = Path(path)
    if where.is_dir():
        return where
    if not where.exists():
        raise BundleError(f"{where}: no such voice bundle")
    if not tarfile.is_tarfile(where):
        raise BundleError(f"{where}: not a voice bundle (a directory or a .tar)")
    return _extract(where, Path(cache_dir) if cache_dir else default_cache_dir())


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "autovoice" / "bundles"


def _extract(archive: Path, cache_dir: Path) -> Path:
    target = cache_dir / sha256_file(archive)[:24]
    if (target / MANIFEST).is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".extract-", dir=cache_dir))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(scratch, filter="data")
        os.replace(_archive_top(scratch, archive), target)
    except (tarfile.TarError, OSError) as exc:
        if not (target / MANIFEST).is_file():
            raise BundleError(f"{archive}: cannot extract the voice bundle: {exc}") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _archive_top(scratch: Path, archive: Path) -> Path:
    """The directory holding the manifest: the archive's root or its single top folder."""
    if (scratch / MANIFEST).is_file():
        return scratch
    entries = list(scratch.iterdir())
    if len(entries) == 1 and (entries[0] / MANIFEST).is_file():
        return entries[0]
    raise BundleError(f"{archive}: no {MANIFEST} at the top of the archive")


# -- paths inside the bundle ------------------------------------------------------------------


def bundle_path(root: Path, name: str, field: str) -> Path:
    """``root / name`` for the file ``name`` of the manifest's ``field``: a relative path
    without ``..`` whose links, if any, all resolve inside the bundle. A link that leaves the
    bundle is refused without reading or describing what it points to.

    Links inside the bundle are read: they reach nothing the bundle does not hold, each file is
    checked by its own size and checksum whatever its name, and a ``.tar`` bundle's links are
    extracted the same way (the ``data`` filter keeps those inside the archive)."""
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\0" in name:
        raise BundleError(f"{root / MANIFEST}: {field}: {name!r} is not a path inside the bundle")
    path = root / name
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError) as exc:  # a loop of links
        raise BundleError(f"{path}: cannot be resolved: {exc}") from None
    if not inside:
        raise BundleError(
            f"{path}: a link that leaves the bundle (refused: a bundle's files must lie inside "
            "its folder)"
        )
    return path

"""The built-in checkpoint stores: one contract, run against ``file`` and ``fsspec``."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from autovoice.errors import AutovoiceError
from autovoice.plugins import Registry
from autovoice_stores.base import CheckpointStore, StoreError
from autovoice_stores.local import LocalStore
from autovoice_stores.options import FileStoreOptions, FsspecStoreOptions
from autovoice_stores.remote import FsspecStore


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover()


@pytest.fixture(params=["file", "fsspec"])
def store(request: pytest.FixtureRequest, tmp_path: Path, registry: Registry) -> CheckpointStore:
    spec = registry.get("store", request.param)
    if request.param == "file":
        return spec.create(FileStoreOptions(fsync=True), uri=str(tmp_path / "store"))
    return spec.create(uri=f"memory://test-{uuid.uuid4().hex}/root")


def test_round_trip(store: CheckpointStore) -> None:
    assert isinstance(store, CheckpointStore)
    assert not store.exists("ckpt/step-1.pt")
    store.write_bytes("ckpt/step-1.pt", b"\x00first")
    store.write_bytes("ckpt/step-1.pt", bytearray(b"second"))
    assert store.read_bytes("ckpt/step-1.pt") == b"second"
    assert store.exists("ckpt/step-1.pt")
    store.write_bytes("empty", b"")
    assert store.read_bytes("empty") == b""


def test_list_is_sorted_and_filtered_by_prefix(store: CheckpointStore) -> None:
    for key in ["b/2", "a", "b/1", "c/d/e", "bb"]:
        store.write_bytes(key, key.encode())
    assert store.list() == ["a", "b/1", "b/2", "bb", "c/d/e"]
    assert store.list("b") == ["b/1", "b/2", "bb"]
    assert store.list("b/") == ["b/1", "b/2"]
    assert store.list("c/d/") == ["c/d/e"]
    assert store.list("zz") == []


def test_missing_key_names_store_and_key(store: CheckpointStore) -> None:
    with pytest.raises(StoreError) as caught:
        store.read_bytes("ckpt/nope.pt")
    assert "'ckpt/nope.pt'" in str(caught.value)
    assert store.uri in str(caught.value)
    assert isinstance(caught.value, AutovoiceError)


def test_delete_and_missing_delete(store: CheckpointStore) -> None:
    store.write_bytes("a/b", b"x")
    store.delete("a/b")
    store.delete("a/b")
    store.delete("never/written")
    assert not store.exists("a/b")
    assert store.list() == []


@pytest.mark.parametrize(
    "key",
    [
        "/abs/key",
        "a//b",
        "a/../b",
        "..",
        "a\\b",
        "",
        "a/",
        "./a",
        "c:/x",
        ".x.tmp-0123456789abcdef",
    ],
)
def test_bad_keys_are_rejected_with_the_key(store: CheckpointStore, key: str) -> None:
    for action in (
        lambda: store.write_bytes(key, b"x"),
        lambda: store.read_bytes(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
    ):
        with pytest.raises(StoreError) as caught:
            action()
        assert repr(key) in str(caught.value)


def test_data_must_be_bytes(store: CheckpointStore) -> None:
    store.write_bytes("k", b"old")
    with pytest.raises(StoreError, match="'k'"):
        store.write_bytes("k", "text")  # type: ignore[arg-type]
    assert store.read_bytes("k") == b"old"


def test_key_cannot_also_be_a_directory(store: CheckpointStore) -> None:
    store.write_bytes("a", b"file")
    with pytest.raises(StoreError, match="'a/b'"):
        store.write_bytes("a/b", b"x")
    store.write_bytes("c/d", b"x")
    with pytest.raises(StoreError, match="'c'"):
        store.write_bytes("c", b"x")
    assert store.list() == ["a", "c/d"]
    assert store.read_bytes("a") == b"file"


def test_cleanup_with_nothing_to_clean(store: CheckpointStore) -> None:
    store.write_bytes("a/b", b"x")
    assert store.cleanup_temporaries() == []
    assert store.list() == ["a/b"]


# --- file store specifics --------------------------------------------------------------------


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_file_store_stale_temporary_is_hidden_and_cleaned(tmp_path: Path) -> None:
    store = LocalStore(uri=tmp_path)
    store.write_bytes("ckpt/step-1.pt", b"done")
    stale = tmp_path / "ckpt" / ".step-2.pt.tmp-0123456789abcdef"
    stale.write_bytes(b"half")
    assert store.list() == ["ckpt/step-1.pt"]
    assert not store.exists("ckpt/step-2.pt")
    assert store.cleanup_temporaries(older_than=3600) == []  # too fresh to be stale
    assert stale.exists()
    assert store.cleanup_temporaries() == ["ckpt/step-2.pt"]
    assert not stale.exists()
    assert _files(tmp_path) == ["ckpt/step-1.pt"]


def test_file_store_writes_under_the_root(tmp_path: Path) -> None:
    store = LocalStore(FileStoreOptions(fsync=False), uri=tmp_path / "deep" / "root")
    store.write_bytes("x/y/z.bin", b"123")
    assert (tmp_path / "deep/root/x/y/z.bin").read_bytes() == b"123"
    assert _files(tmp_path) == ["deep/root/x/y/z.bin"]


def test_file_uri_and_plain_path_are_the_same_store(tmp_path: Path) -> None:
    LocalStore(uri=tmp_path.as_uri()).write_bytes("k", b"v")
    assert LocalStore(uri=str(tmp_path)).read_bytes("k") == b"v"
    with pytest.raises(StoreError, match="otherhost"):
        LocalStore(uri="file://otherhost/x")


def test_list_on_a_missing_root_is_empty(tmp_path: Path) -> None:
    assert LocalStore(uri=tmp_path / "nothing").list() == []


@pytest.mark.parametrize("fail_at", ["fsync", "replace", "write"])
def test_failed_write_keeps_previous_value_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    store = LocalStore(FileStoreOptions(fsync=True), uri=tmp_path)
    store.write_bytes("ckpt/model.pt", b"previous")

    def boom(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    if fail_at == "write":
        monkeypatch.setattr(LocalStore, "_fill", _fill_half_then_fail)
    else:
        monkeypatch.setattr(os, fail_at, boom)
    with pytest.raises(StoreError) as caught:
        store.write_bytes("ckpt/model.pt", b"new and longer")
    monkeypatch.undo()
    assert "'ckpt/model.pt'" in str(caught.value)
    assert "No space left" in str(caught.value)
    assert store.read_bytes("ckpt/model.pt") == b"previous"
    assert _files(tmp_path) == ["ckpt/model.pt"]


def _fill_half_then_fail(_self: LocalStore, fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as file:
        file.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")


def test_interrupted_write_keeps_previous_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(uri=tmp_path)
    store.write_bytes("k", b"previous")

    def interrupt(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        store.write_bytes("k", b"new")
    monkeypatch.undo()
    assert store.read_bytes("k") == b"previous"
    assert _files(tmp_path) == ["k"]


# --- fsspec store specifics ------------------------------------------------------------------


def _memory_uri() -> str:
    return f"memory://test-{uuid.uuid4().hex}"


def test_fsspec_stores_with_one_uri_share_keys() -> None:
    uri = _memory_uri()
    FsspecStore(uri=uri).write_bytes("k", b"v")
    assert FsspecStore(uri=uri).read_bytes("k") == b"v"
    assert FsspecStore(uri=uri + "-other").list() == []
    assert FsspecStore(uri=uri + "/k2").list() == []  # a sibling root is another store


def test_fsspec_store_keeps_a_copy() -> None:
    store = FsspecStore(uri=_memory_uri())
    data = bytearray(b"abc")
    store.write_bytes("k", data)
    data[0] = ord("z")
    assert store.read_bytes("k") == b"abc"


def test_fsspec_stale_temporary_is_hidden_and_cleaned() -> None:
    store = FsspecStore(uri=_memory_uri())
    store.write_bytes("ckpt/step-1.pt", b"done")
    stale = f"{store.root}/ckpt/.step-2.pt.tmp-0123456789abcdef"
    store.fs.pipe_file(stale, b"half")
    assert store.list() == ["ckpt/step-1.pt"]
    assert not store.exists("ckpt/step-2.pt")
    assert store.cleanup_temporaries(older_than=3600) == []
    assert store.fs.isfile(stale)
    assert store.cleanup_temporaries() == ["ckpt/step-2.pt"]
    assert not store.fs.isfile(stale)
    assert store.list() == ["ckpt/step-1.pt"]


@pytest.mark.parametrize("fail_at", ["pipe_file", "mv"])
def test_fsspec_failed_write_keeps_previous_value_and_no_temporary(
    monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    store = FsspecStore(uri=_memory_uri())
    store.write_bytes("ckpt/model.pt", b"previous")
    original = getattr(store.fs, fail_at)

    def boom(path: str, *args: object, **kwargs: object) -> object:
        if fail_at == "pipe_file":
            original(path, b"half")  # a partial upload, then the failure
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.fs, fail_at, boom)
    with pytest.raises(StoreError) as caught:
        store.write_bytes("ckpt/model.pt", b"new and longer")
    monkeypatch.undo()
    assert "'ckpt/model.pt'" in str(caught.value)
    assert "No space left" in str(caught.value)
    assert store.read_bytes("ckpt/model.pt") == b"previous"
    assert store.fs.find(store.root) == [f"{store.root}/ckpt/model.pt"]


def test_fsspec_direct_writes_skip_the_temporary(monkeypatch: pytest.MonkeyPatch) -> None:
    store = FsspecStore(FsspecStoreOptions(write_via_temporary=False), uri=_memory_uri())
    monkeypatch.setattr(store.fs, "mv", None)  # a move would now fail
    store.write_bytes("a/b", b"v")
    assert store.read_bytes("a/b") == b"v"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("file:///tmp/x", "file store"),
        ("/tmp/x", "needs a URI"),
        ("nonesuch-proto://x", "cannot open"),
    ],
)
def test_fsspec_store_refuses_what_it_cannot_serve(uri: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as caught:
        FsspecStore(uri=uri)
    assert uri in str(caught.value)


def test_fsspec_options_come_from_the_config_table() -> None:
    from autovoice.config import structure

    options = structure(
        {"storage_options": {"anon": True}, "write_via_temporary": False}, FsspecStoreOptions
    )
    assert dict(options.storage_options) == {"anon": True}
    assert options.write_via_temporary is False


# --- discovery -------------------------------------------------------------------------------


def test_registry_finds_both_stores(registry: Registry, tmp_path: Path) -> None:
    file_spec = registry.get("store", "file")
    fsspec_spec = registry.get("store", "fsspec")
    assert file_spec.options_type is FileStoreOptions
    assert fsspec_spec.options_type is FsspecStoreOptions
    assert registry.store_for("/tmp/x") is file_spec
    assert registry.store_for("file:///tmp/x") is file_spec
    assert registry.store_for("memory://x") is fsspec_spec
    assert registry.store_for("s3://bucket/runs") is fsspec_spec
    created = file_spec.create(uri=str(tmp_path))
    assert isinstance(created, LocalStore)
    assert created.options == FileStoreOptions()
    remote = fsspec_spec.create(uri="memory://x")
    assert isinstance(remote, FsspecStore)
    assert remote.options == FsspecStoreOptions()


def test_file_store_delete_removes_emptied_directories(tmp_path: Path) -> None:
    store = LocalStore(uri=tmp_path / "root")
    store.write_bytes("a/b/c", b"1")
    store.write_bytes("a/d", b"2")
    store.delete("a/b/c")
    assert not (tmp_path / "root/a/b").exists()
    assert (tmp_path / "root/a/d").is_file()
    store.delete("a/d")
    store.write_bytes("x/y/z", b"3")
    store.delete("x/y/z")
    assert (tmp_path / "root").is_dir()  # the root itself stays
    assert list((tmp_path / "root").iterdir()) == []


def test_file_store_files_are_not_executable(tmp_path: Path) -> None:
    store = LocalStore(uri=tmp_path)
    store.write_bytes("k", b"v")
    assert (tmp_path / "k").stat().st_mode & 0o111 == 0

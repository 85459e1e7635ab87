"""Dataloaders: splits, batches, bucketing, exact resume, sharding, worker seeding, statistics."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import autovoice_datasets
import autovoice_stores
from autovoice.config import Config, DataConfig, TrainingConfig
from autovoice.corpus import make_demo_corpus
from autovoice.data.collate import CollateError, collate
from autovoice.data.sampling import bucket_batches, padding_fraction, random_batches, shard
from autovoice.data.splits import split_indices
from autovoice.plugins import Registry
from autovoice.training.data import (
    create_dataloaders,
    get_dataset_stats,
    preprocess_batch,
    seed_worker,
)

BATCH = 8


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "corpus"
    make_demo_corpus(out, speakers=4, sentences=16, seed=0)
    return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(plugins=[autovoice_datasets, autovoice_stores], entry_points=False)


def make_config(demo: Path, cache: Path, **data: Any) -> Config:
    fields: dict[str, Any] = {
        "corpus": str(demo),
        "cache_dir": str(cache),
        "val_fraction": 0.1,
        "options": {"segment_size": 0},
        **data,
    }
    return Config(data=DataConfig(**fields), training=TrainingConfig(batch_size=BATCH))


def loaders(demo: Path, cache: Path, registry: Registry, **kw: Any) -> dict[str, Any]:
    distributed = kw.pop("distributed", {})
    return create_dataloaders(make_config(demo, cache, **kw), registry=registry, **distributed)


def ids_of(loader: Any, limit: int | None = None) -> list[list[str]]:
    """The ids of each batch; with ``limit``, of the first ``limit`` batches only."""
    return [list(batch["ids"]) for batch in itertools.islice(loader, limit)]


def test_splits_are_disjoint_deterministic_and_seeded(
    demo: Path, cache: Path, registry: Registry
) -> None:
    first = loaders(demo, cache, registry)
    split_ids = {name: {i for b in ids_of(ld) for i in b} for name, ld in first.items()}
    assert [len(split_ids[n]) for n in ("train", "val", "test")] == [52, 6, 6]
    assert not (split_ids["train"] & split_ids["val"]) and not (
        split_ids["val"] & split_ids["test"]
    )
    again = loaders(demo, cache, registry)
    assert {i for b in ids_of(again["val"]) for i in b} == split_ids["val"]
    reseeded = loaders(demo, cache, registry, seed=99)
    assert {i for b in ids_of(reseeded["val"]) for i in b} != split_ids["val"]


def test_batches_have_padded_arrays_lengths_and_masks(
    demo: Path, cache: Path, registry: Registry
) -> None:
    batch = next(iter(loaders(demo, cache, registry)["train"]))
    assert len(batch["ids"]) == BATCH
    mels, lengths, mask = batch["mels"], batch["mel_lengths"], batch["mel_mask"]
    assert mels.dtype == torch.float32 and mels.shape[:2] == (BATCH, 80)
    assert mask.dtype == torch.bool and torch.equal(mask.sum(1), lengths)
    assert int(lengths.max()) == mels.shape[2]
    silence = float(np.log(1e-5))
    for row in range(BATCH):
        assert torch.all(mels[row, :, int(lengths[row]) :] == np.float32(silence))
    tokens, token_lengths = batch["tokens"], batch["token_lengths"]
    assert torch.equal(batch["token_mask"].sum(1), token_lengths)
    assert torch.all(tokens[~batch["token_mask"]] == 0)
    assert batch["speakers"].shape == (BATCH,) and batch["speakers"].dtype == torch.int64


def test_bucketing_cuts_padding_against_random_batches(
    demo: Path, cache: Path, registry: Registry
) -> None:
    train = loaders(demo, cache, registry)["train"]
    real = padded = 0
    lengths = []
    for batch in train:
        real += int(batch["mel_mask"].sum())
        padded += batch["mel_mask"].numel()
        lengths += batch["mel_lengths"].tolist()
    bucketed = 1 - real / padded
    randomly = np.mean(
        [
            padding_fraction(random_batches(len(lengths), BATCH, np.random.default_rng(s)), lengths)
            for s in range(20)
        ]
    )
    assert randomly > 0.1, "the demo corpus should vary in length"
    assert bucketed < 0.5 * randomly


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_mid_epoch_gives_the_same_batches(
    demo: Path, cache: Path, registry: Registry, workers: int
) -> None:
    whole = loaders(demo, cache, registry, num_workers=workers)["train"]
    n = len(whole)
    expected = ids_of(whole) + ids_of(whole, limit=3)  # one epoch, then the next one's start
    interrupted = loaders(demo, cache, registry, num_workers=workers)["train"]
    seen = ids_of(interrupted, limit=3)
    state = interrupted.state_dict()
    assert state["epoch"] == 0 and state["position"] == 3
    resumed = loaders(demo, cache, registry, num_workers=workers)["train"]
    resumed.load_state_dict(state)
    assert seen + ids_of(resumed) + ids_of(resumed, limit=3) == expected
    assert resumed.state_dict()["epoch"] == 1 and len(expected) == n + 3
    assert expected[:n] != expected[n:]  # epoch 1 is shuffled differently


def test_distributed_ranks_get_disjoint_equal_shards(
    demo: Path, cache: Path, registry: Registry
) -> None:
    ranks = [
        loaders(
            demo, cache, registry, distributed={"distributed": True, "rank": r, "world_size": 2}
        )
        for r in range(2)
    ]
    train = [ids_of(r["train"]) for r in ranks]
    assert len(train[0]) == len(train[1]) > 0
    flat = [{i for b in t for i in b} for t in train]
    assert not flat[0] & flat[1]
    assert len(ranks[0]["val"]) == len(ranks[1]["val"])
    single = {i for b in ids_of(loaders(demo, cache, registry)["val"]) for i in b}
    assert {i for r in ranks for b in ids_of(r["val"]) for i in b} == single


def test_distributed_needs_a_process_group(demo: Path, cache: Path, registry: Registry) -> None:
    with pytest.raises(Exception, match=r"torch\.distributed"):
        loaders(demo, cache, registry, distributed={"distributed": True})


def test_augmented_batches_do_not_depend_on_workers(
    demo: Path, cache: Path, registry: Registry
) -> None:
    # masks only: random per item and epoch, cheap (the mels come from the cache)
    options = {"base_options": {"segment_size": 0}, "gain_db": 0.0, "noise_prob": 0.0}
    options |= {"speed_prob": 0.0, "time_masks": 2, "freq_masks": 2}
    kw = {"dataset": "augmented", "options": options}
    mels = {}
    for workers in (0, 2):
        train = loaders(demo, cache, registry, num_workers=workers, **kw)["train"]
        epoch0 = [next(iter(train))]
        train.set_epoch(1)
        mels[workers] = (epoch0[0], next(iter(train)))
    for a, b in zip(mels[0], mels[2], strict=True):
        assert a["ids"] == b["ids"]
        torch.testing.assert_close(a["mels"], b["mels"], rtol=0, atol=0)
    keyed = train.dataset  # the loader's items are keyed by (epoch, index)
    assert not np.array_equal(keyed[(0, 0)]["mel"], keyed[(1, 0)]["mel"])
    np.testing.assert_array_equal(keyed[(1, 0)]["mel"], keyed[(1, 0)]["mel"])
    clean_val = loaders(demo, cache, registry, **kw)["val"]
    plain_val = loaders(demo, cache, registry)["val"]
    torch.testing.assert_close(next(iter(clean_val))["mels"], next(iter(plain_val))["mels"])


class _GlobalRandom(torch.utils.data.Dataset[int]):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> int:
        return int(np.random.randint(0, 2**31))


def test_workers_seed_numpy_from_the_loader_generator() -> None:
    def draw(seed: int) -> list[int]:
        loader = torch.utils.data.DataLoader(
            _GlobalRandom(),
            batch_size=2,
            num_workers=2,
            worker_init_fn=seed_worker,
            generator=torch.Generator().manual_seed(seed),
        )
        return [int(x) for batch in loader for x in batch]

    first = draw(3)
    assert first == draw(3)
    assert first != draw(4)
    assert first[:2] != first[2:]  # the two workers differ


def test_dataset_stats_and_preprocess(demo: Path, cache: Path, registry: Registry) -> None:
    split = loaders(demo, cache, registry)
    train = split["train"]
    next(iter(train))
    before = train.state_dict()
    stats = get_dataset_stats(train)
    assert train.state_dict() == before
    view = train.dataset.dataset
    assert stats["utterances"] == len(view) == 52
    assert stats["hours"] == pytest.approx(float(view.durations.sum()) / 3600)
    assert stats["speakers"] == 4
    frames = np.concatenate([view[i]["mel"] for i in range(len(view))], axis=1)
    np.testing.assert_allclose(stats["mel_mean"], frames.mean(1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats["mel_std"], frames.std(1), rtol=1e-3, atol=1e-3)
    assert stats["frames"] == frames.shape[1]
    assert (
        stats["mel_lengths"]["max"] >= stats["mel_lengths"]["mean"] >= stats["mel_lengths"]["min"]
    )
    batch = preprocess_batch(next(iter(split["val"])), "cpu", stats)
    mels, mask = batch["mels"], batch["mel_mask"]
    assert mels.min() >= -1 and mels.max() <= 1
    assert torch.all(mels.transpose(1, 2)[~mask] == -1)
    assert batch["mel_sample_mean"].shape == (mels.shape[0],)
    row = mels[0, :, : int(batch["mel_lengths"][0])]
    assert float(batch["mel_sample_mean"][0]) == pytest.approx(float(row.mean()), abs=1e-5)
    assert float(batch["mel_sample_std"][0]) == pytest.approx(
        float(row.std(unbiased=False)), abs=1e-4
    )
    raw = preprocess_batch(next(iter(split["val"])), "cpu", None)
    assert raw["mels"].min() < -1  # log-mels untouched without statistics


def test_paired_splits_keep_sentences_together(demo: Path, cache: Path, registry: Registry) -> None:
    split = loaders(demo, cache, registry, dataset="paired", options={"align": "none"})
    sentences = {
        name: {i.split("->")[0][-4:] for b in ids_of(ld) for i in b} for name, ld in split.items()
    }
    assert not sentences["train"] & sentences["val"]
    assert not sentences["train"] & sentences["test"]
    assert sentences["val"] and sentences["test"]


# pure pieces


@settings(max_examples=50, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 500), min_size=1, max_size=200),
    batch_size=st.integers(1, 16),
    seed=st.integers(0, 1000),
)
def test_bucket_batches_use_every_index_once(
    lengths: list[int], batch_size: int, seed: int
) -> None:
    batches = bucket_batches(lengths, batch_size, np.random.default_rng(seed), bucket_batches=4)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(1 <= len(b) <= batch_size for b in batches)
    assert batches == bucket_batches(
        lengths, batch_size, np.random.default_rng(seed), bucket_batches=4
    )


@given(n_batches=st.integers(0, 30), world=st.integers(1, 5), drop=st.booleans())
def test_shards_are_equal_and_cover(n_batches: int, world: int, drop: bool) -> None:
    batches = [[i] for i in range(n_batches)]
    shards = [shard(batches, r, world, drop_remainder=drop) for r in range(world)]
    assert len({len(s) for s in shards}) == 1
    seen = [b[0] for s in shards for b in s]
    if drop:
        assert len(seen) == len(set(seen)) == n_batches - n_batches % world
    else:
        assert set(seen) == set(range(n_batches))


@given(
    keys=st.lists(st.sampled_from([f"k{i}" for i in range(40)]), min_size=2, max_size=120),
    val=st.floats(0.0, 0.4),
    seed=st.integers(0, 100),
)
def test_splits_partition_and_never_split_a_key(keys: list[str], val: float, seed: int) -> None:
    splits = split_indices(keys, val_fraction=val, test_fraction=val, seed=seed)
    parts = [splits.train, splits.val, splits.test]
    assert sorted(i for p in parts for i in p) == list(range(len(keys)))
    owner = {}
    for name, part in zip("tvs", parts, strict=True):
        for i in part:
            assert owner.setdefault(keys[i], name) == name
    assert splits.train
    assert splits == split_indices(list(keys), val_fraction=val, test_fraction=val, seed=seed)


def test_collate_refuses_mismatched_items() -> None:
    a = {"id": "a", "mel": np.zeros((4, 3), np.float32), "speaker": np.int64(0)}
    b = {"id": "b", "mel": np.zeros((5, 3), np.float32), "speaker": np.int64(1)}
    with pytest.raises(CollateError, match="cannot pad"):
        collate([a, b])
    with pytest.raises(CollateError, match="keys"):
        collate([a, {"id": "c"}])
    batch = collate([a, {**a, "mel": np.ones((4, 5), np.float32)}], mel_pad=-3.0)
    assert batch["mels"].shape == (2, 4, 5) and batch["mels"][0, 0, 4] == -3.0
    assert batch["ids"] == ["a", "a"] and batch["mel_lengths"].tolist() == [3, 5]

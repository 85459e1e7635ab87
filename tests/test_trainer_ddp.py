"""Two-process DDP training on CPU (gloo): disjoint data, parameters in sync, one writer."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from autovoice.plugins import Registry
from autovoice.training.checkpoints.manager import CheckpointManager
from autovoice.training.data import create_dataloaders
from autovoice.training.runtime import init_runtime, process_group
from autovoice.training.trainer import Trainer

pytestmark = pytest.mark.slow


class RecordingStore:
    """A store that counts the writes this process makes (and forwards everything)."""

    def __init__(self, inner):
        self.inner, self.writes = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def write_bytes(self, key, data):
        self.writes += 1
        return self.inner.write_bytes(key, data)


def _worker(rank, world, port, corpus, out, queue):
    from test_trainer import make_config, toy_recipe

    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    config = make_config(Path(corpus), Path(out), "training.checkpoint_every=2")
    with process_group(init_runtime(config.training)) as runtime:
        registry = Registry.discover()
        loaders = create_dataloaders(
            config, distributed=True, registry=registry, rank=rank, world_size=world
        )
        # one epoch: within an epoch the ranks' shards are disjoint (they reshuffle per epoch)
        steps = len(loaders["train"])
        config = attrs.evolve(config, training=attrs.evolve(config.training, max_steps=steps))
        plain = registry.store_for(str(Path(out) / "ckpt")).create(
            None, uri=str(Path(out) / "ckpt")
        )
        store = RecordingStore(plain)
        trainer = Trainer(
            recipe=toy_recipe(seed=rank),  # different init: DDP broadcasts rank 0's
            loaders=loaders,
            checkpoints=CheckpointManager(store, max_keep=10),
            config=config,
            runtime=runtime,
        )
        seen: list[str] = []
        move = trainer.to_device

        def recording(batch):
            seen.extend(batch["ids"])
            return move(batch)

        trainer.to_device = recording
        trainer.fit()
        params = [p.detach().numpy().copy() for p in trainer.modules["model"].parameters()]
    queue.put((rank, seen, params, store.writes, steps))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_process_gloo_training(tmp_path):
    from test_trainer import make_demo_corpus

    corpus = tmp_path / "corpus"
    make_demo_corpus(corpus, speakers=2, sentences=20, seed=0)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [
        ctx.Process(target=_worker, args=(r, 2, port, str(corpus), str(tmp_path / "run"), queue))
        for r in range(2)
    ]
    for p in procs:
        p.start()
    results = {}
    for _ in procs:
        rank, seen, params, writes, steps = queue.get(timeout=240)
        results[rank] = (seen, params, writes)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    (seen0, params0, writes0), (seen1, params1, writes1) = results[0], results[1]
    assert seen0 and seen1
    assert not set(seen0) & set(seen1)  # each rank trains on its own shard
    for a, b in zip(params0, params1, strict=True):
        np.testing.assert_array_equal(a, b)  # gradients stayed in sync
    assert writes0 > 0 and writes1 == 0  # only rank 0 writes checkpoints
    records = CheckpointManager(tmp_path / "run" / "ckpt", recover=False).list_checkpoints()
    assert [r.step for r in records] == sorted({*range(2, steps + 1, 2), steps})

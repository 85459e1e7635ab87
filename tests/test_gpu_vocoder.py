"""The GPU training script runs here on the CPU for a moment: it prepares a corpus it was
given, trains whole checkpoint chunks until its time is up, and copies the newest checkpoint."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")


@pytest.mark.slow
def test_the_gpu_vocoder_script_trains_and_keeps_the_newest_checkpoint(tmp_path):
    from autovoice.corpus.demo import make_demo_corpus
    from autovoice.training.checkpoints.manager import CheckpointManager
    from benchmarks.gpu_vocoder import main

    make_demo_corpus(tmp_path / "corpus", speakers=1, sentences=4, seed=0, workers=1)
    out = tmp_path / "out"
    main([
        "--corpus", str(tmp_path / "corpus"), "--out", str(out), "--minutes", "0",
        "--device", "cpu", "--batch-size", "2", "--segment-size", "4096",
        "--checkpoint-every", "2", "--set", "vocoder.options.preset=tiny",
        "--set", "data.val_fraction=0.25",
    ])  # fmt: skip
    kept = sorted(p.name for p in (out / "vocoder").iterdir())
    assert kept == ["step-000000002"]  # with no time, one chunk is still trained
    assert (out / "cache").is_dir()
    manager = CheckpointManager(out / "runs" / "vocoder" / "checkpoints", recover=False)
    checkpoint, weights, _ = manager.read("step-000000002")
    assert checkpoint.config["vocoder"]["name"] == "istft"
    assert checkpoint.config["training"]["device"] == "cpu"
    assert set(weights) == {"generator"} and weights["generator"]

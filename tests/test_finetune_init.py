"""``--init`` from a voice bundle or a checkpoint: every tensor loads (a bundle's folded weight
norm unfolded), new speakers grow the table by name, a strict load that does not fit names the
tensors, and ``--freeze`` keeps a part as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from autovoice.errors import AutovoiceError  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from benchmarks._tiny_voice import VOCODER, make_tiny_voice

    root = tmp_path_factory.mktemp("init")
    bundle = make_tiny_voice(root, acoustic_steps=2, vocoder_steps=1, vocoder=VOCODER, sentences=4)
    return root, bundle


def _config(root: Path, extra: tuple[str, ...] = (), out: str = "ft", vocoder: bool = False) -> Any:
    from benchmarks._tiny_voice import ACOUSTIC, VOCODER, _config

    config = _config(root, 1, (VOCODER if vocoder else ACOUSTIC) + extra)
    training = attrs.evolve(config.training, output_dir=str(root / out))
    return attrs.evolve(config, training=training)


def _trainer(config: Any, stage: str = "acoustic", **options: Any) -> tuple[Any, list[Any]]:
    from autovoice.training.build import InitOptions, build_trainer
    from autovoice.training.runtime import Runtime

    reports: list[Any] = []
    init = options.pop("init")
    trainer = build_trainer(
        config,
        stage=stage,
        runtime=Runtime(torch.device("cpu"), "fp32"),
        progress=False,
        init=str(init),
        init_options=InitOptions(report=reports.append, **options),
    )
    return trainer, reports


def _bundle_weights(bundle: Path, stage: str) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(bundle / f"{stage}.safetensors"))


def test_acoustic_init_from_a_bundle_loads_every_tensor(voice: tuple[Path, Path]) -> None:
    root, bundle = voice
    trainer, (report,) = _trainer(_config(root), init=bundle, strict=True)
    saved = _bundle_weights(bundle, "acoustic")
    state = trainer.modules["model"].state_dict()
    assert set(saved) == {f"model.{k}" for k in state}
    for key, tensor in state.items():
        torch.testing.assert_close(tensor, saved[f"model.{key}"], rtol=0, atol=0)
    assert not report.weights.skipped and not report.new_speakers
    assert list(trainer.speakers) == json.loads((bundle / "manifest.json").read_text())["speakers"]


def test_acoustic_init_from_a_checkpoint_loads_its_weights(voice: tuple[Path, Path]) -> None:
    from autovoice.training.checkpoints.manager import CheckpointManager

    root, _ = voice
    run = root / "runs" / "acoustic" / "checkpoints"
    trainer, (report,) = _trainer(_config(root), init=run.parent, strict=True)
    manager = CheckpointManager(str(run))
    _, weights, _ = manager.read(manager.list_checkpoints()[-1])
    for key, tensor in trainer.modules["model"].state_dict().items():
        torch.testing.assert_close(tensor, weights["model"][key], rtol=0, atol=0)
    assert len(report.weights.loaded) == len(weights["model"])


def test_init_from_a_checkpoint_kept_as_weights_only(
    voice: tuple[Path, Path], tmp_path: Path
) -> None:
    """A checkpoint committed without its ``state.pt`` (weights only, as the repository keeps
    them) still starts a run, with the same weights; a corrupt ``state.pt`` is still refused."""
    import shutil

    from autovoice.training.checkpoints.manager import CheckpointManager

    root, _ = voice
    run = root / "runs" / "acoustic" / "checkpoints"
    name = CheckpointManager(str(run)).list_checkpoints()[-1].name
    kept = tmp_path / "kept"
    shutil.copytree(run / name, kept / name)
    (kept / name / "state.pt").unlink()
    trainer, _ = _trainer(_config(root, out="ft-kept"), init=kept / name, strict=True)
    _, weights, _ = CheckpointManager(str(run)).read(name)
    for key, tensor in trainer.modules["model"].state_dict().items():
        torch.testing.assert_close(tensor, weights["model"][key], rtol=0, atol=0)
    (kept / name / "state.pt").write_bytes(b"not a state")
    with pytest.raises(AutovoiceError, match=r"state\.pt"):
        _trainer(_config(root, out="ft-bad"), init=kept / name)


def test_vocoder_init_from_a_bundle_unfolds_its_weight_norm(voice: tuple[Path, Path]) -> None:
    root, bundle = voice
    trainer, (report,) = _trainer(
        _config(root, vocoder=True), stage="vocoder", init=bundle, strict=True
    )
    generator = trainer.modules["generator"]
    assert any("parametrizations" in k for k in generator.state_dict())  # trained weight-normed
    folded = trainer.recipe.export_module().state_dict()
    saved = _bundle_weights(bundle, "vocoder")
    assert set(folded) == set(saved)
    for key, tensor in saved.items():
        torch.testing.assert_close(folded[key], tensor, rtol=1e-5, atol=1e-6)
    assert not report.weights.skipped  # every tensor of the generator came from the bundle


def _new_speaker_corpus(root: Path) -> Path:
    """The tiny voice's corpus with its second speaker renamed ``newbie``."""
    corpus = root / "corpus-new"
    corpus.mkdir(exist_ok=True)
    lines = []
    for line in (root / "corpus" / "manifest.jsonl").read_text().splitlines():
        record = json.loads(line)
        record["audio_filepath"] = str(root / "corpus" / record["audio_filepath"])
        if record["speaker"] != "spk00":
            record["speaker"] = "newbie"
        lines.append(json.dumps(record))
    (corpus / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return corpus / "manifest.jsonl"


@pytest.mark.parametrize("start", [None, "spk01"])
def test_a_new_speaker_grows_the_table_known_rows_kept_by_name(
    voice: tuple[Path, Path], start: str | None
) -> None:
    root, bundle = voice
    config = _config(root, (f"data.corpus='{_new_speaker_corpus(root)}'",))
    trainer, (report,) = _trainer(config, init=bundle, new_speaker_from=start)
    assert trainer.speakers == ("spk00", "spk01", "newbie")
    assert report.new_speakers == ("newbie",)
    assert report.grown == ("model/speaker_embedding.weight",)
    table = trainer.modules["model"].speaker_embedding.weight.detach()
    saved = _bundle_weights(bundle, "acoustic")["model.speaker_embedding.weight"]
    torch.testing.assert_close(table[:2], saved, rtol=0, atol=0)
    expected = saved.mean(dim=0) if start is None else saved[1]
    torch.testing.assert_close(table[2], expected, rtol=0, atol=0)


def test_the_corpus_ids_reach_the_model_as_the_run_tables(voice: tuple[Path, Path]) -> None:
    root, bundle = voice
    config = _config(root, (f"data.corpus='{_new_speaker_corpus(root)}'",))
    trainer, _ = _trainer(config, init=bundle)
    corpus_speakers = trainer.loaders["train"].dataset.info.speakers
    seen: list[Any] = []
    model = trainer.modules["model"]
    hook = model.speaker_embedding.register_forward_hook(lambda _m, i, _o: seen.append(i[0]))
    batch = next(iter(trainer.loaders["train"]))
    trainer.recipe.steps[0].loss(batch, {})
    hook.remove()
    named = [trainer.speakers[int(i)] for i in seen[0]]
    assert named == [corpus_speakers[int(i)] for i in batch["speakers"]]
    assert "newbie" in corpus_speakers and corpus_speakers != trainer.speakers


def test_a_strict_load_that_does_not_fit_names_the_tensors(voice: tuple[Path, Path]) -> None:
    root, bundle = voice
    config = _config(root, ("model.options.ff_dim=96",))
    with pytest.raises(AutovoiceError, match="--init-strict") as refused:
        _trainer(config, init=bundle, strict=True)
    message = str(refused.value)
    assert "model/encoder.blocks.0" in message and "[128, 64" in message and "96" in message
    assert "model/decoder.blocks.0" in message
    _, (report,) = _trainer(config, init=bundle)  # not strict: what fits loads, the rest is said
    assert {k for k, _, _ in report.weights.mismatched} and report.weights.loaded
    assert all("ff" in k or "conv" in k for k, _, _ in report.weights.mismatched)


def test_freeze_keeps_a_part_as_it_was(voice: tuple[Path, Path]) -> None:
    root, bundle = voice
    trainer, _ = _trainer(_config(root, out="frozen"), init=bundle, freeze=("encoder",))
    model = trainer.modules["model"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.fit()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))


def test_an_unknown_part_to_freeze_lists_the_parts(voice: tuple[Path, Path]) -> None:
    root, bundle = voice
    with pytest.raises(AutovoiceError, match=r"no part 'encoders'.*offers.*encoder, "):
        _trainer(_config(root), init=bundle, freeze=("encoders",))


def test_a_new_speaker_from_an_unknown_name_is_refused(voice: tuple[Path, Path]) -> None:
    root, bundle = voice
    config = _config(root, (f"data.corpus='{_new_speaker_corpus(root)}'",))
    with pytest.raises(AutovoiceError, match=r"'nobody' is not a speaker.*spk00, spk01"):
        _trainer(config, init=bundle, new_speaker_from="nobody")


def test_the_command_reports_and_refuses_without_a_traceback(
    voice: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from autovoice.cli import main

    root, bundle = voice
    config = _config(root, ("model.options.ff_dim=96",), out=str(tmp_path / "cli"))
    path = tmp_path / "config.toml"
    from autovoice.config.load import dump_toml

    path.write_text(dump_toml(config))
    assert main(["train", str(path), "--quiet", "--init", str(bundle), "--init-strict"]) != 0
    err = capsys.readouterr().err
    assert "model/encoder.blocks.0" in err and "Traceback" not in err
    assert main(["train", str(path), "--quiet", "--init", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert f"init from {bundle} (acoustic): loaded " in out and "other shapes" in out


# -- the tables, without a model ----------------------------------------------------------------


def _source(speakers: tuple[str, ...], symbols: list[str], kind: str = "characters") -> Any:
    from autovoice.training.init import InitSource

    table = {"kind": kind, "symbols": symbols}
    return InitSource(location="v", weights={}, by_module=True, speakers=speakers, symbols=table)


def test_tables_keep_known_names_and_append_new_ones() -> None:
    from autovoice.training.init import plan_tables

    source = _source(("a", "b"), ["_", "x", "y"])
    tables = plan_tables(source, ("b", "c"), {"kind": "characters", "symbols": ["_", "y", "z"]})
    assert tables.speakers == ("a", "b", "c") and tables.speaker_ids == (1, 2)
    assert tables.symbols["symbols"] == ["_", "x", "y", "z"] and tables.symbol_ids == (0, 2, 3)
    assert tables.new_speakers == ("c",) and tables.new_symbols == ("z",) and tables.remaps


def test_tables_of_another_symbol_kind_are_refused() -> None:
    from autovoice.training.init import plan_tables

    source = _source(("a",), ["_", "x"], kind="phonemes")
    with pytest.raises(AutovoiceError, match=r"'phonemes' symbols.*'characters'"):
        plan_tables(source, ("a",), {"kind": "characters", "symbols": ["_", "x"]})


def test_new_symbol_rows_start_from_the_mean_of_the_known() -> None:
    from autovoice.training.init import _grow_rows

    known = torch.arange(6, dtype=torch.float32).reshape(3, 2)
    grown = _grow_rows(known, torch.zeros(4, 2), [((3, 4), ("z",), {})])
    assert grown is not None
    np.testing.assert_array_equal(grown[:3].numpy(), known.numpy())
    np.testing.assert_array_equal(grown[3].numpy(), known.mean(dim=0).numpy())
    assert _grow_rows(known, torch.zeros(5, 2), [((3, 4), ("z",), {})]) is None

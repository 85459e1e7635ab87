"""The voice, paired and augmented datasets on a tiny demo corpus, and the feature cache."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

import autovoice_datasets
import autovoice_models
import autovoice_stores
from autovoice.audio.features import log_mel, num_frames
from autovoice.audio.io import read_audio
from autovoice.audio.process import prepare_waveform
from autovoice.config import AudioConfig, Config, DataConfig, TextConfig, parse_config
from autovoice.config.structure import structure
from autovoice.corpus import make_demo_corpus
from autovoice.data.records import CorpusError
from autovoice.errors import ConfigError
from autovoice.plugins import Registry
from autovoice.text import TextFrontEnd
from autovoice_datasets.options import AugmentedOptions, PairedOptions, VoiceOptions

HOP = 256


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "corpus"
    make_demo_corpus(out, speakers=2, sentences=3, seed=0)
    return out


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(
        plugins=[autovoice_datasets, autovoice_stores, autovoice_models], entry_points=False
    )


def config(corpus: Path, cache: Path | str = "", **audio: Any) -> Config:
    data = DataConfig(corpus=str(corpus), cache_dir=str(cache))
    return Config(data=data, audio=AudioConfig(**audio))


def make(registry: Registry, name: str, options: Any, cfg: Config) -> Any:
    return registry.get("dataset", name).create(options, config=cfg, registry=registry)


def test_plugin_declares_the_three_datasets(registry: Registry) -> None:
    assert registry.names("dataset") == ["augmented", "paired", "voice"]
    cfg = parse_config(
        {"data": {"dataset": "augmented", "options": {"base_options": {"segment_size": 512}}}},
        registry=registry,
    )
    assert isinstance(cfg.data.options, AugmentedOptions)
    assert cfg.data.options.base_options["segment_size"] == 512
    with pytest.raises(ConfigError, match=r"\$\.data\.options\.align: must be one of"):
        parse_config({"data": {"dataset": "paired", "options": {"align": "x"}}}, registry=registry)


def test_voice_item(demo: Path, registry: Registry) -> None:
    cfg = config(demo)
    ds = make(registry, "voice", VoiceOptions(segment_size=16 * HOP), cfg)
    assert len(ds) == 6 and ds.info.speakers == ("spk00", "spk01")
    front = TextFrontEnd.from_config(cfg.text)
    lines = [json.loads(x) for x in (demo / "manifest.jsonl").read_text().splitlines()]
    for index in (0, 4):
        item = ds[index]
        wave = prepare_waveform(*read_audio(demo / lines[index]["audio_filepath"]), cfg.audio)
        assert item["mel"].dtype == np.float32 and item["mel"].shape[0] == 80
        assert item["mel"].shape[1] == num_frames(len(wave), HOP, 1024) == item["mel_length"]
        np.testing.assert_array_equal(item["tokens"], front.process(lines[index]["text"]).ids)
        assert item["speaker"] == ds.info.speakers.index(lines[index]["speaker"])
        assert item["audio"].shape == (16 * HOP,) and item["audio_mel"].shape == (80, 16)
        offsets = [
            k
            for k in range(item["mel"].shape[1] - 15)
            if np.array_equal(item["mel"][:, k : k + 16], item["audio_mel"])
        ]
        assert offsets, "audio_mel is not a slice of the mel"
        start = offsets[0] * HOP
        np.testing.assert_allclose(item["audio"], wave[start : start + 16 * HOP], atol=1e-6)
        # the segment's f0 is the same frames' of the utterance's pitch
        assert item["audio_pitch"].shape == (16,)
        pitch = item["pitch"][offsets[0] : offsets[0] + 16]
        np.testing.assert_array_equal(item["audio_pitch"], pitch)
        own = log_mel(item["audio"], cfg.audio)  # the segment's own mel
        np.testing.assert_allclose(own[:, 3:-3], item["audio_mel"][:, 3:-3], atol=1e-4)


def test_voice_segment_offset_is_per_epoch(demo: Path, registry: Registry) -> None:
    ds = make(registry, "voice", VoiceOptions(segment_size=4 * HOP), config(demo))
    same = [np.array_equal(ds.item(i, 0)["audio"], ds.item(i, 0)["audio"]) for i in range(6)]
    moved = [not np.array_equal(ds.item(i, 0)["audio"], ds.item(i, 1)["audio"]) for i in range(6)]
    assert all(same) and any(moved)
    ds.set_epoch(1)
    np.testing.assert_array_equal(ds[2]["audio"], ds.item(2, 1)["audio"])


def test_short_utterance_segment_is_padded_with_silence(demo: Path, registry: Registry) -> None:
    cfg = config(demo)
    ds = make(registry, "voice", VoiceOptions(segment_size=2000 * HOP), cfg)
    item = ds[0]
    n = item["mel"].shape[1]
    np.testing.assert_array_equal(item["audio_mel"][:, :n], item["mel"])
    assert np.all(item["audio_mel"][:, n:] == np.float32(np.log(cfg.audio.log_clamp)))
    assert np.all(item["audio"][n * HOP + HOP :] == 0.0)
    np.testing.assert_array_equal(item["audio_pitch"][:n], item["pitch"])
    assert np.all(item["audio_pitch"][n:] == 0.0)


def test_no_segment_pitch_without_pitch(demo: Path, registry: Registry) -> None:
    ds = make(registry, "voice", VoiceOptions(segment_size=4 * HOP, pitch=False), config(demo))
    assert "audio_pitch" not in ds[0] and "pitch" not in ds[0]


def test_segment_must_hold_whole_frames(demo: Path, registry: Registry) -> None:
    with pytest.raises(ConfigError, match=r"\$\.data\.options\.segment_size: must be a multiple"):
        make(registry, "voice", VoiceOptions(segment_size=1000), config(demo))


def test_voice_without_segment_has_no_audio(demo: Path, registry: Registry) -> None:
    item = make(registry, "voice", VoiceOptions(segment_size=0), config(demo))[1]
    assert "audio" not in item and "audio_mel" not in item


def test_unknown_symbols_are_counted(tmp_path: Path, registry: Registry) -> None:
    sf.write(tmp_path / "a.wav", 0.1 * np.ones(16000), 16000)
    line = {"audio_filepath": "a.wav", "text": "hello ☃ snow ☃"}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(line) + "\n")
    cfg = Config(data=DataConfig(corpus=str(tmp_path)), text=TextConfig(normalize=False))
    ds = make(registry, "voice", VoiceOptions(segment_size=0), cfg)
    assert dict(ds.info.unknown_symbols) == {"☃": 2}
    assert ds.info.n_symbols == len(ds.info.symbols["symbols"])


@pytest.mark.parametrize("align", ["dtw", "none"])
def test_paired_items(demo: Path, registry: Registry, align: str) -> None:
    ds = make(registry, "paired", PairedOptions(align=align), config(demo))
    assert len(ds) == 6  # 3 sentences x 2 ordered speaker pairs
    for index in range(len(ds)):
        item = ds[index]
        source_id, target_id = item["id"].split("->")
        assert source_id[-4:] == target_id[-4:]  # same sentence number, different speaker
        assert item["source_speaker"] != item["target_speaker"]
        frames = item["source_mel"].shape[1]
        if align == "dtw":
            assert item["target_mel"].shape == (80, frames)
        else:
            assert item["target_mel"].shape[1] == num_frames(
                round(ds.data.utterances[ds.pairs[index][1]].duration * 22050), HOP, 1024
            )
    keys = ds.split_keys
    assert len(set(keys)) == 3 and keys.count(keys[0]) == 2


def test_paired_speaker_filters(demo: Path, registry: Registry) -> None:
    ds = make(registry, "paired", PairedOptions(source_speaker="spk01"), config(demo))
    assert len(ds) == 3 and all(ds[i]["source_speaker"] == 1 for i in range(3))
    with pytest.raises(CorpusError, match="no speaker 'nobody'"):
        make(registry, "paired", PairedOptions(target_speaker="nobody"), config(demo))


def _augmented(registry: Registry, demo: Path, **options: Any) -> Any:
    opts = structure(options, AugmentedOptions)
    return make(registry, "augmented", opts, config(demo))


def test_augmented_is_reproducible_per_epoch(demo: Path, registry: Registry) -> None:
    ds = _augmented(registry, demo, base_options={"segment_size": 8 * HOP})
    clean = ds.for_evaluation()
    for index in range(len(ds)):
        first, again = ds.item(index, 3), ds.item(index, 3)
        for key in ("mel", "audio", "audio_mel"):
            np.testing.assert_array_equal(first[key], again[key])
        assert not np.array_equal(first["mel"], ds.item(index, 4)["mel"])
        assert first["mel"].shape[1] == first["mel_length"]
    assert "audio" in clean[0] and clean is ds.base
    assert any(ds[i]["mel"].shape != clean[i]["mel"].shape for i in range(len(ds)))  # speed


def test_augmented_paired_masks_the_source(demo: Path, registry: Registry) -> None:
    ds = _augmented(
        registry, demo, base="paired", gain_db=0.0, noise_prob=0.0, speed_prob=0.0, freq_masks=1
    )
    item, clean = ds.item(0, 0), ds.base.item(0, 0)
    np.testing.assert_array_equal(item["target_mel"], clean["target_mel"])
    changed = ~np.isclose(item["source_mel"], clean["source_mel"])
    assert changed.any() and set(changed.any(axis=0)) <= {True}  # whole bands masked


class CountingMel:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, wave: np.ndarray, audio: AudioConfig) -> np.ndarray:
        self.calls += 1
        return log_mel(wave, audio)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingMel:
    counter = CountingMel()
    monkeypatch.setattr("autovoice.data.loading.log_mel", counter)
    return counter


def test_cache_second_epoch_does_not_recompute(
    demo: Path, registry: Registry, tmp_path: Path, counting: CountingMel
) -> None:
    cfg = config(demo, tmp_path / "cache")
    ds = make(registry, "voice", VoiceOptions(segment_size=0), cfg)
    first = [ds.item(i, 0)["mel"] for i in range(len(ds))]
    assert counting.calls == len(ds)
    second = [ds.item(i, 1)["mel"] for i in range(len(ds))]
    fresh = make(registry, "voice", VoiceOptions(segment_size=0), cfg)  # a new run
    third = [fresh.item(i, 0)["mel"] for i in range(len(ds))]
    assert counting.calls == len(ds)
    for a, b, c in zip(first, second, third, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_cache_key_follows_settings_and_file(
    demo: Path, registry: Registry, tmp_path: Path, counting: CountingMel
) -> None:
    cache = tmp_path / "cache"
    ds = make(registry, "voice", VoiceOptions(segment_size=0), config(demo, cache))
    ds[0]
    other = make(registry, "voice", VoiceOptions(segment_size=0), config(demo, cache, n_mels=40))
    assert other[0]["mel"].shape[0] == 40 and counting.calls == 2
    trimmed = config(demo, cache, trim_silence_db=30.0)
    make(registry, "voice", VoiceOptions(segment_size=0), trimmed)[0]
    assert counting.calls == 3
    wav = Path(ds.data.utterances[0].audio_path)
    stat = wav.stat()
    os.utime(wav, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    ds[0]
    assert counting.calls == 4
    assert len(list(cache.iterdir())) == 3  # one folder per settings hash
    os.utime(wav, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_damaged_cache_entry_is_recomputed(
    demo: Path, registry: Registry, tmp_path: Path, counting: CountingMel
) -> None:
    cfg = config(demo, tmp_path / "cache")
    ds = make(registry, "voice", VoiceOptions(segment_size=0), cfg)
    expected = ds[1]["mel"]
    entry = ds.data.source.cache.path_for(ds.data.utterances[1].audio_path, "mel")
    entry.write_bytes(entry.read_bytes()[:100])
    np.testing.assert_array_equal(ds[1]["mel"], expected)
    assert counting.calls == 2


def test_resampled_waves_are_cached(tmp_path: Path, registry: Registry) -> None:
    sf.write(tmp_path / "a.wav", 0.3 * np.sin(np.arange(16000) / 5.0), 16000)
    (tmp_path / "manifest.jsonl").write_text('{"audio_filepath": "a.wav", "text": "hi"}\n')
    cfg = config(tmp_path, tmp_path / "cache")
    ds = make(registry, "voice", VoiceOptions(segment_size=HOP), cfg)
    ds[0]
    names = sorted(p.name.split(".")[1] for p in (tmp_path / "cache").rglob("*.npy"))
    assert names == ["mel", "pitch", "wave"]


def test_voice_items_carry_pitch_per_mel_frame(tmp_path: Path, registry: Registry) -> None:
    t = np.arange(22050) / 22050
    sf.write(tmp_path / "a.wav", 0.5 * np.sin(2 * np.pi * 150.0 * t), 22050)
    (tmp_path / "manifest.jsonl").write_text('{"audio_filepath": "a.wav", "text": "hum"}\n')
    cfg = config(tmp_path, tmp_path / "cache")
    item = make(registry, "voice", VoiceOptions(segment_size=0), cfg)[0]
    assert item["pitch"].shape == (item["mel"].shape[1],)
    voiced = item["pitch"][item["pitch"] > 0]
    assert len(voiced) > 0.9 * len(item["pitch"])
    assert abs(float(np.median(voiced)) - 150.0) < 1.5
    without = make(registry, "voice", VoiceOptions(segment_size=0, pitch=False), cfg)[0]
    assert "pitch" not in without


def _run_cli(module: Any, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_prepare_fills_the_cache(
    demo: Path, registry: Registry, tmp_path: Path, counting: CountingMel, capsys: Any
) -> None:
    from autovoice.commands import prepare

    toml = tmp_path / "c.toml"
    cache = tmp_path / "cache"
    toml.write_text(f'[data]\ncorpus = "{demo}"\ncache_dir = "{cache}"\n')
    assert _run_cli(prepare, ["prepare", str(toml), "--quiet"]) == 0
    assert "6 computed, 0 already cached" in capsys.readouterr().out
    assert counting.calls == 6
    ds = make(registry, "voice", VoiceOptions(segment_size=0), config(demo, cache))
    [ds[i] for i in range(len(ds))]
    assert counting.calls == 6
    assert _run_cli(prepare, ["prepare", str(toml), "--quiet"]) == 0
    assert "0 computed, 6 already cached" in capsys.readouterr().out


def test_corpus_check_summarizes_and_names_bad_files(
    demo: Path, tmp_path: Path, capsys: Any
) -> None:
    from autovoice.commands import corpus

    assert _run_cli(corpus, ["corpus", "check", str(demo)]) == 0
    out = capsys.readouterr().out
    assert "utterances: 6" in out and "speakers: 2" in out and "bad samples: 0" in out
    broken = tmp_path / "broken"
    broken.mkdir()
    manifest = (demo / "manifest.jsonl").read_text().splitlines()
    manifest[1] = manifest[1].replace("wavs/", "gone/")
    records = [json.loads(line) for line in manifest]
    for record in records:
        record["audio_filepath"] = str(demo / record["audio_filepath"])
    (broken / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert _run_cli(corpus, ["corpus", "check", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "missing file: 1" in out and "manifest.jsonl:2" in out and "gone/" in out
    code = _run_cli(
        corpus, ["corpus", "check", str(broken), "--json", "--set", "data.on_bad_sample=skip"]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["bad"] == {"missing file": 1}


def test_data_and_dataset_plugins_do_not_import_torch() -> None:
    code = (
        "import sys, autovoice.data, autovoice_datasets.voice, autovoice_datasets.paired, "
        "autovoice_datasets.augmented, autovoice.commands.prepare; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

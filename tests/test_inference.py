"""The inference engine: sentence splitting, batching, backends per stage, fallback, errors.

The engine tests run on a voice trained in the test (demo corpus, a few steps of a very small
VoiceTransformer and HiFi-GAN) and exported as a bundle. Waveforms are compared sample by sample
(full scale is 1.0): PyTorch against ONNX Runtime within PT_ORT_TOLERANCE, a batch against
one-by-one synthesis within BATCH_TOLERANCE.
"""

from __future__ import annotations

import importlib.metadata
import io
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autovoice.config import InferenceConfig
from autovoice.errors import AutovoiceError, BackendError, UnknownPluginError
from autovoice.hookspecs import hookimpl
from autovoice.inference import (
    BackendFallbackWarning,
    InferenceError,
    StageContext,
    VoiceInferenceEngine,
    join_with_pauses,
    split_sentences,
)
from autovoice.inference.batching import (
    TAIL_FRAMES,
    cut_waves,
    groups_by_length,
    groups_by_padding,
    pad_mels,
    stack_mels,
)
from autovoice.inference.sentences import split_long
from autovoice.plugins import Registry
from autovoice.specs import BackendSpec
from autovoice.text import Normalized, frontend, normalize_text, normalize_with_notes

PT_ORT_TOLERANCE = 1e-4
"""Largest sample difference allowed between the pytorch and onnxruntime backends."""
BATCH_TOLERANCE = 1e-5
"""Largest sample difference allowed between batched and one-by-one synthesis."""

slow = pytest.mark.slow
TEXTS = [
    "Hello world.",
    "This sentence is a good deal longer than the first one, with a comma.",
    "Short!",
]
"""Texts of clearly different symbol counts (12, 69, 6): a voice trained for a few steps gives
every symbol about the same duration, so two texts of one symbol count may well come out the same
length, and the batch tests need three different lengths."""


# -- pure pieces -------------------------------------------------------------------------------


def test_sentences_split_at_ends_but_not_at_abbreviations_or_initials():
    text = 'Dr. Smith met J. Doe at 3.5 km. "Really?" he asked!  Then... nothing\n\nNew part'
    assert split_sentences(text) == [
        "Dr. Smith met J. Doe at 3.5 km.",
        '"Really?" he asked!',
        "Then... nothing",
        "New part",
    ]


def test_long_sentences_are_cut_at_clauses_then_spaces():
    assert split_long("one two, three four five, six", 14) == [
        "one two,",
        "three four",
        "five, six",
    ]
    assert split_long("abcdefghij", 4) == ["abcd", "efgh", "ij"]
    assert split_sentences("   \n ") == []


@given(st.text(alphabet="ab .,!?\n", max_size=200), st.integers(1, 40))
def test_splitting_keeps_every_word_and_respects_the_limit(text, limit):
    pieces = split_sentences(text, max_chars=limit)
    assert all(0 < len(piece) <= limit for piece in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())


def test_pauses_join_waves():
    waves = [np.ones(3, np.float32), np.full(2, 2.0, np.float32)]
    joined = join_with_pauses(waves, 4)
    assert joined.tolist() == [1, 1, 1, 0, 0, 0, 0, 2, 2]
    assert join_with_pauses([], 4).size == 0


def test_mels_are_padded_with_silence_and_audio_cut_per_item():
    mel = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)
    padded = pad_mels(mel, np.array([5, 2]), pad_value=-9.0, tail=TAIL_FRAMES)
    assert padded.shape == (2, 3, 5 + TAIL_FRAMES)
    np.testing.assert_array_equal(padded[1, :, :2], mel[1, :, :2])
    assert (padded[1, :, 2:] == -9.0).all() and (padded[0, :, 5:] == -9.0).all()
    cut = cut_waves(np.ones((2, 10), np.float32), np.array([10, 4]))
    assert [len(w) for w in cut] == [10, 4]
    assert groups_by_length(["ccc", "a", "bb", "dddd"], 2) == [[1, 2], [0, 3]]


def test_items_share_a_call_while_their_padding_stays_small():
    assert groups_by_padding([40, 10, 12, 50, 13], 0.25) == [[1, 2], [4], [0, 3]]
    assert groups_by_padding([40, 10, 12, 50, 13], 0.0) == [[1], [2], [4], [0], [3]]
    assert groups_by_padding([40, 10, 12], None) == [[0, 1, 2]]
    assert groups_by_padding([], 0.25) == []
    with pytest.raises(ValueError, match="slack"):
        groups_by_padding([1], -0.5)
    stacked = stack_mels([np.ones((3, 4)), np.zeros((3, 2))], pad_value=-9.0, tail=2)
    assert stacked.shape == (2, 3, 6) and stacked.dtype == np.float32
    assert (stacked[0, :, :4] == 1).all() and (stacked[0, :, 4:] == -9).all()
    assert (stacked[1, :, :2] == 0).all() and (stacked[1, :, 2:] == -9).all()


# -- a voice trained here -----------------------------------------------------------------------


def registry() -> Registry:
    """Every installed plugin, with the pytorch backend registered directly when it is not
    installed through its entry point."""
    import autovoice_torch

    eps = importlib.metadata.entry_points(group="autovoice")
    extra = [] if any(ep.value == "autovoice_torch" for ep in eps) else [autovoice_torch]
    return Registry.discover(plugins=extra)


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    from benchmarks._tiny_voice import make_tiny_voice

    return make_tiny_voice(tmp_path_factory.mktemp("voice"), acoustic_steps=6, vocoder_steps=1)


@pytest.fixture(scope="module")
def engines(voice: Path) -> dict[str, VoiceInferenceEngine]:
    reg = registry()
    return {
        name: VoiceInferenceEngine(voice, backend=name, registry=reg, threads=1)
        for name in ("onnxruntime", "pytorch")
    }


@slow
def test_pytorch_and_onnxruntime_give_the_same_speech(engines):
    text = "Hello there. This is a test of the two backends!"
    ort = engines["onnxruntime"].synthesize_speech(text, speaker_id=1)
    pt = engines["pytorch"].synthesize_speech(text, speaker_id=1)
    assert engines["pytorch"].backends == {"acoustic": "pytorch", "vocoder": "pytorch"}
    assert ort.dtype == np.float32 and ort.shape == pt.shape
    assert len(ort) > engines["onnxruntime"].pause_samples + 20 * 256  # not a trivial output
    assert np.abs(ort).max() > 1e-4
    assert np.abs(ort - pt).max() <= PT_ORT_TOLERANCE


@slow
@pytest.mark.parametrize("backend", ["onnxruntime", "pytorch"])
def test_a_batch_gives_what_one_by_one_synthesis_gives(engines, backend):
    engine = engines[backend]
    batch = engine.synthesize_batch(TEXTS, speaker_id=0)
    alone = [engine.synthesize_batch([text])[0] for text in TEXTS]
    assert len({len(w) for w in alone}) == 3  # the texts really have different lengths
    for together, single in zip(batch, alone, strict=True):
        assert together.shape == single.shape
        assert np.abs(together - single).max() <= BATCH_TOLERANCE


@slow
def test_on_a_cpu_the_acoustic_stage_runs_a_batch_in_groups_of_similar_length(engines, monkeypatch):
    """Texts of different lengths share an acoustic call only within the padding slack; the
    vocoder takes the whole batch in one call; the audio is what one padded call gives. A
    stage on a GPU takes the batch in one call."""
    engine = engines["onnxruntime"]
    calls: dict[str, list[int]] = {"acoustic": [], "vocoder": []}
    for name in calls:
        stage = engine.stages[name]
        real = stage.run

        def counted(feed: Any, real: Any = real, name: str = name) -> Any:
            calls[name].append(len(feed["mel" if name == "vocoder" else "tokens"]))
            return real(feed)

        monkeypatch.setattr(stage, "run", counted)
    texts = [*TEXTS, TEXTS[0]]
    grouped = engine.synthesize_batch(texts)
    lengths = [len(engine.front_end.process(text).ids) for text in texts]
    assert len(groups_by_padding(lengths, 0.25)) == len(calls["acoustic"]) > 1
    assert sorted(calls["acoustic"]) != [1] * len(texts)  # the two equal texts share a call
    assert calls["vocoder"] == [len(texts)]
    monkeypatch.setattr(engine.stages["acoustic"], "device", "cuda")
    calls["acoustic"].clear()
    whole = engine.synthesize_batch(texts)
    assert calls["acoustic"] == [len(texts)]
    for a, b in zip(grouped, whole, strict=True):
        assert a.shape == b.shape and np.abs(a - b).max() <= BATCH_TOLERANCE


@slow
@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_long_text_is_split_into_sentences_and_joined_with_pauses(engines, batch_size):
    engine = engines["onnxruntime"]
    pieces = [engine.synthesize_batch([text])[0] for text in TEXTS]
    speech = engine.synthesize_speech(" ".join(TEXTS), batch_size=batch_size)
    pause = engine.pause_samples
    assert len(speech) == sum(len(p) for p in pieces) + 2 * pause
    start = 0
    for piece in pieces:
        np.testing.assert_allclose(speech[start : start + len(piece)], piece, atol=BATCH_TOLERANCE)
        start += len(piece)
        assert not speech[start : start + pause].any()
        start += pause
    timing = engine.last_timing
    assert timing is not None and timing.audio_seconds == pytest.approx(len(speech) / 22050)
    assert timing.rtf > 0 and engine.last_rtf == timing.rtf


@slow
def test_many_texts_are_batched_across_texts(engines):
    engine = engines["onnxruntime"]
    texts = [" ".join(TEXTS[:2]), TEXTS[2]]
    many = engine.synthesize_many(texts, batch_size=3)
    for got, text in zip(many, texts, strict=True):
        assert np.abs(got - engine.synthesize_speech(text)).max() <= BATCH_TOLERANCE


@slow
@pytest.mark.parametrize(
    "text", ["See p. 7 and Vol. 3, ext. 12. Then stop.", "It opens Jan. 5 at noon. Be there."]
)
def test_the_engine_reads_each_sentence_as_the_whole_text_is_normalized(engines, text, monkeypatch):
    spoken: list[str] = []

    def normalize(sentence: str, language: str = "en") -> Normalized:
        normalized = normalize_with_notes(sentence, language)
        spoken.append(normalized.text)
        return normalized

    monkeypatch.setattr(frontend, "normalize_with_notes", normalize)
    engines["onnxruntime"].synthesize_speech(text, batch_size=2)
    whole = normalize_text(text)  # the engine's sentences come batched by length, not in order
    assert len(spoken) == 2 and " ".join(sorted(spoken, key=whole.find)) == whole


@slow
def test_concurrent_callers_get_their_own_results(engines):
    engine = engines["onnxruntime"]
    expected = {text: engine.synthesize_batch([text])[0] for text in TEXTS}
    results: list[tuple[str, np.ndarray]] = []
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(6):
                text = TEXTS[(i + offset) % len(TEXTS)]
                results.append((text, engine.synthesize_batch([text])[0]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 24
    for text, wave in results:
        assert np.abs(wave - expected[text]).max() <= BATCH_TOLERANCE


@slow
def test_each_stage_may_run_on_its_own_backend(voice, engines):
    hybrid = VoiceInferenceEngine(
        voice, acoustic_backend="pytorch", vocoder_backend="onnxruntime", registry=registry()
    )
    assert hybrid.backends == {"acoustic": "pytorch", "vocoder": "onnxruntime"}
    assert hybrid.describe()["stages"]["acoustic"]["artifact"] == "weights"
    got = hybrid.synthesize_speech(TEXTS[1])
    assert np.abs(got - engines["onnxruntime"].synthesize_speech(TEXTS[1])).max() <= 1e-4


@slow
def test_auto_chooses_silently_and_an_explicit_order_warns_when_it_falls_back(voice):
    reg = registry()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        auto = VoiceInferenceEngine(voice, registry=reg)
    assert auto.backends == {"acoustic": "onnxruntime", "vocoder": "onnxruntime"}
    unusable = {e.spec.name for e in reg.entries("backend") if not e.spec.availability().available}
    assert {s.split()[0] for s in auto.stages["acoustic"].skipped} == unusable
    with pytest.warns(
        BackendFallbackWarning, match=r"cannot use tensorrt \((not installed|unavailable)"
    ):
        engine = VoiceInferenceEngine(voice, registry=reg, prefer=("tensorrt", "onnxruntime"))
    assert engine.backends == {"acoustic": "onnxruntime", "vocoder": "onnxruntime"}


class BrokenBackend:
    """A backend that is installed and available but cannot load anything."""

    def load(self, artifact, device="cpu", *, stage=None):
        raise BackendError(f"{artifact}: this file is cursed")


@hookimpl
def autovoice_backends():
    return [BackendSpec(name="broken", factory="test_inference:BrokenBackend", accepts=("onnx",))]


@slow
def test_a_backend_that_fails_to_load_falls_back_with_its_reason(voice):
    import sys

    reg = Registry.discover(plugins=[sys.modules[__name__]])
    with pytest.warns(BackendFallbackWarning, match=r"\.onnx: this file is cursed"):
        engine = VoiceInferenceEngine(voice, backend=["broken", "onnxruntime"], registry=reg)
    assert engine.backends["vocoder"] == "onnxruntime"
    with pytest.raises(BackendError, match=r"backend broken .*cursed.* cannot be used"):
        VoiceInferenceEngine(voice, backend="broken", registry=reg)


@slow
def test_backends_that_cannot_serve_are_errors_that_say_why(voice):
    reg = registry()
    with pytest.raises(BackendError, match="acoustic stage: backend tensorrt"):
        VoiceInferenceEngine(voice, backend="tensorrt", registry=reg)
    with pytest.raises(UnknownPluginError, match="did you mean 'onnxruntime'"):
        VoiceInferenceEngine(voice, backend="onnxruntme", registry=reg)


@slow
def test_bad_input_is_refused_with_a_clear_error(voice, engines, tmp_path):
    engine = engines["onnxruntime"]
    cases = [
        (lambda: engine.synthesize_speech(""), "text: the text is empty"),
        (lambda: engine.synthesize_speech("  \n "), "the text is empty"),
        (lambda: engine.synthesize_speech(42), "expected text"),
        (lambda: engine.synthesize_speech("hi", speaker_id=2), r"speakers 0 to 1 \(spk00, spk01\)"),
        (lambda: engine.synthesize_speech("hi", speaker_id=-1), "unknown speaker_id -1"),
        (lambda: engine.synthesize_speech("hi", pace=0.0), "pace must be between"),
        (lambda: engine.synthesize_speech("hi", batch_size=0), "batch_size must be"),
        (lambda: engine.synthesize_batch([]), "non-empty list"),
        (lambda: engine.synthesize_batch("hi"), "non-empty list"),
        (lambda: engine.synthesize_batch(["hi", ""]), r"texts\[1\]: the text is empty"),
    ]
    for call, message in cases:
        with pytest.raises(InferenceError, match=message):
            call()
    strict = VoiceInferenceEngine(voice, backend="onnxruntime", max_chars=20, registry=registry())
    with pytest.raises(InferenceError, match="21 characters, more than the limit of 20"):
        strict.synthesize_speech("x" * 21)
    with pytest.raises(AutovoiceError, match="empty after normalization"):
        engine.synthesize_speech("☃☃☃")
    (tmp_path / "file.txt").write_text("not a voice")
    for path, message in [
        (tmp_path, "not a voice bundle"),
        (tmp_path / "missing", "no such voice bundle"),
        (tmp_path / "file.txt", "not a voice bundle"),
    ]:
        with pytest.raises(AutovoiceError, match=message):
            VoiceInferenceEngine(path, backend="onnxruntime", registry=registry())


@slow
def test_from_config_passes_options_to_the_named_backend(voice):
    config = InferenceConfig(
        voice=str(voice), backend="onnxruntime", options={"inter_op_threads": 1}
    )
    engine = VoiceInferenceEngine.from_config(config, registry=registry(), threads=2)
    made = engine.stages["vocoder"].session.graph.session._session.get_session_options()
    assert (made.inter_op_num_threads, made.intra_op_num_threads) == (1, 2)


@slow
def test_pytorch_backend_loads_a_training_checkpoint_too(voice, engines):
    from autovoice_torch.backend import TorchBackend

    runner = engines["pytorch"].stages["acoustic"]
    checkpoint = sorted((voice.parent / "runs" / "acoustic" / "checkpoints").iterdir())[-1]
    session = TorchBackend().load(checkpoint, "cpu", stage=runner.context)
    feed = {
        "tokens": np.array([[5, 6, 7, 8]], np.int64),
        "token_lengths": np.array([4], np.int64),
        "speakers": np.array([1], np.int64),
        "pace": np.array([1.0], np.float32),
        "pitch_shift": np.array([0.0], np.float32),
        "energy_scale": np.array([1.0], np.float32),
    }
    expected = runner.session.run(feed)
    got = session.run(feed)
    np.testing.assert_array_equal(got["mel_lengths"], expected["mel_lengths"])
    np.testing.assert_array_equal(got["durations"], expected["durations"])
    np.testing.assert_allclose(got["mel"], expected["mel"], atol=1e-5)
    with pytest.raises(BackendError, match="input 'pace' is float64"):
        session.run({**feed, "pace": np.array([1.0])})
    with pytest.raises(BackendError, match="needs stage="):
        TorchBackend().load(checkpoint, "cpu")
    vocoder = engines["pytorch"].stages["vocoder"].context
    with pytest.raises(BackendError, match="holds modules"):
        TorchBackend().load(checkpoint, "cpu", stage=vocoder)


@pytest.mark.gpu
def test_pytorch_backend_on_cuda_agrees_with_the_cpu(voice, engines):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    cuda = VoiceInferenceEngine(voice, backend="pytorch", device="cuda", registry=registry())
    assert {r.device for r in cuda.stages.values()} == {"cuda"}
    expected = engines["onnxruntime"].synthesize_speech(TEXTS[1])
    assert np.abs(cuda.synthesize_speech(TEXTS[1]) - expected).max() <= 1e-3


@slow
def test_stage_context_rebuilds_from_its_registry(engines):
    context = engines["pytorch"].stages["vocoder"].context
    assert isinstance(context, StageContext) and context.kind == "vocoder"
    assert context.plugin_spec().name == "hifigan"


@pytest.fixture
def cli(monkeypatch):
    """``autovoice.cli.main`` with the synthesize command registered."""
    import autovoice.cli

    name = "autovoice.commands.synthesize"
    if name not in autovoice.cli.COMMAND_MODULES:
        monkeypatch.setattr(
            autovoice.cli, "COMMAND_MODULES", (*autovoice.cli.COMMAND_MODULES, name)
        )
    return autovoice.cli.main


@slow
def test_cli_writes_one_file_or_one_per_line(cli, voice, tmp_path, capsys, monkeypatch):
    from autovoice.audio.io import read_audio

    out = tmp_path / "out.wav"
    code = cli(["synthesize", "Hello there.", "-o", str(out), "--voice", str(voice), "--verbose"])
    printed = capsys.readouterr().out
    assert code == 0 and "real-time factor" in printed and "acoustic: onnxruntime" in printed
    wave, rate = read_audio(out)
    assert rate == 22050 and len(wave) > 256
    monkeypatch.setattr("sys.stdin", io.StringIO("First line.\n\nSecond line here.\nThird!\n"))
    code = cli(["synthesize", "-o", str(tmp_path / "many.wav"), "--voice", str(voice),
                 "--file", "-", "--per-line", "--batch-size", "3", "--speaker", "1"])  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in tmp_path.glob("many*.wav")) == [
        "many-0001.wav",
        "many-0002.wav",
        "many-0003.wav",
    ]
    code = cli(["synthesize", "Hi", "-o", str(out), "--voice", str(voice), "--speaker", "7"])
    assert code == 1 and "speakers 0 to 1" in capsys.readouterr().err


@pytest.mark.parametrize(("spinning", "entry"), [(None, "0"), (False, "0"), (True, "1")])
def test_onnxruntime_threads_sleep_between_runs_unless_asked_to_spin(spinning, entry):
    from autovoice.bundle import default_voice_path

    options = {} if spinning is None else {"spinning": spinning}
    engine = VoiceInferenceEngine(
        default_voice_path(), backend="onnxruntime", backend_options={"onnxruntime": options}
    )
    for name in ("acoustic", "vocoder"):
        runner = engine.stages[name]
        graph = getattr(runner.session, "graph", None) or runner
        made = graph.session._session.get_session_options()
        for pool in ("intra_op", "inter_op"):
            assert made.get_session_config_entry(f"session.{pool}.allow_spinning") == entry

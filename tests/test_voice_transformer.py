"""VoiceTransformer: masks, length regulation, alignment search, learning, export to ONNX."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from autovoice.config.schema import AudioConfig, TrainingConfig  # noqa: E402
from autovoice.errors import ConfigError  # noqa: E402
from autovoice.signature import acoustic_signature  # noqa: E402
from autovoice_models.voice_transformer import (  # noqa: E402
    PRESETS,
    SPEC,
    VoiceTransformerOptions,
    model_kwargs,
)
from autovoice_models.voice_transformer.alignment import (  # noqa: E402
    beta_binomial_log_prior,
    monotonic_alignment_search,
)
from autovoice_models.voice_transformer.model import (  # noqa: E402
    VoiceTransformer,
    VoiceTransformerExport,
)
from autovoice_models.voice_transformer.recipe import build_model  # noqa: E402
from autovoice_models.voice_transformer.regulator import (  # noqa: E402
    frame_ends,
    frame_positions,
    regulate,
)

N_MELS = 20
N_SYMBOLS = 12
AUDIO = AudioConfig(n_mels=N_MELS)


@pytest.fixture(autouse=True)
def one_thread():
    """These models are too small to gain from threads, and on a busy machine the threads'
    waiting on each other can make a test many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_model(**overrides: object) -> VoiceTransformer:
    """A model far smaller than the tiny preset, for fast tests."""
    kwargs: dict[str, object] = {
        "n_symbols": N_SYMBOLS,
        "n_speakers": 3,
        "n_mels": N_MELS,
        "d_model": 64,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "heads": 2,
        "ff_dim": 128,
        "ff_kernel": 3,
        "predictor_channels": 32,
        "predictor_kernel": 3,
        "aligner_dim": 32,
        "dropout": 0.0,
    }
    kwargs.update(overrides)
    torch.manual_seed(0)
    return VoiceTransformer(**kwargs)  # type: ignore[arg-type]


def synthetic_batch(rng: np.random.Generator, patterns: np.ndarray, batch: int = 8):
    """Tokens (no symbol twice in a row), each shown as its own spectral pattern plus noise
    for a random 1 to 6 frames; pitch depends on the symbol, every third symbol unvoiced.
    Returns the batch and the true durations."""
    lengths = rng.integers(4, 13, size=batch)
    durations = [rng.integers(1, 7, size=n) for n in lengths]
    frames = np.array([d.sum() for d in durations])
    tokens = np.zeros((batch, lengths.max()), np.int64)
    mels = np.full((batch, N_MELS, frames.max()), math.log(1e-5), np.float32)
    pitch = np.zeros((batch, frames.max()), np.float32)
    for b, n in enumerate(lengths):
        steps = rng.integers(1, N_SYMBOLS - 1, size=n)
        symbols = (np.cumsum(steps) % (N_SYMBOLS - 1)) + 1
        tokens[b, :n] = symbols
        per_frame = np.repeat(symbols, durations[b])
        noise = 0.1 * rng.standard_normal((N_MELS, frames[b]))
        mels[b, :, : frames[b]] = patterns[per_frame].T + noise
        pitch[b, : frames[b]] = np.where(per_frame % 3 == 0, 0.0, 100.0 + 10.0 * per_frame)
    batch_dict = {
        "tokens": torch.from_numpy(tokens),
        "token_lengths": torch.from_numpy(lengths),
        "mels": torch.from_numpy(mels),
        "mel_lengths": torch.from_numpy(frames),
        "speakers": torch.from_numpy(rng.integers(0, 3, size=batch)),
        "pitch": torch.from_numpy(pitch),
    }
    return batch_dict, durations


def patterns_for(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(-4.0, 2.0, size=(N_SYMBOLS, N_MELS)).astype(np.float32)


def text_inputs(batch: int, n_tokens: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, n_tokens + 1, (batch,), generator=g)
    lengths[0] = n_tokens
    valid = torch.arange(n_tokens)[None, :] < lengths[:, None]
    tokens = torch.randint(1, N_SYMBOLS, (batch, n_tokens), generator=g) * valid
    speakers = torch.randint(0, 3, (batch,), generator=g)
    pace = 0.5 + torch.rand(batch, generator=g)
    return tokens, lengths, speakers, pace


def speaking_model(**overrides: object) -> VoiceTransformer:
    """An untrained model whose predicted durations are a few frames per token (a post-net's
    last layer, zero when made, drawn at random so that it does something)."""
    model = small_model(**overrides)
    with torch.no_grad():
        model.duration_predictor.project.bias.fill_(1.5)
        if model.postnet is not None:
            torch.nn.init.normal_(model.postnet.convs[-1].weight, std=0.05)
        if model.frame_pitch is not None:
            torch.nn.init.normal_(model.frame_pitch.embedding.weight, std=0.3)
    return model.eval()


POSTNET = {"postnet_layers": 3, "postnet_channels": 32, "postnet_kernel": 5}
FRAME_PITCH = {"decoder_layers": 2, "frame_pitch_block": 1}


# -- options --------------------------------------------------------------------------------


def test_presets_grow_and_overrides_apply():
    counts = []
    for preset in ("tiny", "small", "base"):
        model = build_model(
            VoiceTransformerOptions(preset=preset), audio=AUDIO, n_symbols=40, n_speakers=1
        )
        counts.append(sum(p.numel() for p in model.parameters()))
    assert counts == sorted(counts) and counts[0] < 2_500_000 < 15_000_000 < counts[2]
    kwargs = model_kwargs(VoiceTransformerOptions(preset="tiny", d_model=96, heads=3))
    assert kwargs["d_model"] == 96 and kwargs["heads"] == 3
    assert kwargs["encoder_layers"] == PRESETS["tiny"]["encoder_layers"]


def test_a_preset_row_of_the_wrong_length_is_refused():
    from autovoice_models.options import preset_table

    table = preset_table(("d_model", "heads"), tiny=(128, 2), small=(192, 4))
    assert dict(table["small"]) == {"d_model": 192, "heads": 4}
    with pytest.raises(ValueError, match=r"preset 'small' has 3 values for 2 columns"):
        preset_table(("d_model", "heads"), tiny=(128, 2), small=(192, 4, 0.1))


def test_inconsistent_sizes_name_the_option():
    with pytest.raises(ConfigError) as error:
        model_kwargs(VoiceTransformerOptions(preset="tiny", heads=3, ff_kernel=4))
    assert "$.model.options.heads" in str(error.value)
    assert "$.model.options.ff_kernel" in str(error.value)


# -- length regulator -----------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, 4), min_size=1, max_size=6), min_size=1, max_size=4))
def test_regulate_repeats_tokens_over_their_durations(rows):
    width = max(len(r) for r in rows)
    durations = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    x = torch.randn(len(rows), width, 3)
    ends = frame_ends(frame_positions(durations, torch.ones(len(rows))))
    n_frames = max(int(durations.sum(1).max()), 1)
    out, mask = regulate(x, ends, n_frames)
    for b, row in enumerate(rows):
        expected = np.repeat(x[b, : len(row)].numpy(), row, axis=0)
        total = len(expected)
        assert mask[b].sum() == total
        np.testing.assert_array_equal(out[b, :total].numpy(), expected)
        assert torch.all(out[b, total:] == 0)


def test_pace_divides_the_running_total():
    durations = torch.tensor([[1.2, 0.0, 3.3, 2.6, 0.4]])
    for pace in (0.5, 1.0, 2.0, 3.0):
        ends = frame_ends(frame_positions(durations, torch.tensor([pace])))
        assert int(ends[0, -1]) == round(7.5 / pace)
        assert torch.all(ends[0, 1:] >= ends[0, :-1])


# -- alignment ------------------------------------------------------------------------------


def best_path_score(log_probs: np.ndarray) -> float:
    """Score of the best monotonic path, by plain dynamic programming (reference)."""
    n_frames, n_tokens = log_probs.shape
    best = np.full((n_frames, n_tokens), -np.inf)
    best[0, 0] = log_probs[0, 0]
    for j in range(1, n_frames):
        for i in range(n_tokens):
            previous = max(best[j - 1, i], best[j - 1, i - 1] if i > 0 else -np.inf)
            best[j, i] = previous + log_probs[j, i]
    return float(best[-1, -1])


@st.composite
def alignment_problems(draw):
    batch = draw(st.integers(1, 3))
    tokens = draw(st.lists(st.integers(1, 7), min_size=batch, max_size=batch))
    frames = [t + draw(st.integers(0, 10)) for t in tokens]
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    log_probs = rng.normal(0, 3, size=(batch, max(frames), max(tokens))).astype(np.float32)
    return log_probs, np.array(tokens), np.array(frames)


@settings(max_examples=60, deadline=None)
@given(alignment_problems())
def test_mas_paths_are_monotonic_cover_every_token_and_are_best(problem):
    log_probs, tokens, frames = problem
    hard = monotonic_alignment_search(log_probs, tokens, frames)
    for b, (n, m) in enumerate(zip(tokens, frames, strict=True)):
        assert hard[b, m:].sum() == 0 and hard[b, :, n:].sum() == 0
        assert np.all(hard[b, :m].sum(1) == 1)
        path = hard[b, :m, :n].argmax(1)
        assert path[0] == 0 and path[-1] == n - 1
        assert set(np.diff(path)) <= {0, 1}
        durations = hard[b, :m, :n].sum(0)
        assert durations.sum() == m and durations.min() >= 1
        score = float((hard[b, :m, :n] * log_probs[b, :m, :n].astype(np.float64)).sum())
        assert score == pytest.approx(best_path_score(log_probs[b, :m, :n]), abs=1e-3)


def test_beta_binomial_prior_is_a_distribution_along_the_diagonal():
    lengths, frames = torch.tensor([6, 3]), torch.tensor([20, 9])
    prior = beta_binomial_log_prior(lengths, frames, 6, 20).exp()
    for b, (n, m) in enumerate(zip(lengths.tolist(), frames.tolist(), strict=True)):
        torch.testing.assert_close(prior[b, :m, :n].sum(1), torch.ones(m), atol=1e-4, rtol=0)
        peaks = prior[b, :m, :n].argmax(1)
        assert peaks[0] == 0 and peaks[-1] == n - 1 and torch.all(peaks.diff() >= 0)
    # one entry against the closed form: C(n,k) B(k+a, n-k+b) / B(a,b), n = 5, k = 2, i = 4
    n, k, a, b = 5, 2, 4.0, 17.0
    log_beta = lambda x, y: math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)  # noqa: E731
    expected = math.comb(n, k) * math.exp(log_beta(k + a, n - k + b) - log_beta(a, b))
    assert float(prior[0, 3, 2]) == pytest.approx(expected, rel=1e-4)


# -- masks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides", [{}, POSTNET, FRAME_PITCH], ids=["plain", "postnet", "frame_pitch"]
)
def test_padding_never_changes_another_items_output(overrides):
    model = speaking_model(**overrides)
    tokens, lengths, speakers, pace = text_inputs(4, 9, seed=1)
    with torch.no_grad():
        mel, mel_lengths, _ = model.infer(tokens, lengths, speakers, pace)
        for b in range(4):
            n = int(lengths[b])
            alone, alone_length, _ = model.infer(
                tokens[b : b + 1, :n], lengths[b : b + 1], speakers[b : b + 1], pace[b : b + 1]
            )
            assert int(alone_length[0]) == int(mel_lengths[b])
            frames = int(mel_lengths[b])
            torch.testing.assert_close(mel[b, :, :frames], alone[0, :, :frames], atol=1e-5, rtol=0)
            assert torch.all(mel[b, :, frames:] == model.mel_pad_value)


def test_teacher_forced_losses_ignore_padding_contents():
    rng = np.random.default_rng(0)
    batch, _ = synthetic_batch(rng, patterns_for(rng), batch=4)
    model = small_model().eval()
    noisy = dict(batch)
    token_pad = torch.arange(batch["tokens"].shape[1])[None] >= batch["token_lengths"][:, None]
    frame_pad = torch.arange(batch["mels"].shape[2])[None] >= batch["mel_lengths"][:, None]
    noisy["tokens"] = torch.where(token_pad, torch.full_like(batch["tokens"], 5), batch["tokens"])
    noisy["mels"] = torch.where(
        frame_pad[:, None, :], torch.randn_like(batch["mels"]), batch["mels"]
    )
    noisy["pitch"] = torch.where(frame_pad, torch.full_like(batch["pitch"], 300.0), batch["pitch"])
    with torch.no_grad():
        clean, dirty = model.forward_for_training(batch), model.forward_for_training(noisy)
    for name, value in clean.items():
        torch.testing.assert_close(dirty[name], value, atol=1e-5, rtol=1e-5)


def _grown_from_plain(
    part: str, **overrides: Any
) -> tuple[dict, VoiceTransformer, VoiceTransformer]:
    """A batch, a trained-looking model, and one with ``part`` added loaded from it (every
    missing tensor is the new part's), after checking that the grown one speaks the same."""
    rng = np.random.default_rng(3)
    batch, _ = synthetic_batch(rng, patterns_for(rng), batch=4)
    sizes = {key: overrides[key] for key in ("decoder_layers",) if key in overrides}
    plain = speaking_model(**sizes)
    grown = small_model(**overrides).eval()
    missing = grown.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(key.startswith(f"{part}.") for key in missing)
    tokens, lengths, speakers, pace = text_inputs(3, 8, seed=4)
    with torch.no_grad():
        before, _, _ = plain.infer(tokens, lengths, speakers, pace)
        after, _, _ = grown.infer(tokens, lengths, speakers, pace)
    torch.testing.assert_close(after, before, atol=0, rtol=0)
    return batch, plain, grown


def test_a_postnet_added_to_a_trained_model_starts_as_the_identity_and_then_learns():
    batch, plain, grown = _grown_from_plain("postnet", **POSTNET)
    with torch.no_grad():
        losses = grown.forward_for_training(batch)
    torch.testing.assert_close(losses["decoder_mel_loss"], losses["mel_loss"])
    assert "decoder_mel_loss" not in plain.forward_for_training(batch)
    grown.train()
    total = grown.forward_for_training(batch)["loss"]
    total.backward()
    assert grown.postnet is not None and grown.postnet.convs[-1].weight.grad.abs().sum() > 0


def test_frame_pitch_added_to_a_trained_model_starts_as_the_identity_and_then_learns():
    batch, plain, grown = _grown_from_plain("frame_pitch", **FRAME_PITCH)
    with torch.no_grad():
        was, now = plain.forward_for_training(batch), grown.forward_for_training(batch)
    torch.testing.assert_close(now["mel_loss"], was["mel_loss"], atol=0, rtol=0)
    assert {"frame_pitch_loss", "frame_voicing_loss"} <= set(now) and "frame_pitch_loss" not in was
    grown.train()
    grown.forward_for_training(batch)["loss"].backward()
    assert grown.frame_pitch is not None
    for part in (grown.frame_pitch.embedding.weight, grown.frame_pitch.project.weight):
        assert part.grad is not None and part.grad.abs().sum() > 0


def _contour_moved_within_tokens(batch: dict, hard: torch.Tensor) -> dict:
    """The batch with the pitch of each voiced token (its frames by the hard alignment
    ``hard``) rising through its frames by a tenth of an octave, evenly around its own log
    value, so that every token's mean log-pitch is unchanged."""
    pitch = batch["pitch"].clone()
    for b, spans in enumerate(hard.sum(1).to(torch.int64).tolist()):
        start = 0
        for length in spans:
            frames = pitch[b, start : start + length]
            if length > 1 and bool((frames > 0).all()):
                ramp = torch.exp2(torch.linspace(-0.05, 0.05, length))
                pitch[b, start : start + length] = frames * ramp
            start += length
    return {**batch, "pitch": pitch}


def test_with_frame_pitch_the_decoder_reads_the_teachers_contour_within_each_token():
    rng = np.random.default_rng(5)
    batch, _ = synthetic_batch(rng, patterns_for(rng), batch=4)
    for overrides, reads_contour in (({"decoder_layers": 2}, False), (FRAME_PITCH, True)):
        model = speaking_model(**overrides)
        with torch.no_grad():
            same = model.run_teacher_forced(batch)
            moved = _contour_moved_within_tokens(batch, same.hard)
            assert not torch.equal(moved["pitch"], batch["pitch"])
            other = model.run_teacher_forced(moved)  # the aligner reads the mels, not the pitch
        assert torch.equal(same.hard, other.hard)
        changed = (same.mel - other.mel).abs().max().item()
        assert (changed > 1e-3) if reads_contour else (changed < 1e-5), (overrides, changed)


def test_pitch_shift_moves_the_predicted_frame_contour_by_its_semitones():
    """The frame contour is the token pitch plus a residual: with the residual's projection at
    zero, a shift moves it by exactly its semitones, and the blocks before it hear the shift
    too (the voice's f0 follows the token pitch they read)."""
    model = speaking_model(**FRAME_PITCH)
    tokens, lengths, speakers, pace = text_inputs(2, 9, seed=6)
    assert model.frame_pitch is not None
    with torch.no_grad():
        model.frame_pitch.project.weight.zero_()
        model.frame_pitch.project.bias.zero_()
    seen = []
    original = model.frame_pitch.embed

    def spy(pitch: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        seen.append(pitch)  # the contour the decoder's later blocks read
        return original(pitch, *rest)

    model.frame_pitch.embed = spy  # type: ignore[method-assign]
    shift = torch.tensor([0.0, 0.0]), torch.tensor([3.0, -2.0])
    with torch.no_grad():
        first = model.infer(tokens, lengths, speakers, pace, shift[0])
        second = model.infer(tokens, lengths, speakers, pace, shift[1])
    assert torch.equal(first[1], second[1])  # the same frames: only the pitch moved
    mask = torch.arange(seen[0].shape[1])[None] < first[1][:, None]
    expected = shift[1][:, None] * (math.log(2.0) / 12.0) / model.pitch_norm.std
    torch.testing.assert_close(
        (seen[1] - seen[0])[mask], expected.expand_as(seen[0])[mask], atol=1e-5, rtol=0
    )


def test_frame_pitch_after_a_block_the_decoder_does_not_have_is_a_config_error():
    import attrs

    from autovoice_models.voice_transformer.spec import VoiceTransformerOptions, model_kwargs

    options = VoiceTransformerOptions(preset="tiny", decoder_layers=2, frame_pitch_block=3)
    with pytest.raises(ConfigError, match=r"frame_pitch_block.*at most decoder_layers \(2\)"):
        model_kwargs(options)
    assert model_kwargs(attrs.evolve(options, frame_pitch_block=2))["frame_pitch_block"] == 2


def _grown_by_init(**sizes: int) -> tuple[VoiceTransformer, VoiceTransformer]:
    """A trained-looking small model, and one with more blocks started from it by ``--init``'s
    loader (the recipes as the trainer builds them)."""
    from autovoice.config.schema import AudioConfig, TrainingConfig
    from autovoice.training.init import InitSource, apply_init
    from autovoice_models.voice_transformer.recipe import build_recipe
    from autovoice_models.voice_transformer.spec import VoiceTransformerOptions

    def recipe(**more: int):
        layers = {"encoder_layers": 1, "decoder_layers": 1, **more}
        options = VoiceTransformerOptions(preset="tiny", d_model=32, ff_dim=64, **layers)
        kwargs = {"audio": AudioConfig(n_mels=N_MELS), "n_symbols": N_SYMBOLS, "n_speakers": 3}
        return build_recipe(options, **kwargs, training=TrainingConfig())

    plain = recipe()
    model = plain.modules["model"]
    with torch.no_grad():
        model.duration_predictor.project.bias.fill_(1.5)
    weights = {f"model/{k}": v for k, v in model.state_dict().items()}
    source = InitSource(location="plain", weights=weights, by_module=True)
    grown, report = apply_init(recipe(**sizes), source, None)
    assert report.weights.missing and not report.weights.mismatched
    return model.eval(), grown.modules["model"].eval()


@pytest.mark.parametrize(
    "sizes", [{"decoder_layers": 3}, {"encoder_layers": 2, "decoder_layers": 2}], ids=str
)
def test_blocks_added_by_init_start_as_the_identity_and_then_learn(sizes: dict[str, int]):
    plain, grown = _grown_by_init(**sizes)
    tokens, lengths, speakers, pace = text_inputs(3, 8, seed=5)
    with torch.no_grad():
        before = plain.infer(tokens, lengths, speakers, pace)
        after = grown.infer(tokens, lengths, speakers, pace)
    for old, new in zip(before, after, strict=True):
        torch.testing.assert_close(new, old, atol=1e-6, rtol=1e-6)
    new_block = grown.decoder.blocks[-1]
    rng = np.random.default_rng(6)
    batch, _ = synthetic_batch(rng, patterns_for(rng), batch=4)
    grown.train()
    grown.forward_for_training(batch)["loss"].backward()
    assert new_block.attention.out.weight.grad.abs().sum() > 0
    assert new_block.ff.conv2.weight.grad.abs().sum() > 0


def test_only_blocks_init_found_nothing_of_start_as_the_identity():
    model = small_model(decoder_layers=2)
    partly = [k for k in model.state_dict() if k.startswith("decoder.blocks.1.norm")]
    model.after_init(partly)  # the block's other tensors were loaded: left as they are
    assert model.decoder.blocks[1].ff.conv2.weight.abs().sum() > 0
    model.after_init([k for k in model.state_dict() if k.startswith("decoder.blocks.1.")])
    assert model.decoder.blocks[1].ff.conv2.weight.abs().sum() == 0
    assert model.decoder.blocks[0].ff.conv2.weight.abs().sum() > 0


def test_pace_two_gives_half_the_frames():
    model = speaking_model()
    tokens, lengths, speakers, _ = text_inputs(4, 30, seed=2)
    with torch.no_grad():
        _, normal, _ = model.infer(tokens, lengths, speakers, torch.ones(4))
        _, fast, _ = model.infer(tokens, lengths, speakers, torch.full((4,), 2.0))
    assert torch.all(normal > 20)
    assert torch.all((fast - normal / 2).abs() <= 1)


# -- training ------------------------------------------------------------------------------


def test_eval_mode_keeps_step_count_and_statistics():
    rng = np.random.default_rng(0)
    batch, _ = synthetic_batch(rng, patterns_for(rng), batch=4)
    model = small_model(stats_batches=2)
    model.train()
    for _ in range(3):
        model.forward_for_training(batch)
    assert int(model.steps) == 3
    log_f0 = np.log(batch["pitch"].numpy()[batch["pitch"].numpy() > 0])
    assert float(model.pitch_norm.mean) == pytest.approx(log_f0.mean(), rel=1e-5)
    assert float(model.pitch_norm.std) == pytest.approx(log_f0.std(), rel=1e-4)
    frozen = model.state_dict()
    model.eval()
    model.forward_for_training(batch)
    for name, value in model.state_dict().items():
        assert torch.equal(value, frozen[name]), name


def test_binarization_loss_ramps_in_after_its_start_step():
    model = small_model(bin_loss_start_step=10, bin_loss_warmup_steps=4, bin_weight=2.0)
    scales = []
    for step in (0, 9, 10, 11, 13, 50):
        model.steps.fill_(step)
        scales.append(float(model.bin_loss_scale()))
    assert scales == pytest.approx([0.0, 0.0, 0.5, 1.0, 2.0, 2.0])


def soft_path_quality(outputs, batch, durations):
    """Of the frame-wise argmax of the soft alignment: the fraction of steps that go back to
    an earlier token, the fraction of tokens it visits, and the fraction of frames on the
    true token."""
    backward, covered, correct = [], [], []
    for b, true in enumerate(durations):
        m, n = int(batch["mel_lengths"][b]), int(batch["token_lengths"][b])
        path = outputs.log_probs[b, :m, :n].argmax(-1).numpy()
        backward.append(np.mean(np.diff(path) < 0))
        covered.append(len(np.unique(path)) / n)
        correct.append(np.mean(path == np.repeat(np.arange(n), true)))
    return np.mean(backward), np.mean(covered), np.mean(correct)


def duration_error(outputs, durations) -> float:
    found = outputs.hard.sum(1).numpy()
    return float(np.mean([np.abs(found[b, : len(d)] - d).mean() for b, d in enumerate(durations)]))


@pytest.mark.slow
def test_alignment_is_learned_on_synthetic_speech():
    rng = np.random.default_rng(0)
    patterns = patterns_for(rng)
    model = small_model(bin_loss_start_step=100, bin_loss_warmup_steps=50)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    held_out = [synthetic_batch(np.random.default_rng(99), patterns) for _ in range(2)]

    def measure():
        model.eval()
        with torch.no_grad():
            outs = [(model.run_teacher_forced(b), b, d) for b, d in held_out]
        model.train()
        loss = np.mean([float(o.losses["forward_sum_loss"]) for o, _, _ in outs])
        error = np.mean([duration_error(o, d) for o, _, d in outs])
        quality = np.mean([soft_path_quality(o, b, d) for o, b, d in outs], axis=0)
        return loss, error, quality

    loss_before, error_before, (_, _, correct_before) = measure()
    for _ in range(150):
        batch, _ = synthetic_batch(rng, patterns)
        losses = model.forward_for_training(batch)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
    loss_after, error_after, (backward, covered, correct) = measure()
    assert loss_after < 0.7 * loss_before
    # hard durations (always monotonic and covering) against the truth, in frames per token
    assert error_before > 1.0 and error_after < 0.25
    # the soft alignment itself has become monotonic, covering and right
    assert backward <= 0.05 and covered >= 0.95
    assert correct_before < 0.7 and correct >= 0.9


# -- recipe and export ---------------------------------------------------------------------


def test_recipe_trains_validates_and_draws():
    options = VoiceTransformerOptions(preset="tiny", d_model=64, ff_dim=128, aligner_dim=32)
    recipe = SPEC.create(
        options, audio=AUDIO, n_symbols=N_SYMBOLS, n_speakers=3, training=TrainingConfig()
    )
    rng = np.random.default_rng(0)
    batch, _ = synthetic_batch(rng, patterns_for(rng), batch=3)
    assert set(recipe.batch_keys) <= set(batch)
    assert recipe.signature == acoustic_signature(N_MELS)
    losses = recipe.steps[0].loss(batch, {})
    assert {"loss", "mel_loss", "duration_loss", "forward_sum_loss", "bin_loss"} <= set(losses)
    losses["loss"].backward()
    model = recipe.modules["model"]
    assert all(p.grad is not None for p in model.parameters())
    metrics = recipe.validate(batch)
    assert metrics["val_loss"] == metrics["mel_loss"] > 0 and model.training
    assert recipe.media is not None
    images = recipe.media(batch)
    assert images["mel/target"].shape == (N_MELS, int(batch["mel_lengths"][0]))
    assert images["mel/alignment"].shape == (
        int(batch["token_lengths"][0]),
        int(batch["mel_lengths"][0]),
    )
    exported = recipe.export_module()
    assert not exported.training and model.training


def with_controls(inputs):
    """Text inputs with a pitch shift and an energy scale that differ between items."""
    batch = len(inputs[0])
    return (*inputs, torch.linspace(-2.0, 3.0, batch), torch.linspace(0.8, 1.3, batch))


def export(module, path, dynamo: bool) -> None:
    signature = acoustic_signature(N_MELS)
    example = with_controls(text_inputs(2, 7, seed=0))
    kwargs: dict[str, object] = {}
    if dynamo:
        dims = {name: torch.export.Dim(name) for name in ("batch", "tokens")}
        kwargs["dynamic_shapes"] = tuple(
            {axis: dims[name] for axis, name in t.dynamic_axes.items()} for t in signature.inputs
        )
    else:
        kwargs["dynamic_axes"] = signature.dynamic_axes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=signature.input_names,
            output_names=signature.output_names,
            opset_version=17,
            dynamo=dynamo,
            **kwargs,
        )


def check_onnx_matches(tmp_path, dynamo: bool, **overrides: object) -> None:
    ort = pytest.importorskip("onnxruntime")
    module = VoiceTransformerExport(speaking_model(**overrides)).eval()
    export(module, tmp_path / "acoustic.onnx", dynamo)
    session = ort.InferenceSession(
        str(tmp_path / "acoustic.onnx"), providers=["CPUExecutionProvider"]
    )
    names = acoustic_signature(N_MELS).input_names
    for batch in (1, 4):
        for n_tokens in (3, 17, 60):
            inputs = with_controls(text_inputs(batch, n_tokens, seed=batch * 100 + n_tokens))
            with torch.no_grad():
                mel, lengths, durations = module(*inputs)
            got_mel, got_lengths, got_durations = session.run(
                None, dict(zip(names, (t.numpy() for t in inputs), strict=True))
            )
            np.testing.assert_array_equal(got_lengths, lengths.numpy())
            np.testing.assert_array_equal(got_durations, durations.numpy())
            np.testing.assert_allclose(got_mel, mel.numpy(), atol=1e-4, rtol=0)


def test_onnx_export_legacy_matches_pytorch(tmp_path):
    check_onnx_matches(tmp_path, dynamo=False)


def test_onnx_export_with_a_postnet_matches_pytorch(tmp_path):
    check_onnx_matches(tmp_path, dynamo=False, **POSTNET)


def test_onnx_export_with_frame_pitch_matches_pytorch(tmp_path):
    check_onnx_matches(tmp_path, dynamo=False, **FRAME_PITCH)


@pytest.mark.slow
def test_onnx_export_dynamo_matches_pytorch(tmp_path):
    pytest.importorskip("onnxscript")
    check_onnx_matches(tmp_path, dynamo=True)

"""The configuration tree: one frozen attrs class per TOML section.

Every field carries its documentation (``doc``) and its rules; ``docs/configuration.md`` is
generated from them. Change a config with :func:`attrs.evolve` or ``--set``, never by mutation.
Fields that name a plugin (``plugin=...``) are resolved against the registry, and the section's
``options`` table is structured against the option class that plugin declares.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from autovoice.config.fields import (
    Check,
    Relation,
    between,
    each,
    ge,
    gt,
    nonempty,
    one_of,
    optional,
    setting,
)
from autovoice.specs import DEFAULT_PREFER


def freeze(value: Any) -> Any:
    """A read-only copy of a plugin option table: mappings become mapping proxies, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


def options_field(kind: str) -> Any:
    return setting(
        doc=f"Options of the chosen {kind} plugin, checked against the option class it declares.",
        factory=dict,
        converter=freeze,
    )


@attrs.frozen(kw_only=True)
class AudioConfig:
    sample_rate: int = setting(
        22050,
        doc="Sample rate (Hz) of training audio and synthesized speech.",
        checks=[between(8000, 96000)],
    )
    n_fft: int = setting(1024, doc="FFT size of the STFT.", checks=[gt(0)])
    win_length: int = setting(
        1024,
        doc="Window length of the STFT in samples (Hann window).",
        checks=[gt(0), Relation("<=", "n_fft")],
    )
    hop_length: int = setting(
        256,
        doc="Samples between successive mel frames.",
        checks=[gt(0), Relation("<=", "win_length")],
    )
    n_mels: int = setting(80, doc="Number of mel bands.", checks=[between(1, 512)])
    f_min: float = setting(0.0, doc="Lowest frequency (Hz) of the mel filterbank.", checks=[ge(0)])
    f_max: float = setting(
        8000.0,
        doc="Highest frequency (Hz) of the mel filterbank.",
        checks=[gt(0), Relation(">", "f_min"), Relation("<=", "sample_rate", 0.5)],
    )
    log_clamp: float = setting(
        1e-5, doc="Magnitudes are clamped to at least this before the log.", checks=[gt(0)]
    )
    trim_silence_db: float = setting(
        0.0,
        doc="Trim leading and trailing audio quieter than this many dB below the peak; 0 keeps it.",
        checks=[ge(0)],
    )
    normalize: str = setting(
        "peak",
        doc="Level normalization of training audio.",
        checks=[one_of("none", "peak", "loudness")],
    )


@attrs.frozen(kw_only=True)
class TextConfig:
    language: str = setting(
        "en",
        doc="Language of the text front end (normalization rules, phonemizer voice).",
        checks=[nonempty()],
    )
    symbols: str = setting(
        "characters",
        doc="Symbol table: characters, or IPA phonemes through espeak-ng.",
        checks=[one_of("characters", "phonemes")],
    )
    normalize: bool = setting(
        True, doc="Expand numbers and abbreviations and tidy punctuation and whitespace."
    )
    lowercase: bool = setting(
        True, doc="Lower-case text before tokenizing (character symbols only)."
    )


@attrs.frozen(kw_only=True)
class DataConfig:
    dataset: str = setting(
        "voice",
        doc="Dataset plugin that reads the corpus (voice, paired, augmented, ...).",
        plugin="dataset",
    )
    corpus: str = setting(
        "", doc="Path of the corpus: an LJSpeech folder, a JSONL manifest or a folder of speakers."
    )
    format: str = setting(
        "auto",
        doc="Corpus layout; auto detects it.",
        checks=[one_of("auto", "ljspeech", "jsonl", "folders")],
    )
    on_bad_sample: str = setting(
        "error",
        doc="A bad line or file stops with an error naming it, or is skipped and counted.",
        checks=[one_of("error", "skip")],
    )
    min_duration: float = setting(0.5, doc="Shortest utterance kept, in seconds.", checks=[ge(0)])
    max_duration: float = setting(
        15.0,
        doc="Longest utterance kept, in seconds.",
        checks=[gt(0), Relation(">", "min_duration")],
    )
    val_fraction: float = setting(
        0.02, doc="Fraction of utterances held out for validation.", checks=[between(0, 0.5)]
    )
    num_workers: int = setting(
        0, doc="Dataloader worker processes; 0 loads in the training process.", checks=[ge(0)]
    )
    cache_dir: str = setting(
        "", doc="Where computed features are cached; empty disables the cache."
    )
    seed: int = setting(
        1234, doc="Seed of the train/validation split and of shuffling.", checks=[ge(0)]
    )
    options: Any = options_field("dataset")


@attrs.frozen(kw_only=True)
class ModelConfig:
    name: str = setting(
        "voice_transformer", doc="Acoustic model plugin (text to mel).", plugin="model"
    )
    options: Any = options_field("model")


@attrs.frozen(kw_only=True)
class VocoderConfig:
    name: str = setting("hifigan", doc="Vocoder plugin (mel to waveform).", plugin="vocoder")
    options: Any = options_field("vocoder")


@attrs.frozen(kw_only=True)
class TrainingConfig:
    output_dir: str = setting(
        "runs/default",
        doc="Directory for logs and, unless checkpoint.uri says otherwise, checkpoints.",
        checks=[nonempty()],
    )
    batch_size: int = setting(16, doc="Utterances per batch.", checks=[gt(0)])
    learning_rate: float = setting(1e-3, doc="Peak learning rate.", checks=[gt(0)])
    warmup_steps: int = setting(1000, doc="Steps of linear learning-rate warm-up.", checks=[ge(0)])
    max_steps: int = setting(100_000, doc="Optimizer steps before training stops.", checks=[gt(0)])
    grad_accumulation: int = setting(
        1, doc="Batches accumulated per optimizer step.", checks=[gt(0)]
    )
    grad_clip: float = setting(
        1.0, doc="Clip the gradient norm to this; 0 disables clipping.", checks=[ge(0)]
    )
    precision: str = setting(
        "fp32",
        doc="Numeric precision; bf16 and fp16 use autocast (fp16 with a grad scaler). On CPU fp32 is fastest.",
        checks=[one_of("fp32", "bf16", "fp16")],
    )
    device: str = setting(
        "auto",
        doc="Training device: auto picks CUDA when present.",
        checks=[one_of("auto", "cpu", "cuda")],
    )
    seed: int = setting(
        1234,
        doc="Seed of Python, numpy and torch (CPU and CUDA) generators, set before the model is built: one seed, one set of initial weights and losses.",
        checks=[ge(0)],
    )
    log_every: int = setting(50, doc="Steps between logged training losses.", checks=[gt(0)])
    val_every: int = setting(1000, doc="Steps between validation runs.", checks=[gt(0)])
    checkpoint_every: int = setting(1000, doc="Steps between checkpoints.", checks=[gt(0)])


@attrs.frozen(kw_only=True)
class CheckpointConfig:
    store: str = setting(
        "auto",
        doc="Checkpoint store plugin; auto picks the store serving the URI's scheme (a plain path: file).",
        plugin="store",
    )
    uri: str = setting(
        "", doc="Where checkpoints go; empty means <training.output_dir>/checkpoints."
    )
    max_keep: int = setting(5, doc="Newest checkpoints kept.", checks=[gt(0)])
    keep_best: int = setting(
        3, doc="Best checkpoints kept (by metric_name), besides the newest.", checks=[ge(0)]
    )
    metric_name: str = setting(
        "val_loss", doc="Metric that ranks checkpoints.", checks=[nonempty()]
    )
    mode: str = setting(
        "min", doc="Whether a lower or a higher metric is better.", checks=[one_of("min", "max")]
    )
    options: Any = options_field("store")


def _profile_bound(default: int, doc: str, *, above: str = "") -> int:
    """A bound of the TensorRT optimization profile: a positive number, and where ``above``
    names another bound, at least its value (min <= opt <= max)."""
    checks: list[Check | Relation] = [gt(0)]
    if above:
        checks.append(Relation(">=", above))
    return setting(default, doc=doc, checks=checks)  # type: ignore[no-any-return]


@attrs.frozen(kw_only=True)
class ExportConfig:
    output_dir: str = setting(
        "voice", doc="Directory of the exported voice bundle.", checks=[nonempty()]
    )
    opset: int = setting(17, doc="ONNX opset of exported graphs.", checks=[between(14, 23)])
    validate: bool = setting(
        True,
        doc="Run the exported graphs in ONNX Runtime against PyTorch and fail outside tolerance.",
    )
    tolerance: float = setting(
        1e-3,
        doc="Largest absolute difference allowed between ONNX Runtime and PyTorch outputs.",
        checks=[gt(0)],
    )
    tensorrt: bool = setting(
        False, doc="Also build TensorRT engines (needs a GPU and autovoice[tensorrt])."
    )
    fp16: bool = setting(
        False, doc="Build TensorRT engines in FP16, keeping the layers that need it in FP32."
    )
    batch_min: int = _profile_bound(1, "Smallest batch of the TensorRT optimization profile.")
    batch_opt: int = _profile_bound(
        1, "Batch the TensorRT profile is tuned for.", above="batch_min"
    )
    batch_max: int = _profile_bound(
        8, "Largest batch of the TensorRT optimization profile.", above="batch_opt"
    )
    tokens_min: int = _profile_bound(1, "Shortest text (tokens) of the TensorRT profile.")
    tokens_opt: int = _profile_bound(
        128, "Text length (tokens) the TensorRT profile is tuned for.", above="tokens_min"
    )
    tokens_max: int = _profile_bound(
        1024, "Longest text (tokens) of the TensorRT profile.", above="tokens_opt"
    )
    frames_min: int = _profile_bound(1, "Fewest mel frames of the vocoder's TensorRT profile.")
    frames_opt: int = _profile_bound(
        512, "Mel frames the vocoder's TensorRT profile is tuned for.", above="frames_min"
    )
    frames_max: int = _profile_bound(
        4096, "Most mel frames of the vocoder's TensorRT profile.", above="frames_opt"
    )


@attrs.frozen(kw_only=True)
class InferenceConfig:
    voice: str = setting(
        "", doc="Voice bundle or checkpoint to synthesize with; empty uses the default voice."
    )
    backend: str = setting(
        "auto", doc="Backend of every stage: a backend plugin's name, or auto.", plugin="backend"
    )
    acoustic_backend: str = setting(
        "", doc="Backend of the acoustic stage alone; empty follows backend.", plugin="backend"
    )
    vocoder_backend: str = setting(
        "", doc="Backend of the vocoder stage alone; empty follows backend.", plugin="backend"
    )
    prefer: tuple[str, ...] = setting(
        DEFAULT_PREFER,
        doc="Order in which auto tries backends; the next is used when one is unavailable.",
        checks=[nonempty()],
    )
    device: str = setting("auto", doc="Inference device.", checks=[one_of("auto", "cpu", "cuda")])
    threads: int = setting(
        0, doc="CPU threads per stage; 0 lets the backend decide.", checks=[ge(0)]
    )
    batch_size: int = setting(8, doc="Sentences synthesized together.", checks=[gt(0)])
    pace: float = setting(1.0, doc="Speaking rate: above 1 is faster.", checks=[between(0.25, 4.0)])
    speaker: int = setting(0, doc="Speaker id of multi-speaker voices.", checks=[ge(0)])
    options: Any = options_field("backend")


@attrs.frozen(kw_only=True)
class BenchConfig:
    suites: tuple[str, ...] = setting(
        ("inference",), doc="Benchmark suites to run.", checks=[nonempty()]
    )
    warmup: int = setting(3, doc="Untimed runs before measuring.", checks=[ge(0)])
    repeats: int = setting(
        20,
        doc="Timed runs per measurement; medians and percentiles come from these.",
        checks=[gt(0)],
    )
    batch_sizes: tuple[int, ...] = setting(
        (1, 4, 8), doc="Batch sizes measured.", checks=[nonempty(), each(gt(0))]
    )
    output_dir: str = setting(
        "bench-results", doc="Where JSON and markdown results are written.", checks=[nonempty()]
    )
    threads: int = setting(
        0, doc="CPU threads for every system measured; 0 uses all cores.", checks=[ge(0)]
    )
    seed: int = setting(0, doc="Seed of generated benchmark inputs.", checks=[ge(0)])
    max_rss_mb: float | None = setting(
        None,
        doc="Fail a suite whose peak memory exceeds this many MiB; unset for no limit.",
        checks=[optional(gt(0))],
    )


@attrs.frozen(kw_only=True)
class Config:
    """The whole configuration. Every section has defaults; a TOML file overrides some."""

    audio: AudioConfig = setting(doc="Audio and feature settings.", factory=AudioConfig)
    text: TextConfig = setting(doc="Text front end.", factory=TextConfig)
    data: DataConfig = setting(doc="Corpus and data loading.", factory=DataConfig)
    model: ModelConfig = setting(doc="Acoustic model.", factory=ModelConfig)
    vocoder: VocoderConfig = setting(doc="Vocoder.", factory=VocoderConfig)
    training: TrainingConfig = setting(doc="Training loop.", factory=TrainingConfig)
    checkpoint: CheckpointConfig = setting(
        doc="Checkpoints and retention.", factory=CheckpointConfig
    )
    export: ExportConfig = setting(doc="ONNX and TensorRT export.", factory=ExportConfig)
    inference: InferenceConfig = setting(doc="Synthesis.", factory=InferenceConfig)
    bench: BenchConfig = setting(doc="Benchmarks.", factory=BenchConfig)

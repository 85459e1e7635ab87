"""The configuration: a tree of frozen attrs classes loaded from TOML with cattrs."""

from autovoice.config.load import (
    apply_overrides,
    dump_toml,
    load_config,
    parse_config,
    parse_override,
    read_toml,
    resolve_plugins,
)
from autovoice.config.schema import (
    AudioConfig,
    BenchConfig,
    CheckpointConfig,
    Config,
    DataConfig,
    ExportConfig,
    InferenceConfig,
    ModelConfig,
    TextConfig,
    TrainingConfig,
    VocoderConfig,
)
from autovoice.config.structure import structure, unstructure

__all__ = [
    "AudioConfig",
    "BenchConfig",
    "CheckpointConfig",
    "Config",
    "DataConfig",
    "ExportConfig",
    "InferenceConfig",
    "ModelConfig",
    "TextConfig",
    "TrainingConfig",
    "VocoderConfig",
    "apply_overrides",
    "dump_toml",
    "load_config",
    "parse_config",
    "parse_override",
    "read_toml",
    "resolve_plugins",
    "structure",
    "unstructure",
]

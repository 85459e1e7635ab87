"""Config: loading, every problem at once with its path, overrides, plugin options, round trips."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autovoice import Registry, StoreSpec, hookimpl
from autovoice.config import (
    Config,
    apply_overrides,
    dump_toml,
    load_config,
    parse_config,
    parse_override,
    structure,
    unstructure,
)
from autovoice.config.fields import between, setting
from autovoice.errors import ConfigError


@attrs.frozen(kw_only=True)
class DemoStoreOptions:
    retries: int = setting(3, doc="Retries.", checks=[between(0, 10)])
    region: str = setting("eu", doc="Region.")


class DemoStorePlugin:
    @hookimpl
    def autovoice_checkpoint_stores(self):
        return [
            StoreSpec(
                name="demo",
                factory="tests.test_config:DemoStoreOptions",
                schemes=("demo",),
                options_type=DemoStoreOptions,
            )
        ]


def registry_with(*plugins):
    """Only these plugins, plus the built-in dataset and models the default config names."""
    import autovoice_datasets
    import autovoice_models

    return Registry.discover(
        plugins=[autovoice_datasets, autovoice_models, *plugins], entry_points=False
    )


@pytest.fixture
def registry():
    return registry_with(DemoStorePlugin())


def write(tmp_path, text, name="voice.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def messages(exc_info):
    return [str(issue) for issue in exc_info.value.issues]


def test_valid_file_loads_with_defaults_for_the_rest(tmp_path):
    path = write(
        tmp_path, "[training]\nbatch_size = 8\nlearning_rate = 2e-4\n[audio]\nn_mels = 64\n"
    )
    config = load_config(path)
    assert config.training.batch_size == 8
    assert config.training.learning_rate == 2e-4
    assert config.audio.n_mels == 64
    assert config.audio.sample_rate == Config().audio.sample_rate
    assert attrs.evolve(config, training=Config().training, audio=Config().audio) == Config()


def test_every_problem_is_reported_at_once_with_paths(tmp_path, registry):
    path = write(
        tmp_path,
        """
[training]
batch_size = -4
learning_rate = "fast"
batchsize = 3

[audio]
win_length = 4096

[checkpoint]
store = "demo"
[checkpoint.options]
retries = 99
regoin = "us"

[bench]
batch_sizes = [1, "two"]
""",
    )
    with pytest.raises(ConfigError) as exc_info:
        load_config(path, registry=registry)
    found = messages(exc_info)
    assert "$.training.batch_size: must be > 0, got -4" in found
    assert '$.training.learning_rate: expected a number, got string "fast"' in found
    assert "$.training.batchsize: unknown key; did you mean 'batch_size'?" in found
    assert "$.audio.win_length: must be <= n_fft (1024), got 4096" in found
    assert "$.checkpoint.options.retries: must be between 0 and 10, got 99" in found
    assert "$.checkpoint.options.regoin: unknown key; did you mean 'region'?" in found
    assert '$.bench.batch_sizes[1]: expected an integer, got string "two"' in found
    assert len(found) == 7
    assert str(path) in str(exc_info.value)


def test_unknown_plugin_name_is_an_issue_with_a_suggestion(registry):
    with pytest.raises(ConfigError) as exc_info:
        parse_config({"checkpoint": {"store": "dmeo"}}, registry=registry)
    (message,) = messages(exc_info)
    assert message.startswith("$.checkpoint.store: unknown store 'dmeo'; did you mean 'demo'?")


def test_plugin_options_are_structured_against_the_plugin_class(registry):
    config = parse_config(
        {"checkpoint": {"store": "demo", "options": {"retries": 5}}}, registry=registry
    )
    assert config.checkpoint.options == DemoStoreOptions(retries=5)
    shown = dump_toml(config)
    assert 'region = "eu"' in shown  # the plugin's defaults appear in the resolved config


def test_options_for_a_plugin_without_options_are_refused():
    class Bare:
        @hookimpl
        def autovoice_checkpoint_stores(self):
            return [StoreSpec(name="bare", factory="json:dumps", schemes=("bare",))]

    registry = registry_with(Bare())
    with pytest.raises(ConfigError) as exc_info:
        parse_config({"checkpoint": {"store": "bare", "options": {"x": 1}}}, registry=registry)
    assert messages(exc_info) == ["$.checkpoint.options: store 'bare' takes no options"]


def test_strict_scalars_no_silent_coercion():
    with pytest.raises(ConfigError) as exc_info:
        structure(
            {"training": {"batch_size": "8", "max_steps": 1.5}, "text": {"normalize": 1}}, Config
        )
    found = messages(exc_info)
    assert '$.training.batch_size: expected an integer, got string "8"' in found
    assert "$.training.max_steps: expected an integer, got float 1.5" in found
    assert "$.text.normalize: expected true or false, got integer 1" in found


def test_bad_toml_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "[training]\nbatch_size = = 3\n")
    with pytest.raises(ConfigError, match=r"voice\.toml: invalid TOML: .*line 2"):
        load_config(path)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match=r"nowhere\.toml: file not found"):
        load_config(tmp_path / "nowhere.toml")


def test_overrides_make_a_new_config_and_leave_the_old_one():
    base = Config()
    new = apply_overrides(base, ["training.batch_size=8", "model.name=my_model"])
    assert new.training.batch_size == 8 and new.model.name == "my_model"
    assert base.training.batch_size == 16 and base.model.name == "voice_transformer"
    assert new.audio is base.audio  # untouched sections are shared, not copied


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("training.batch_size=-1", "$.training.batch_size: must be > 0, got -1"),
        (
            "training.batch_size=many",
            '$.training.batch_size: expected an integer, got string "many"',
        ),
        ("training.nope=1", "$.training.nope: unknown key"),
        ("audio.hop_length=2048", "$.audio.hop_length: must be <= win_length (1024), got 2048"),
    ],
)
def test_bad_overrides_name_their_path(override, expected):
    with pytest.raises(ConfigError) as exc_info:
        apply_overrides(Config(), [override])
    assert expected in messages(exc_info)


def test_override_values_are_toml_literals_or_strings():
    assert parse_override("inference.prefer=['onnxruntime', 'pytorch']") == (
        ("inference", "prefer"),
        ["onnxruntime", "pytorch"],
    )
    assert parse_override("data.corpus=/data/LJSpeech-1.1") == (
        ("data", "corpus"),
        "/data/LJSpeech-1.1",
    )
    with pytest.raises(ConfigError, match=r"expected KEY\.PATH=VALUE"):
        parse_override("training.batch_size")


def test_overrides_in_parse_config_are_reported_with_file_problems():
    with pytest.raises(ConfigError) as exc_info:
        parse_config({"training": {"batch_size": 0}}, overrides=["audio.n_mels=0"])
    assert sorted(messages(exc_info)) == [
        "$.audio.n_mels: must be between 1 and 512, got 0",
        "$.training.batch_size: must be > 0, got 0",
    ]


def test_config_is_frozen():
    config = Config()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.training.batch_size = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.model.options["x"] = 1  # type: ignore[index]


def test_python_construction_checks_rules_too():
    from autovoice.config import AudioConfig

    with pytest.raises(ValueError, match="must be <= n_fft"):
        AudioConfig(win_length=4096)


def test_resolved_config_shows_as_toml_that_loads_back(tmp_path, registry):
    config = parse_config(
        {"checkpoint": {"store": "demo"}, "training": {"batch_size": 4}}, registry=registry
    )
    path = write(tmp_path, dump_toml(config), "shown.toml")
    assert load_config(path, registry=registry) == config


# Property: structuring the unstructured config gives it back.
positive = st.integers(min_value=1, max_value=10_000)
configs = st.builds(
    lambda batch, lr, steps, n_mels, hop, prefer, sizes, options, precision: apply_overrides(
        Config(),
        [
            f"training.batch_size={batch}",
            f"training.learning_rate={lr!r}",
            f"training.max_steps={steps}",
            f"training.precision='{precision}'",
            f"audio.n_mels={n_mels}",
            f"audio.hop_length={hop}",
            f"inference.prefer={list(prefer)!r}",
            f"bench.batch_sizes={list(sizes)!r}",
        ],
    ),
    positive,
    st.floats(min_value=1e-6, max_value=1.0),
    positive,
    st.integers(1, 512),
    st.integers(1, 1024),
    st.lists(st.sampled_from(["tensorrt", "onnxruntime", "pytorch"]), min_size=1, max_size=3),
    st.lists(positive, min_size=1, max_size=4),
    st.dictionaries(st.text("abc", min_size=1), st.integers()),
    st.sampled_from(["fp32", "bf16", "fp16"]),
)


@settings(max_examples=60, deadline=None)
@given(configs)
def test_structure_unstructure_round_trip(config):
    assert structure(unstructure(config), Config) == config


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text("abcdef_", min_size=1, max_size=6),
        st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=3),
        max_size=5,
    )
)
def test_plugin_option_tables_round_trip(options):
    config = attrs.evolve(Config(), model=attrs.evolve(Config().model, options=options))
    back = structure(unstructure(config), Config)
    assert unstructure(back.model.options) == unstructure(config.model.options)


def test_auto_store_is_resolved_by_the_uri_scheme(registry):
    config = parse_config(
        {"checkpoint": {"uri": "demo://bucket/run1", "options": {"retries": 1}}}, registry=registry
    )
    assert config.checkpoint.store == "auto"
    assert config.checkpoint.options == DemoStoreOptions(retries=1)
    with pytest.raises(ConfigError, match=r"\$\.checkpoint\.store: unknown store scheme 'nope'"):
        parse_config({"checkpoint": {"uri": "nope://x"}}, registry=registry)

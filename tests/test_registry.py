"""Plugin registry: entry-point discovery, allow-list, suggestions, duplicates, requirements."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import pytest

from autovoice import (
    BackendRequest,
    BackendSpec,
    DuplicatePluginError,
    PluginError,
    PluginUnavailableError,
    Registry,
    Requirement,
    UnknownPluginError,
    hookimpl,
    make_plugin_manager,
)
from autovoice import plugins as plugins_module
from autovoice.cli import main
from autovoice.plugins import describe_plugins

BUILTIN_ENTRY_POINTS = {
    "autovoice_stores",
    "autovoice_onnxruntime",
    "autovoice_datasets",
    "autovoice_models",
    "autovoice_tensorrt",
    "autovoice_torch",
}


def backend(name, *, accepts=("onnx",), devices=("cpu",), requires=(), extra=None):
    return BackendSpec(
        name=name,
        factory="autovoice_onnxruntime.backend:OnnxRuntimeBackend",
        accepts=accepts,
        devices=devices,
        requires=requires,
        extra=extra,
    )


class Backends:
    """A plugin object returning the given backend specs."""

    def __init__(self, *specs):
        self.specs = specs

    @hookimpl
    def autovoice_backends(self):
        return list(self.specs)


def only(*specs):
    return Registry.discover(plugins=[Backends(*specs)], entry_points=False)


def test_builtins_are_discovered_through_entry_points():
    registry = Registry.discover(environ={})
    sources = {name: str(src) for name, src in registry.pm.sources.items()}
    for name in BUILTIN_ENTRY_POINTS:
        assert sources[name].startswith("autovoice ")
    assert {"file", "fsspec"} <= set(registry.names("store"))
    assert "onnxruntime" in registry.names("backend")
    assert {"voice", "paired", "augmented"} <= set(registry.names("dataset"))
    assert registry.names("model") == ["voice_converter", "voice_transformer"]
    assert registry.names("vocoder") == ["hifigan", "istft", "magnitude_gl"]
    entry = next(e for e in registry.entries("store") if e.spec.name == "file")
    assert entry.plugin == "autovoice_stores"
    assert entry.source.distribution == "autovoice"


def test_allow_list_restricts_loading():
    stores_only = Registry.discover(environ={"AUTOVOICE_PLUGINS": "autovoice_stores"})
    assert stores_only.names("backend") == []
    assert "file" in stores_only.names("store")
    nothing = Registry.discover(environ={"AUTOVOICE_PLUGINS": ""})
    assert nothing.entries() == []
    spaced = Registry.discover(environ={"AUTOVOICE_PLUGINS": " autovoice_onnxruntime , "})
    assert spaced.names("backend") == ["onnxruntime"] and spaced.names("store") == []


def test_allow_list_with_an_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownPluginError) as exc_info:
        make_plugin_manager(environ={"AUTOVOICE_PLUGINS": "autovoice_store"})
    message = str(exc_info.value)
    assert "unknown plugin 'autovoice_store'; did you mean 'autovoice_stores'?" in message
    assert "autovoice_onnxruntime" in message  # lists what is installed


def test_unknown_name_suggests_closest_and_lists_installed():
    registry = only(backend("onnxruntime"), backend("pytorch"))
    with pytest.raises(UnknownPluginError) as exc_info:
        registry.get("backend", "onnxruntme")
    assert str(exc_info.value) == (
        "unknown backend 'onnxruntme'; did you mean 'onnxruntime'? "
        "(installed backends: onnxruntime, pytorch)"
    )
    with pytest.raises(UnknownPluginError, match=r"unknown backend 'zzz' \(installed"):
        registry.get("backend", "zzz")


def test_two_plugins_with_the_same_name_is_an_error_naming_both():
    class First(Backends):
        pass

    class Second(Backends):
        pass

    registry = Registry.discover(
        plugins=[First(backend("fast")), Second(backend("fast"))], entry_points=False
    )
    with pytest.raises(DuplicatePluginError) as exc_info:
        registry.entries()
    message = str(exc_info.value)
    assert "backend 'fast' is registered twice" in message
    assert "First" in message and "Second" in message


def test_two_entry_points_with_the_same_name_is_an_error(monkeypatch):
    eps = [
        importlib.metadata.EntryPoint("acme", "acme_one", "autovoice"),
        importlib.metadata.EntryPoint("acme", "acme_two", "autovoice"),
    ]
    monkeypatch.setattr(plugins_module, "_entry_points", lambda: eps)
    with pytest.raises(
        DuplicatePluginError, match=r"'acme' is registered twice.*acme_one.*acme_two"
    ):
        make_plugin_manager(environ={})


def test_a_plugin_that_fails_to_import_is_named(monkeypatch):
    eps = [importlib.metadata.EntryPoint("broken", "no_such_module_for_autovoice", "autovoice")]
    monkeypatch.setattr(plugins_module, "_entry_points", lambda: eps)
    with pytest.raises(PluginError, match=r"plugin 'broken' .*failed to load \(no_such_module"):
        make_plugin_manager(environ={})


def test_misspelled_hook_fails_at_start_up():
    class Typo:
        @hookimpl
        def autovoice_backend(self):  # not a hook: the spec is autovoice_backends
            return []

    with pytest.raises(PluginError, match="unknown hook"):
        make_plugin_manager(plugins=[Typo()], entry_points=False)


def test_a_hook_returning_the_wrong_spec_kind_is_refused():
    class Wrong:
        @hookimpl
        def autovoice_checkpoint_stores(self):
            return [backend("not_a_store")]

    registry = Registry.discover(plugins=[Wrong()], entry_points=False)
    with pytest.raises(PluginError, match="expected StoreSpec"):
        registry.entries()


def test_missing_requirement_says_which_package_to_install(capsys):
    spec = backend(
        "gpu_thing",
        requires=(
            Requirement(module="autovoice_surely_missing_trt", package="tensorrt"),
            Requirement(module="autovoice_surely_missing_cuda", package="cuda-python"),
        ),
        extra="tensorrt",
    )
    status = spec.availability()
    assert not status.available
    assert str(status) == (
        "unavailable: needs tensorrt, cuda-python (pip install 'autovoice[tensorrt]')"
    )
    with pytest.raises(
        PluginUnavailableError, match=r"backend 'gpu_thing' is unavailable: needs tensorrt"
    ):
        spec.load()
    rows = describe_plugins(only(spec))
    assert rows[0]["available"] is False and "needs tensorrt, cuda-python" in rows[0]["reason"]


def test_requirements_without_an_extra_name_pip_packages():
    spec = backend("x", requires=(Requirement(module="autovoice_nope_mod", package="nope-dist"),))
    assert spec.availability().reason == "needs nope-dist (pip install nope-dist)"


def test_probe_can_refuse_with_a_reason():
    spec = BackendSpec(
        name="probed", factory="json:dumps", accepts=("onnx",), probe="tests.test_registry:_no_gpu"
    )
    assert str(spec.availability()) == "unavailable: no CUDA device"


def _no_gpu():
    return "no CUDA device"


def test_auto_backend_follows_preference_and_skips_unavailable():
    missing = (Requirement(module="autovoice_missing_mod", package="missing"),)
    registry = only(
        backend("pytorch", accepts=("checkpoint", "onnx"), devices=("cpu", "cuda")),
        backend("onnxruntime", devices=("cpu", "cuda")),
        backend("tensorrt", devices=("cuda",), requires=missing),
    )
    assert registry.select_backend(BackendRequest()).name == "onnxruntime"
    request = BackendRequest(artifacts=("checkpoint",))
    assert registry.select_backend(request).name == "pytorch"
    with pytest.raises(
        PluginError, match=r"no backend can serve .*tensorrt \(unavailable: needs missing"
    ):
        registry.select_backend(BackendRequest(artifacts=("engine",)))


def test_a_plugin_policy_runs_before_the_builtin_one():
    class PreferPytorch:
        @hookimpl
        def autovoice_select_backend(self, request, candidates):
            names = [c.name for c in candidates]
            return "pytorch" if "pytorch" in names else None

    registry = Registry.discover(
        plugins=[Backends(backend("onnxruntime"), backend("pytorch")), PreferPytorch()],
        entry_points=False,
    )
    assert registry.select_backend().name == "pytorch"


def test_importing_autovoice_loads_no_plugin_and_no_heavy_library():
    code = (
        "import sys, autovoice, autovoice.config, autovoice.plugins;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'onnxruntime', 'tensorrt', 'autovoice_stores', 'autovoice_onnxruntime')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_plugins_lists_builtins_as_json(capsys, monkeypatch):
    monkeypatch.delenv("AUTOVOICE_PLUGINS", raising=False)
    assert main(["plugins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {row["name"]: row for row in rows}
    assert by_name["file"]["kind"] == "store"
    assert by_name["file"]["distribution"] == "autovoice"
    assert by_name["onnxruntime"]["kind"] == "backend"
    assert by_name["onnxruntime"]["available"] is True  # onnxruntime is installed in the test env


def test_cli_plugins_table_shows_unavailable_reasons(capsys, monkeypatch):
    spec = backend(
        "tensorrt",
        requires=(Requirement(module="autovoice_no_trt", package="tensorrt"),),
        extra="tensorrt",
    )
    monkeypatch.setattr("autovoice.commands.plugins.registry", lambda: only(spec))
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "KIND", "FROM", "STATUS"]
    assert out[1].split()[:2] == ["tensorrt", "backend"]
    assert out[1].endswith("unavailable: needs tensorrt (pip install 'autovoice[tensorrt]')")


def test_two_stores_serving_one_scheme_is_an_error():
    from autovoice import StoreSpec

    class TwoStores:
        @hookimpl
        def autovoice_checkpoint_stores(self):
            return [
                StoreSpec(name="s3a", factory="json:dumps", schemes=("s3",)),
                StoreSpec(name="s3b", factory="json:dumps", schemes=("s3", "gs")),
            ]

    registry = Registry.discover(plugins=[TwoStores()], entry_points=False)
    with pytest.raises(DuplicatePluginError, match=r"scheme 's3' is served by two stores: 's3a'"):
        registry.entries()


def test_tracing_shows_collector_hooks(capsys):
    registry = Registry.discover(
        plugins=[Backends(backend("traced"))],
        entry_points=False,
        environ={"AUTOVOICE_TRACE_PLUGINS": "1"},
    )
    registry.entries()
    err = capsys.readouterr().err
    assert "autovoice_backends" in err and "traced" in err


def test_dotted_requirements_are_checked_without_importing_parents():
    code = (
        "import sys; from autovoice.specs import Requirement;"
        "print(Requirement(module='json.decoder', package='x').is_met(),"
        " Requirement(module='json.nope', package='x').is_met(),"
        " Requirement(module='nopkg_autovoice.sub', package='x').is_met(),"
        " 'json' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", "False", "False", "False"]


def test_a_requirement_installs_its_top_level_module_unless_told_otherwise():
    assert Requirement(module="onnxruntime").package == "onnxruntime"
    assert Requirement(module="cuda.bindings").package == "cuda"
    assert Requirement(module="cuda.bindings", package="cuda-python").package == "cuda-python"
    spec = backend("x", requires=(Requirement(module="autovoice_nope_mod.sub"),))
    assert spec.availability().reason == "needs autovoice_nope_mod (pip install autovoice_nope_mod)"


def test_lazy_names_are_listed_once_under_their_module():
    from autovoice._lazy import by_module

    assert by_module({"a.b": ("X", "y"), "a.c": ("Z",)}) == {"X": "a.b", "y": "a.b", "Z": "a.c"}
    with pytest.raises(ValueError, match=r"'X' is listed under a.b and a.c"):
        by_module({"a.b": ("X",), "a.c": ("X",)})

"""The example plugin of docs/example-plugin, installed as a user installs a third-party plugin.

A fresh virtual environment gets the plugin through ``pip install``; the packages of the
environment running these tests (autovoice included, editable or not) are made visible to it
through a ``.pth`` file, so nothing is downloaded. The plugin must then be found through its entry
point, run a real ONNX graph, obey ``AUTOVOICE_PLUGINS``, and stay invisible to this environment.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from autovoice import Registry

onnx = pytest.importorskip("onnx", reason="the example plugin needs onnx (autovoice[dev])")
pytest.importorskip("hatchling", reason="building the example plugin needs hatchling")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "example-plugin"
DISTRIBUTION = "autovoice-onnx-reference"
PLUGIN = "onnx_reference"


class Venv:
    def __init__(self, python: Path, env: dict[str, str]) -> None:
        self.python = python
        self.env = env

    def run(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run this venv's python with ``args``; unless ``check`` is false, fail the test with
        its output when it exits non-zero."""
        done = subprocess.run(
            [str(self.python), *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and done.returncode != 0:
            pytest.fail(
                f"{' '.join(args)[:200]} exited {done.returncode}\n"
                f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
            )
        return done

    def script(self, code: str, *args: str, env: dict[str, str] | None = None) -> object:
        """Run ``code`` in this venv and return the JSON its last output line holds."""
        done = self.run("-c", textwrap.dedent(code), *args, env=env)
        return json.loads(done.stdout.strip().splitlines()[-1])


def _visible_paths() -> list[str]:
    """This interpreter's site-packages and every directory on its sys.path, once each.

    Directories added by ``.pth`` files (an editable autovoice) are on sys.path but are not
    site directories: the new venv would not process the .pth files that name them.
    """
    paths: list[str] = []
    for entry in [*site.getsitepackages(), *sys.path]:
        if entry and os.path.isdir(entry):
            path = os.path.abspath(entry)
            if path not in paths:
                paths.append(path)
    return paths


def _base_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AUTOVOICE_", "PYTHON", "PIP_", "VIRTUAL_ENV"))
    }
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PYTHONNOUSERSITE="1")
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    try:
        found = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pass
    else:
        pytest.fail(
            f"{DISTRIBUTION} is installed in the environment running the tests "
            f"({found.locate_file('')}); these tests install it in a fresh venv and check that "
            f"it stays there. Run `pip uninstall {DISTRIBUTION}` first."
        )
    root = tmp_path_factory.mktemp("plugin-venv") / "venv"
    env = _base_env()
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, env=env, timeout=300)
    bindir = root / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    fresh = Venv(python, env)

    purelib = Path(
        fresh.run("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    )
    (purelib / "zz_outer_environment.pth").write_text("\n".join(_visible_paths()) + "\n")

    fresh.run(
        "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", str(EXAMPLE)
    )
    return fresh


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """y = x * 2 + 1 on float32 tensors of any shape (both dimensions named, not fixed)."""
    helper, tp = onnx.helper, onnx.TensorProto
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["doubled"]),
            helper.make_node("Add", ["doubled", "one"], ["y"]),
        ],
        "affine",
        [helper.make_tensor_value_info("x", tp.FLOAT, ["batch", "frames"])],
        [helper.make_tensor_value_info("y", tp.FLOAT, ["batch", "frames"])],
        initializer=[
            helper.make_tensor("two", tp.FLOAT, [], [2.0]),
            helper.make_tensor("one", tp.FLOAT, [], [1.0]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnx >= 1.16
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("model") / "affine.onnx"
    onnx.save(model, str(path))
    return path


def test_cli_lists_the_installed_plugin(venv: Venv) -> None:
    done = venv.run("-m", "autovoice", "plugins", "--json")
    rows = json.loads(done.stdout)
    ours = [row for row in rows if row["name"] == PLUGIN]
    assert len(ours) == 1, rows
    row = ours[0]
    assert row["kind"] == "backend"
    assert row["plugin"] == PLUGIN
    assert row["distribution"] == DISTRIBUTION
    assert row["version"] == "0.1.0"
    assert row["available"] is True, row["reason"]
    assert row["reason"] == ""


RUN_BACKEND = """
    import json, sys

    import numpy as np

    import autovoice_onnx_reference
    cheap = "onnx" not in sys.modules  # the package must not import onnx; backend.py does

    from autovoice import AutovoiceError, Registry
    from autovoice_onnx_reference import ReferenceOptions

    registry = Registry.discover()
    entry = next(e for e in registry.entries("backend") if e.spec.name == "onnx_reference")
    spec = entry.spec
    backend = spec.create(ReferenceOptions(verbose=0))
    default_options = spec.create().options
    session = backend.load(sys.argv[1])

    outputs = {}
    for shape in [(3, 4), (1, 7)]:
        x = np.linspace(-3.0, 3.0, num=int(np.prod(shape)), dtype=np.float32).reshape(shape)
        y = session.run({"x": x})
        outputs[str(shape)] = {k: [v.dtype.str, v.tolist(), x.tolist()] for k, v in y.items()}

    def error(call):
        try:
            call()
        except AutovoiceError as exc:
            return str(exc)
        return None

    print(json.dumps({
        "cheap": cheap,
        "plugin": entry.plugin,
        "distribution": entry.source.distribution,
        "spec_type": type(spec).__name__,
        "accepts": list(spec.accepts),
        "devices": list(spec.devices),
        "default_options": repr(default_options),
        "inputs": list(session.inputs),
        "outputs": list(session.outputs),
        "results": outputs,
        "missing": error(lambda: session.run({})),
        "cuda": error(lambda: backend.load(sys.argv[1], device="cuda")),
    }))
"""


def test_backend_runs_a_model_in_the_fresh_venv(venv: Venv, model_path: Path) -> None:
    report = venv.script(RUN_BACKEND, str(model_path))
    assert isinstance(report, dict)
    assert report["cheap"], "importing autovoice_onnx_reference imported onnx"
    assert report["plugin"] == PLUGIN
    assert report["distribution"] == DISTRIBUTION
    assert report["spec_type"] == "BackendSpec"
    assert report["accepts"] == ["onnx"]
    assert report["devices"] == ["cpu"]
    assert report["default_options"] == "ReferenceOptions(verbose=0, check_model=True)"
    assert report["inputs"] == ["x"]
    assert report["outputs"] == ["y"]
    assert set(report["results"]) == {"(3, 4)", "(1, 7)"}
    for shape, result in report["results"].items():
        assert set(result) == {"y"}
        dtype, y, x = result["y"]
        assert np.dtype(dtype) == np.float32
        expected = np.asarray(x, dtype=np.float32) * 2 + 1
        np.testing.assert_allclose(np.asarray(y, dtype=np.float32), expected, rtol=0, atol=1e-6)
        assert np.asarray(y).shape == eval(shape)
    assert report["missing"] is not None and "'x'" in report["missing"]
    assert report["cuda"] is not None and "cuda" in report["cuda"]


def test_outer_environment_does_not_see_the_plugin(venv: Venv) -> None:
    assert importlib.util.find_spec("autovoice_onnx_reference") is None
    names = Registry.discover(environ={}).names("backend")
    assert PLUGIN not in names


LIST_BACKENDS = """
    import json
    from autovoice import Registry
    print(json.dumps(Registry.discover().names("backend")))
"""


@pytest.mark.parametrize(
    ("allow", "expected"),
    [(PLUGIN, [PLUGIN]), ("", []), (f" {PLUGIN} , ", [PLUGIN])],
    ids=["only-this-plugin", "none", "spaces"],
)
def test_allow_list_selects_plugins(venv: Venv, allow: str, expected: list[str]) -> None:
    assert venv.script(LIST_BACKENDS, env={"AUTOVOICE_PLUGINS": allow}) == expected


def test_without_allow_list_the_plugin_is_loaded(venv: Venv) -> None:
    assert PLUGIN in venv.script(LIST_BACKENDS)  # type: ignore[operator]


SELECT_BACKEND = """
    from autovoice import BackendRequest, Registry
    print(Registry.discover().select_backend(BackendRequest(device="cpu")).name)
"""


def test_auto_selects_it_when_it_is_the_only_backend(venv: Venv) -> None:
    done = venv.run("-c", textwrap.dedent(SELECT_BACKEND), env={"AUTOVOICE_PLUGINS": PLUGIN})
    assert done.stdout.strip() == PLUGIN
    assert done.stderr == ""


def test_trace_shows_the_hook_calls(venv: Venv) -> None:
    env = {"AUTOVOICE_PLUGINS": PLUGIN, "AUTOVOICE_TRACE_PLUGINS": "1"}
    done = venv.run("-c", textwrap.dedent(SELECT_BACKEND), env=env)
    assert done.stdout.strip() == PLUGIN
    assert "autovoice_select_backend" in done.stderr
    assert "onnx_reference" in done.stderr


CONFIG = """\
[inference]
backend = "onnx_reference"
device = "cpu"

[inference.options]
verbose = {verbose}
{extra}
"""

RESOLVE_CONFIG = """
    import json, sys
    from autovoice import Registry
    from autovoice.config import load_config

    config = load_config(sys.argv[1], registry=Registry.discover())
    print(json.dumps(repr(config.inference.options)))
"""


def test_config_options_are_structured_against_the_options_class(
    venv: Venv, tmp_path: Path
) -> None:
    good = tmp_path / "good.toml"
    good.write_text(CONFIG.format(verbose=2, extra="check_model = false"))
    resolved = venv.script(RESOLVE_CONFIG, str(good))
    assert resolved == "ReferenceOptions(verbose=2, check_model=False)"

    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.format(verbose=7, extra="check_modle = false"))
    done = venv.run("-m", "autovoice", "config", "check", str(bad), check=False)
    assert done.returncode == 1, done
    assert "$.inference.options.verbose: must be between 0 and 4, got 7" in done.stderr
    assert "$.inference.options.check_modle" in done.stderr
    assert "check_model" in done.stderr  # the suggestion

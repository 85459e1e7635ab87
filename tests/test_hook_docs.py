"""The plugin documentation keeps up with the code.

Every hookspec has a real docstring and a section in docs/plugins.md, and that section names
no hook that is gone; the code the tutorial shows is the code of docs/example-plugin; every
built-in plugin entry point names a module that exists under plugins/ and ships in the wheel.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autovoice import hookspecs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PLUGINS_MD = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "docs" / "example-plugin"
REFERENCE_HEADING = "## Hook reference"
HOOK_HEADING = re.compile(r"^### `(?P<name>[A-Za-z_]\w*)`$")
FENCE = re.compile(
    r"^```(?P<lang>[\w-]*)(?:[ \t]+title=\"(?P<title>[^\"]+)\")?[ \t]*\n(?P<body>.*?)^```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


def hook_functions() -> dict[str, Callable[..., Any]]:
    """The functions of autovoice.hookspecs that carry pluggy's hookspec marker."""
    marker = f"{hookspecs.PROJECT}_spec"
    return {
        name: obj
        for name, obj in vars(hookspecs).items()
        if inspect.isfunction(obj) and hasattr(obj, marker)
    }


def reference_section() -> list[str]:
    """The lines of the hook reference: from its heading to the next level-2 heading."""
    lines = PLUGINS_MD.read_text(encoding="utf-8").splitlines()
    assert REFERENCE_HEADING in lines, f"{PLUGINS_MD} has no {REFERENCE_HEADING!r} section"
    start = lines.index(REFERENCE_HEADING) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return _outside_fences(lines[start:end])


def _outside_fences(lines: list[str]) -> list[str]:
    """``lines`` with fenced code blocks blanked, so that a ``# comment`` is not a heading."""
    kept, fenced = [], False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
            kept.append("")
        else:
            kept.append("" if fenced else line)
    return kept


def documented_hooks() -> dict[str, str]:
    """Hook name -> the markdown of its subsection in the hook reference (fences included)."""
    text = PLUGINS_MD.read_text(encoding="utf-8")
    section = text[text.index(REFERENCE_HEADING) :]
    following = re.search(r"^## ", section[len(REFERENCE_HEADING) :], re.MULTILINE)
    if following:
        section = section[: len(REFERENCE_HEADING) + following.start()]
    parts = re.split(r"^### `([^`]+)`[ \t]*$", section, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_hookspecs_are_found() -> None:
    hooks = hook_functions()
    assert "autovoice_backends" in hooks  # the finder itself works
    assert all(name.startswith("autovoice_") for name in hooks), sorted(hooks)


@pytest.mark.parametrize("name", sorted(hook_functions()))
def test_hookspec_has_a_real_docstring(name: str) -> None:
    doc = inspect.getdoc(hook_functions()[name]) or ""
    words = doc.split()
    assert len(words) >= 20, f"{name}: the docstring is the hook's contract; say what it is"
    assert "." in doc, f"{name}: the docstring should be sentences"


def test_every_hook_has_a_section_in_the_hook_reference() -> None:
    headings = [m["name"] for line in reference_section() if (m := HOOK_HEADING.match(line))]
    missing = sorted(set(hook_functions()) - set(headings))
    assert not missing, f"docs/plugins.md lacks '### `NAME`' sections for {missing}"


def test_the_hook_reference_names_only_real_hooks() -> None:
    hooks = set(hook_functions())
    for line in reference_section():
        if not line.startswith("### "):
            continue
        match = HOOK_HEADING.match(line)
        assert match, f"hook reference heading must be exactly '### `NAME`': {line!r}"
        assert match["name"] in hooks, f"docs/plugins.md documents {match['name']}: no such hook"
    headings = [line for line in reference_section() if line.startswith("### ")]
    assert len(headings) == len(set(headings)), "a hook is documented twice"


@pytest.mark.parametrize("name", sorted(hook_functions()))
def test_each_hook_section_explains_and_shows(name: str) -> None:
    body = documented_hooks().get(name)
    assert body is not None, f"no section for {name}"
    prose = FENCE.sub("", body)
    assert len(prose.split()) >= 40, f"the section of {name} says too little"
    examples = [m for m in FENCE.finditer(body) if m["lang"] == "python"]
    assert examples, f"the section of {name} has no python example"
    assert any(f"def {name}(" in m["body"] for m in examples), (
        f"the example of {name} should implement it"
    )


def _fences() -> list[re.Match[str]]:
    return list(FENCE.finditer(PLUGINS_MD.read_text(encoding="utf-8")))


def test_code_blocks_parse() -> None:
    checked = 0
    for block in _fences():
        lang, body = block["lang"], block["body"]
        if lang == "python":
            if block["title"]:  # an excerpt; may be indented code from inside a class
                body = "class _Excerpt:\n" + "".join(f"    {line}\n" for line in body.splitlines())
            ast.parse(body)
        elif lang == "toml":
            tomllib.loads(body)
        elif lang == "json":
            json.loads(body)
        else:
            continue
        checked += 1
    assert checked >= 10


def test_tutorial_code_is_the_example_plugins_code() -> None:
    titled = [block for block in _fences() if block["title"]]
    assert {block["title"] for block in titled} >= {
        "pyproject.toml",
        "src/autovoice_onnx_reference/__init__.py",
        "src/autovoice_onnx_reference/options.py",
        "src/autovoice_onnx_reference/backend.py",
    }
    for block in titled:
        path = EXAMPLE / block["title"]
        assert path.is_file(), f"docs/plugins.md shows {block['title']}, which does not exist"
        source = path.read_text(encoding="utf-8")
        assert block["body"] in source, (
            f"the block titled {block['title']} in docs/plugins.md is not a verbatim excerpt "
            f"of {path.relative_to(ROOT)}; copy the current code into the tutorial"
        )


def _pyproject(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def test_example_plugin_entry_point_names_its_package() -> None:
    project = _pyproject(EXAMPLE / "pyproject.toml")
    assert project["project"]["entry-points"]["autovoice"] == {
        "onnx_reference": "autovoice_onnx_reference"
    }
    assert _module_file(EXAMPLE / "src", "autovoice_onnx_reference") is not None


BUILTIN_ENTRY_POINTS = sorted(
    _pyproject(ROOT / "pyproject.toml")["project"]["entry-points"]["autovoice"].items()
)


def test_there_are_builtin_plugins() -> None:
    assert BUILTIN_ENTRY_POINTS


@pytest.mark.parametrize(("name", "value"), BUILTIN_ENTRY_POINTS)
def test_builtin_entry_point_is_a_module_under_plugins(name: str, value: str) -> None:
    module = value.partition(":")[0].strip()
    assert ":" not in value, f"entry point {name} = {value!r}: autovoice expects a module"
    assert _module_file(ROOT / "plugins", module) is not None, (
        f"entry point {name} = {value!r}: no module {module} under plugins/"
    )
    wheel = _pyproject(ROOT / "pyproject.toml")["tool"]["hatch"]["build"]["targets"]["wheel"]
    top = module.split(".")[0]
    assert f"plugins/{top}" in wheel["packages"], (
        f"entry point {name}: plugins/{top} is not in the wheel's packages"
    )
    loaded = importlib.import_module(module)
    impls = [attr for attr in vars(loaded).values() if hasattr(attr, f"{hookspecs.PROJECT}_impl")]
    assert impls, f"{module} implements no autovoice hook"

"""The layering rules of the design, read from the source with ``ast``: the core never imports
a built-in plugin (the registry is its only door to them), training never imports export, and
no two core modules import each other at module level."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "autovoice"


def plugin_packages(root: Path = ROOT) -> set[str]:
    """The built-in plugins' top-level packages: pyproject's ``autovoice`` entry points."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    entries = project["project"]["entry-points"]["autovoice"]
    return {value.split(":")[0].split(".")[0] for value in entries.values()}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module an ``from X import ...`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[ast.stmt, str]]:
    """Every import statement of ``tree`` (at any depth) and each module it names; ``from X
    import name`` also names ``X.name``, which is a module when ``name`` is a submodule."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            yield node, source
            for alias in node.names:
                yield node, f"{source}.{alias.name}"


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def rule_violations(files: list[Path], plugins: set[str], root: Path = ROOT) -> list[str]:
    """Imports of a plugin package anywhere in the core, and of ``autovoice.export`` from
    ``autovoice/training/``, top-level or inside functions: one line per import statement."""
    found: dict[tuple[str, int], str] = {}
    for path in files:
        module = module_name(path, root)
        in_training = module.startswith("autovoice.training")
        for node, name in imports(_parse(path), module, path.name == "__init__.py"):
            key = (str(path.relative_to(root)), node.lineno)
            if name.split(".")[0] in plugins:
                found.setdefault(key, f"imports the plugin package {name}")
            elif in_training and (
                name == "autovoice.export" or name.startswith("autovoice.export.")
            ):
                found.setdefault(key, f"imports {name} from training")
    return [f"{file}:{line} {what}" for (file, line), what in sorted(found.items())]


def _top_level(tree: ast.Module) -> Iterator[ast.stmt]:
    """The statements that run when the module is imported: its body, into ``if``/``try``
    blocks, but not ``if TYPE_CHECKING:`` blocks, functions or classes' methods."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If):
            test = node.test
            checking = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
            )
            stack.extend(node.orelse if checking else [*node.body, *node.orelse])
        elif isinstance(node, ast.Try):
            stack.extend([*node.body, *node.orelse, *node.finalbody])
            for handler in node.handlers:
                stack.extend(handler.body)
        elif isinstance(node, ast.ClassDef):
            stack.extend(n for n in node.body if not isinstance(n, ast.FunctionDef))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node


def import_graph(files: list[Path], root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the core modules it imports at module level. Importing ``a.b.c`` also runs
    ``a`` and ``a.b``, so an import names each package on its way."""
    known = {module_name(path, root): path for path in files}
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in _top_level(_parse(path)):
            module_tree = ast.Module(body=[node], type_ignores=[])
            for _, name in imports(module_tree, module, package):
                parts = name.split(".")
                for i in range(1, len(parts) + 1):
                    target = ".".join(parts[:i])
                    if target in known and target != module:
                        edges.add(target)
        # a package's own parents run first anyway: they are not a cycle through this module
        graph[module] = {t for t in edges if not module.startswith(t + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (its modules in order, the first repeated at the end)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_plugin_packages_are_read_from_pyproject() -> None:
    assert plugin_packages() == {
        "autovoice_datasets",
        "autovoice_models",
        "autovoice_onnxruntime",
        "autovoice_stores",
        "autovoice_tensorrt",
        "autovoice_torch",
    }


def test_the_core_imports_no_plugin_and_training_no_export() -> None:
    """Built-in plugins are reached through the registry exactly like a third party's (and so
    obey ``AUTOVOICE_PLUGINS``); training, which export builds on, never imports export."""
    assert rule_violations(core_files(), plugin_packages()) == []


def test_core_modules_import_each_other_without_a_cycle() -> None:
    """No cycle among the imports that run when a module is imported. Imports inside functions
    (lazy ones, run on first call) and under ``if TYPE_CHECKING:`` are left out: they cannot
    leave a module half-initialized at import time."""
    assert find_cycle(import_graph(core_files())) is None


# -- the checks themselves catch what they are for ---------------------------------------------


def _plant(tmp_path: Path, relative: str, text: str) -> Path:
    """A copy of a core module with ``text`` added, at its real place under a fake root."""
    target = tmp_path / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text((ROOT / relative).read_text(encoding="utf-8") + text, encoding="utf-8")
    return target


@pytest.mark.parametrize(
    "text",
    [
        "\nimport autovoice_torch.backend\n",
        "\ndef f():\n    from autovoice_datasets import voice\n",
        "\ndef g():\n    from autovoice.export.bundle_writer import load_stage\n",
        "\nfrom autovoice import export\n",
    ],
)
def test_a_planted_import_is_reported(tmp_path: Path, text: str) -> None:
    planted = _plant(tmp_path, "autovoice/training/stages.py", text)
    found = rule_violations([planted], plugin_packages(), root=tmp_path)
    assert len(found) == 1 and found[0].startswith("autovoice/training/stages.py:")


def test_a_planted_cycle_is_reported(tmp_path: Path) -> None:
    files = [
        _plant(tmp_path, "autovoice/errors.py", "\nfrom autovoice import signature\n"),
        _plant(tmp_path, "autovoice/signature.py", ""),
    ]
    cycle = find_cycle(import_graph(files, root=tmp_path))
    assert cycle is not None and set(cycle) == {"autovoice.errors", "autovoice.signature"}

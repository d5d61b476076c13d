"""No import cycles inside a package: its modules import in one direction only.

The graph is built statically from the source (ast), so it sees every `import` and `from ... import`
wherever it stands: at module level, inside functions and under `if TYPE_CHECKING:`. Relative imports
are resolved, and `from pkg import module` counts as importing that module. Any cycle fails the test,
named module by module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["host", "rig"]
"""Packages checked (each a directory under the project root); add one once its cycles are gone."""


def module_files(package: str, root: Path = ROOT) -> dict[str, Path]:
    """Every module of `package` by dotted name (a package by its own name, from its __init__.py)."""
    base = root / package
    modules: dict[str, Path] = {}
    for path in sorted(base.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_names(module: str, path: Path) -> set[str]:
    """Dotted names `module` imports: `import a.b` -> a.b, `from a import b` -> a and a.b (the
    caller keeps those that are modules), relative imports resolved against the module's package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                keep = len(parts) - (node.level - 1)
                if keep <= 0:
                    raise ValueError(f"{path}: relative import beyond the top-level package")
                anchor = ".".join(parts[:keep])
                base = f"{anchor}.{node.module}" if node.module else anchor
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def import_graph(package: str, root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (importing a.b.c also imports a and a.b)."""
    modules = module_files(package, root)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        for name in imported_names(module, path):
            parts = name.split(".")
            for end in range(1, len(parts) + 1):
                prefix = ".".join(parts[:end])
                if prefix in modules:
                    targets.add(prefix)
        targets.discard(module)
        # A module's own parent packages are imported before it runs: no edge back to them.
        graph[module] = {t for t in targets if not module.startswith(t + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, deterministic order)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_package_has_no_import_cycles(package: str) -> None:
    graph = import_graph(package)
    assert graph, f"no modules found for package {package!r} under {ROOT}"
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle in {package}: {' -> '.join(cycle or [])}"


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The checker itself: relative, function-level and `from pkg import module` imports are edges."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import leaf\n")
    (pkg / "sub" / "leaf.py").write_text("def f():\n    from ..top import x\n")
    (pkg / "top.py").write_text("from pkg.sub import leaf\nimport pkg.other\n")
    (pkg / "other.py").write_text("")
    graph = import_graph("pkg", tmp_path)
    assert graph == {"pkg": set(), "pkg.sub": {"pkg.sub.leaf"}, "pkg.sub.leaf": {"pkg.top"},
                     "pkg.top": {"pkg.sub", "pkg.sub.leaf", "pkg.other"}, "pkg.other": set()}
    assert find_cycle(graph) == ["pkg.sub", "pkg.sub.leaf", "pkg.top", "pkg.sub"]
    (pkg / "sub" / "leaf.py").write_text("")
    assert find_cycle(import_graph("pkg", tmp_path)) is None

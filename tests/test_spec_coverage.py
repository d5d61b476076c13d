"""Spec coverage: every point of the kernel-streaming reference is checked by tests carrying its
`spec(point)` marker, and every host.mxf / host.avstream test whose docstring cites a point carries
that point's marker (so `pytest -m spec` selects what the reference says).

The points come from the reference (`../shared/reference/kernel-streaming.md`, its `### A1.`
headings) when it sits beside the checkout, and always include `POINTS`, the list checked in here
(CI has no ../shared); a point the reference gains therefore fails here until a test carries it.
Markers are read from the source with `ast`, so the result does not depend on which tests a run
selects.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
REFERENCE = ROOT.parent / "shared" / "reference" / "kernel-streaming.md"
POINTS = ("A1", "A2", "A3", "B1", "B2", "B3", "B4")
"""The reference's points (Part A: DirectMusic port driver; Part B: AVStream)."""
CITED_DIRS = ("host_mxf", "host_avstream")
"""Test directories whose docstrings cite reference points ("A2: ...", "A1/A3 [UNVERIFIED]: ...")."""
CITATION = re.compile(r"^((?:[AB]\d)(?:\s*(?:/|,|and)\s*[AB]\d)*)\b")
HEADING = re.compile(r"^### ([A-Z]\d+)\.", re.MULTILINE)


def reference_points(reference: Path = REFERENCE) -> tuple[str, ...]:
    """POINTS, plus every `### X9.` heading of the reference when it is there."""
    found = HEADING.findall(reference.read_text(encoding="utf-8")) if reference.is_file() else []
    return tuple(sorted(set(POINTS) | set(found)))


def _spec_args(node: ast.expr) -> list[str] | None:
    """The points of a `pytest.mark.spec(...)` expression (also `...(...)(target)`), else None."""
    while isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "spec":
            return [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        node = func
    return None


def _marks(value: ast.expr) -> list[str]:
    """Points marked by a decorator or a `pytestmark` value (a mark or a list of marks)."""
    items = value.elts if isinstance(value, (ast.List, ast.Tuple)) else [value]
    points: list[str] = []
    for item in items:
        points += _spec_args(item) or []
    return points


def spec_index(paths: Iterable[Path]) -> dict[str, list[str]]:
    """point -> the tests (`file::name`) whose markers name it, read from the sources."""
    index: dict[str, list[str]] = {}
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module: list[str] = []
        tests: list[tuple[str, list[str]]] = []
        for node in tree.body:
            if isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if "pytestmark" in names:
                    module += _marks(node.value)
                elif any(n.startswith(("test_", "Test")) for n in names):
                    tests.append((names[0], _marks(node.value)))
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) \
                    and node.name.startswith(("test_", "Test")):
                tests.append((node.name, [p for d in node.decorator_list for p in _marks(d)]))
        for name, points in tests:
            for point in set(points) | set(module):
                index.setdefault(point, []).append(f"{path.relative_to(path.parents[1])}::{name}")
    return index


def missing_markers(path: Path) -> list[str]:
    """Tests in `path` whose docstring cites points their markers (or the module's) do not name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module = [p for n in tree.body if isinstance(n, ast.Assign)
              and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets)
              for p in _marks(n.value)]
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
            continue
        cited = CITATION.match(ast.get_docstring(node) or "")
        if cited is None:
            continue
        marked = set(module) | {p for d in node.decorator_list for p in _marks(d)}
        lacking = sorted(set(re.findall(r"[AB]\d", cited.group(1))) - marked)
        if lacking:
            out.append(f"{path.name}::{node.name} cites {', '.join(lacking)} without the marker")
    return out


def test_every_reference_point_has_marked_tests() -> None:
    """Each point of the reference names at least one test; markers name only known points."""
    points = reference_points()
    index = spec_index(sorted(TESTS.rglob("test_*.py")))
    uncovered = [p for p in points if not index.get(p)]
    assert not uncovered, f"spec points with no test carrying spec(point): {uncovered}"
    unknown = sorted(set(index) - set(points))
    assert not unknown, f"spec markers naming no point of the reference: {unknown} ({index[unknown[0]][:3]})"


def test_tests_that_cite_a_point_carry_its_marker() -> None:
    """A host.mxf / host.avstream test whose docstring starts with a point carries its marker."""
    problems = [m for d in CITED_DIRS for path in sorted((TESTS / d).glob("test_*.py"))
                for m in missing_markers(path)]
    assert not problems, "\n".join(problems)


def test_the_coverage_check_fails_for_an_uncovered_point(tmp_path: Path) -> None:
    """The check above is seen to fail: a reference with a point no test marks is reported, and a
    docstring citation without its marker is caught."""
    reference = tmp_path / "kernel-streaming.md"
    reference.write_text("### A1. one\n### C7. a new point\n", encoding="utf-8")
    assert "C7" in reference_points(reference)
    tests = tmp_path / "t" / "test_x.py"
    tests.parent.mkdir()
    tests.write_text(
        'import pytest\n'
        'pytestmark = pytest.mark.spec("A1")\n'
        '@pytest.mark.spec("A2", "A3")\n'
        'def test_a() -> None:\n    """A2/A3: marked."""\n'
        'def test_b() -> None:\n    """A1/B4: B4 is not marked."""\n'
        'TestMachine = pytest.mark.spec("B1")(object)\n', encoding="utf-8")
    index = spec_index([tests])
    assert sorted(index) == ["A1", "A2", "A3", "B1"] and "C7" not in index
    assert index["A1"] == ["t/test_x.py::test_a", "t/test_x.py::test_b", "t/test_x.py::TestMachine"]
    assert missing_markers(tests) == ["test_x.py::test_b cites B4 without the marker"]


"""The README's fixture table and `pytest --fixtures` / `--markers` list the same names, and every
example in the table runs (on the loopback), so the documentation cannot drift from the plugin."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import run_plugin

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(\w+)(?:\([^`]*\))?`( marker)? \| (.+) \| (.+) \|$")


def readme_rows() -> dict[str, tuple[bool, str]]:
    """name -> (is a marker, example) from the table under "### Writing a device test"."""
    section = README.read_text().split("### Writing a device test", 1)[1]
    section = section.split("\n## ", 1)[0].split("\n### ", 1)[0]
    rows: dict[str, tuple[bool, str]] = {}
    for line in section.splitlines():
        found = ROW.match(line)
        if found:
            rows[found[1]] = (bool(found[2]), found[4].strip().strip("`"))
    return rows


def plugin_fixtures(tester: pytest.Pytester) -> set[str]:
    out = run_plugin(tester, "--fixtures").stdout.lines
    names: set[str] = set()
    for line in out:
        found = re.match(r"^(\w+)( \[\w+ scope\])? -- .*rig/pytest_plugin/", line)
        if found and not found[1].startswith("_"):
            names.add(found[1])
    return names


def plugin_markers(tester: pytest.Pytester) -> set[str]:
    def markers(*args: str) -> set[str]:
        lines = tester.runpytest("-p", "no:cacheprovider", "-p", "no:labgrid", *args,
                                 "--markers").stdout.lines
        return {m[1] for line in lines if (m := re.match(r"^@pytest\.mark\.(\w+)", line))}
    return markers("-p", "rig.pytest_plugin") - markers("-p", "no:rig.pytest_plugin")


def test_readme_and_pytest_list_the_same_fixtures_and_markers(tester: pytest.Pytester) -> None:
    rows = readme_rows()
    assert {name for name, (marker, _) in rows.items() if not marker} == plugin_fixtures(tester)
    assert {name for name, (marker, _) in rows.items() if marker} == plugin_markers(tester)


def test_every_readme_example_runs(tester: pytest.Pytester) -> None:
    tests = ["import pytest", ""]
    for name, (marker, example) in readme_rows().items():
        if marker:
            tests += [example, f"def test_{name}(rig_target):", "    pass", ""]
        else:
            tests += [f"def test_{name}({name}):", f"    {example}", ""]
    tester.makepyfile(test_examples="\n".join(tests))
    result = run_plugin(tester, "--rig=loopback", "-p", "no:randomly")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == outcomes.get("errors", 0) == 0, result.stdout.str()[-3000:]
    assert outcomes["passed"] >= len(readme_rows()) - 1  # `hardware` skips without a board


def test_readme_example_is_the_tested_example_file() -> None:
    """The README's device-test example is tests/examples/test_device_maker.py's code, which CI runs."""
    section = README.read_text().split("### Writing a device test", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    example = (README.parent / "tests" / "examples" / "test_device_maker.py").read_text()
    example = re.sub(r": Any\) -> None:", "):", example)  # the README leaves type hints out
    for block in snippet.split("\n\n"):
        body = "\n".join(line for line in block.splitlines() if not line.startswith("import "))
        assert body.strip() in example

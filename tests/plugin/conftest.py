"""Shared by the plugin tests: a pytester outside CI's strict mode, and one way to run pytest in it
with the rig plugin loaded."""

from __future__ import annotations

import pytest


@pytest.fixture
def tester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester with CI unset, so the inner run's strict mode is what the test asks for."""
    monkeypatch.delenv("CI", raising=False)
    return pytester


def run_plugin(tester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An in-process pytest run with the rig plugin and `args`."""
    # hypothesis' plugin re-imports hypothesis in every in-process run (seconds each): leave it out
    # labgrid's own plugin (the labgrid extra) cannot configure twice in one process: leave it out too
    return tester.runpytest("-p", "rig.pytest_plugin", "-p", "no:cacheprovider", "-p", "no:labgrid",
                            "-p", "no:hypothesispytest",
                            "-p", "no:randomly", *args)


def run_expecting(tester: pytest.Pytester, *args: str, lines: list[str], **outcomes: int) -> pytest.RunResult:
    """`run_plugin` with `args`, asserting the outcome counts and that the output has `lines` (fnmatch
    patterns, in order)."""
    result = run_plugin(tester, *args)
    result.assert_outcomes(**outcomes)
    result.stdout.fnmatch_lines(lines)
    return result

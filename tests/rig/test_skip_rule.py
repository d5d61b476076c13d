"""rig.pytest_plugin.testing's rule, run with pytester: a missing requirement (here jackd, with a PATH
without it) fails under CI=true and skips with the reason elsewhere, in a test and at module level."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TEST = """
from rig.os_midi.jack import jackd_installed
from rig.pytest_plugin.testing import require, require_program

def test_needs_jackd():
    require(jackd_installed(), "jackd is not installed")

def test_needs_program():
    require_program("jackd", "apt-get install jackd2")
"""
MODULE_LEVEL = """
from rig.pytest_plugin.testing import require_module

require_module("no_such_module_xyz", "pip install it")

def test_never_runs():
    raise AssertionError("unreachable")
"""


@pytest.fixture
def no_jackd(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makepyfile(test_jack=TEST, test_module=MODULE_LEVEL)
    monkeypatch.setenv("PATH", str(pytester.path))  # no jackd here
    return pytester


@pytest.mark.parametrize("ci", ["true", "1", "YES"])
def test_missing_requirements_fail_in_ci(no_jackd: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                         ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    result = no_jackd.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:labgrid", "test_jack.py")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*jackd is not installed (CI=true: CI must provide this*",
                                 "*jackd is not installed (apt-get install jackd2) (CI=true*"])
    result = no_jackd.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:labgrid", "test_module.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no_such_module_xyz cannot be imported*(CI=true*"])


def test_missing_requirements_skip_elsewhere(no_jackd: pytest.Pytester,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "false")
    result = no_jackd.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:labgrid", "-rs")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*no_such_module_xyz cannot be imported*", "*jackd is not installed*"])


def test_in_ci_reads_the_ci_variable() -> None:
    from rig.pytest_plugin.testing import in_ci

    assert in_ci({"CI": " True "}) and in_ci({"CI": "1"}) and in_ci({"CI": "yes"})
    assert not in_ci({}) and not in_ci({"CI": "false"}) and not in_ci({"CI": "0"})

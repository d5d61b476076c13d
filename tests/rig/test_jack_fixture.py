"""The JACK session fixture's rule: without jackd, CI (CI=true) fails and elsewhere the tests skip
with the reason. Run with pytester on a copy of tests/rig/conftest.py and a PATH without jackd."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()
TEST = """
def test_needs_jack(jack_server):
    pass
"""


@pytest.fixture
def no_jackd(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_jack=TEST)
    monkeypatch.setenv("PATH", str(pytester.path))  # no jackd here
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "rig-no-such-server")  # and no running server
    return pytester


def test_missing_jackd_fails_in_ci(no_jackd: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = no_jackd.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*CI must run the JACK tests*jackd not found*"])


def test_missing_jackd_skips_elsewhere(no_jackd: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    result = no_jackd.runpytest_inprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no JACK*jackd not found*"])

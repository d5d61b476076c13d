"""The plugin's USB capture options on the loopback: --rig-capture keeps failing tests' captures only
(linked from report.md), --rig-capture-all keeps every one, --rig-capture-file records the session
with a comment naming each test; without them nothing is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.pytest_plugin.capture import file_name

from .conftest import run_plugin

pytest_plugins = ["pytester"]

TESTS = """
    from rig.links.recording_backend import RecordingBackend

    def test_passes(board):
        assert isinstance(board.device._ctx.backend, RecordingBackend) == RECORDING
        board.info()

    def test_fails(board):
        board.info()
        assert False, "on purpose"

    def test_without_target():
        pass
"""


def _tests(tester: pytest.Pytester, recording: bool) -> None:
    tester.makepyfile(test_x=TESTS.replace("RECORDING", str(recording)))


def test_failing_tests_keep_their_capture_linked_from_the_report(tester: pytest.Pytester) -> None:
    _tests(tester, recording=True)
    captures, report = tester.path / "caps", tester.path / "rep"
    run_plugin(tester, "--rig=loopback", f"--rig-capture={captures}", f"--rig-report={report}",
               "--junitxml=x.xml").assert_outcomes(passed=2, failed=1)
    kept = sorted(p.name for p in captures.iterdir())
    assert kept == [file_name("test_x.py::test_fails[loopback]")]
    assert (captures / kept[0]).stat().st_size > 1000
    text = (report / "report.md").read_text()
    assert "## USB captures of failing tests" in text
    assert f"[{kept[0]}](../caps/{kept[0]})" in text
    assert (report / Path(f"../caps/{kept[0]}")).is_file()


def test_capture_all_keeps_every_target_test(tester: pytest.Pytester) -> None:
    _tests(tester, recording=True)
    captures = tester.path / "caps"
    run_plugin(tester, "--rig=loopback", f"--rig-capture={captures}", "--rig-capture-all"
               ).assert_outcomes(passed=2, failed=1)
    assert sorted(p.name for p in captures.iterdir()) == sorted(
        file_name(f"test_x.py::{name}[loopback]") for name in ("test_passes", "test_fails"))


def test_session_file_names_each_test(tester: pytest.Pytester) -> None:
    _tests(tester, recording=True)
    session = tester.path / "session.pcapng"
    run_plugin(tester, "--rig=loopback", f"--rig-capture-file={session}").assert_outcomes(passed=2, failed=1)
    data = session.read_bytes()
    for name in ("test_passes", "test_fails"):
        assert f"test test_x.py::{name}[loopback]".encode() in data
    assert b"test_without_target" not in data


def test_no_option_records_nothing(tester: pytest.Pytester) -> None:
    _tests(tester, recording=False)
    run_plugin(tester, "--rig=loopback").assert_outcomes(passed=2, failed=1)
    assert not list(tester.path.glob("**/*.pcapng"))

"""A crash under the rig plugin shows a stack: in a subprocess a test starts, in the test process
itself even with pytest's faulthandler plugin off, and while the process winds down after the
session (where native threads of rtmidi and JACK end). Each run is a real pytest subprocess that
really crashes (SIGSEGV from reading address 0)."""

from __future__ import annotations

import signal

import pytest

CRASH = "import ctypes; ctypes.string_at(0)"
pytest_plugins = ["pytester"]
BASE = ("-p", "rig.pytest_plugin", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
        "-p", "no:randomly")


def crashed(result: pytest.RunResult) -> str:
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == -signal.SIGSEGV or "Segmentation fault" in text, text
    return text


def test_a_subprocess_of_a_test_dumps_its_stack(tester: pytest.Pytester,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    tester.makepyfile(test_x=f"""
        import subprocess, sys

        def test_child_crashes():
            child = subprocess.run([sys.executable, "-c", "def crash_here():\\n {CRASH}\\ncrash_here()"],
                                   capture_output=True, text=True)
            assert child.returncode != 0
            assert "Fatal Python error: Segmentation fault" in child.stderr
            assert "crash_here" in child.stderr, child.stderr
    """)
    monkeypatch.delenv("PYTHONFAULTHANDLER", raising=False)
    tester.runpytest_subprocess(*BASE).assert_outcomes(passed=1)


def test_the_test_process_dumps_its_stack_without_pytests_faulthandler(
        tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    tester.makepyfile(test_x=f"""
        def test_crash_in_the_test():
            {CRASH}
    """)
    monkeypatch.delenv("PYTHONFAULTHANDLER", raising=False)
    text = crashed(tester.runpytest_subprocess(*BASE, "-p", "no:faulthandler"))
    assert "Fatal Python error: Segmentation fault" in text and "test_crash_in_the_test" in text


def test_a_crash_after_the_session_dumps_its_stack(tester: pytest.Pytester,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    tester.makeconftest(f"""
        import atexit

        def crash_at_exit():
            {CRASH}

        atexit.register(crash_at_exit)
    """)
    tester.makepyfile(test_x="def test_fine():\n    pass\n")
    monkeypatch.delenv("PYTHONFAULTHANDLER", raising=False)
    text = crashed(tester.runpytest_subprocess(*BASE))
    assert "Fatal Python error: Segmentation fault" in text and "crash_at_exit" in text


def test_a_crash_after_a_nested_session_still_dumps_its_stack(tester: pytest.Pytester,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`rig test` and `rig run` run pytest in-process; when such a nested session ends, pytest's own
    faulthandler plugin re-enables faulthandler on the descriptor it saw as stderr, which is the outer
    session's capture file, so a later crash's stack went where nobody reads it (#9: a CI run died
    of SIGSEGV with no stack). The rig's plugin points faulthandler back at the real stderr."""
    tester.makepyfile(test_x=f"""
        import pytest

        def test_nested_session(tmp_path):
            (tmp_path / "test_inner.py").write_text("def test_inner():\\n    pass\\n")
            assert pytest.main([str(tmp_path), "-q", "-p", "no:cacheprovider", "-p", "no:labgrid"]) == 0

        def test_crash_later():
            {CRASH}
    """)
    monkeypatch.delenv("PYTHONFAULTHANDLER", raising=False)
    text = crashed(tester.runpytest_subprocess(*BASE))
    assert "Fatal Python error: Segmentation fault" in text and "test_crash_later" in text, text


def test_a_crash_inside_a_nested_session_dumps_its_stack(tester: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """While a nested session runs, pytest's faulthandler plugin has faulthandler write to the stderr
    that session sees: the outer test's capture file (a CI run's in-process `rig test` died of
    SIGSEGV with no stack). The rig's plugin points it at the real stderr at every session's start."""
    tester.makepyfile(test_x=f"""
        import pytest

        def test_nested_session_crashes(tmp_path):
            (tmp_path / "test_inner.py").write_text("def test_inner_crash():\\n    {CRASH}\\n")
            pytest.main([str(tmp_path), "-q", "-p", "no:cacheprovider", "-p", "no:labgrid",
                         "-p", "rig.pytest_plugin"])
    """)
    monkeypatch.delenv("PYTHONFAULTHANDLER", raising=False)
    text = crashed(tester.runpytest_subprocess(*BASE))
    assert "Fatal Python error: Segmentation fault" in text and "test_inner_crash" in text, text

"""rig.os_midi.quiet: fd 2 is captured around rtmidi/JACK probes and shown only when the probe fails."""

from __future__ import annotations

import os

import pytest

from rig.os_midi.quiet import captured_stderr, quietly


def test_captured_stderr_catches_what_c_code_writes_to_fd_2(capfd: pytest.CaptureFixture[str]) -> None:
    with captured_stderr() as text:
        os.write(2, b"Cannot connect to server socket\n")
    assert text() == "Cannot connect to server socket\n"
    assert capfd.readouterr().err == ""


def test_quietly_drops_the_noise_of_a_probe_that_works(capfd: pytest.CaptureFixture[str]) -> None:
    def probe() -> int:
        os.write(2, b"jack server is not running\n")
        return 7

    assert quietly(probe) == 7
    assert capfd.readouterr().err == ""


def test_quietly_shows_the_noise_when_the_probe_fails(capfd: pytest.CaptureFixture[str]) -> None:
    def probe() -> int:
        os.write(2, b"Cannot connect to server socket\n")
        raise RuntimeError("no server")

    with pytest.raises(RuntimeError, match="no server"):
        quietly(probe)
    assert capfd.readouterr().err == "Cannot connect to server socket\n"


def test_a_quiet_call_inside_another_does_not_deadlock(capfd: pytest.CaptureFixture[str]) -> None:
    def inner() -> str:
        os.write(2, b"inner noise\n")
        return "ok"

    def outer() -> str:
        os.write(2, b"outer noise\n")
        return quietly(inner)

    assert quietly(outer) == "ok"
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"

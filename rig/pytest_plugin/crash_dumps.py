"""A crash in a rig test session always leaves a stack: faulthandler on for the whole session, for
the rig processes tests start, and for interpreter shutdown.

pytest's faulthandler plugin dumps the Python stacks on SIGSEGV, but only between pytest_configure
and pytest_unconfigure (it disables faulthandler there), not at all under `-p no:faulthandler`, and
not in subprocesses. The rig's native parts (python-rtmidi, libjack, libusb) run threads that live
until the interpreter exits, so a crash seen once under load (tests/conformance/test_midi_os.py, issue
#9) left no trace. Here: PYTHONFAULTHANDLER=1 for child processes, faulthandler enabled if the
plugin is off, and enabled again on a duplicate of stderr after pytest has disabled it.

A nested session (`rig test` and `rig run` run pytest in-process) ends with pytest's plugin enabling
faulthandler on the descriptor it took for stderr inside the outer test: the outer session's capture
file, which nobody reads after a crash (a CI run died of SIGSEGV with no stack). So the real stderr
is duplicated once, at the first session's configure (capture is suspended there), and faulthandler
is pointed at it at the start of every session (pytest's plugin has just pointed it at the capture)
and again at the end."""

from __future__ import annotations

import faulthandler
import os
import sys

import pytest

ENV = "PYTHONFAULTHANDLER"
_real_stderr: list[int] = []
"""The real stderr's duplicate faulthandler writes to (kept open until the process ends)."""


def stderr_fd() -> int:
    """The process's real stderr descriptor (sys.__stderr__, not pytest's capture)."""
    stream = sys.__stderr__
    return stream.fileno() if stream is not None else 2


def enable() -> None:
    """From the plugin's pytest_configure: child processes dump their stacks on a crash; this one
    does even with -p no:faulthandler (with the plugin on, pytest re-enables this one after it)."""
    os.environ.setdefault(ENV, "1")
    if not faulthandler.is_enabled():
        faulthandler.enable(file=real_stderr(), all_threads=True)


def real_stderr() -> int:
    """A duplicate of the stderr the first session saw; later calls (nested sessions, where fd 2 is
    the outer capture) get the same one."""
    if not _real_stderr:
        _real_stderr.append(os.dup(stderr_fd()))
    return _real_stderr[0]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """After pytest's faulthandler plugin has disabled it, or re-enabled it on a capture file: on
    again, on the real stderr, until the process exits, so a crash later in an outer session or while
    native threads wind down at shutdown still shows a stack."""
    faulthandler.enable(file=real_stderr(), all_threads=True)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """After pytest's faulthandler plugin has enabled it (at configure) on the stderr this session
    sees, which inside an outer test is the outer session's capture file: on the real stderr
    instead, so a crash during a nested session shows its stack too."""
    faulthandler.enable(file=real_stderr(), all_threads=True)

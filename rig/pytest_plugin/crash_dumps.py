"""A crash in a rig test session always leaves a stack: faulthandler on for the whole session, for
the rig processes tests start, and for interpreter shutdown.

pytest's faulthandler plugin dumps the Python stacks on SIGSEGV, but only between pytest_configure
and pytest_unconfigure (it disables faulthandler there), not at all under `-p no:faulthandler`, and
not in subprocesses. The rig's native parts (python-rtmidi, libjack, libusb) run threads that live
until the interpreter exits, so a crash seen once under load (tests/conformance/test_midi_os.py, issue
#9) left no trace. Here: PYTHONFAULTHANDLER=1 for child processes, faulthandler enabled if the
plugin is off, and enabled again on a duplicate of stderr after pytest has disabled it."""

from __future__ import annotations

import faulthandler
import os
import sys

import pytest

ENV = "PYTHONFAULTHANDLER"
_shutdown_fd: list[int] = []
"""The stderr duplicate faulthandler writes to after the session (kept open until the process ends)."""


def stderr_fd() -> int:
    """The process's real stderr descriptor (sys.__stderr__, not pytest's capture)."""
    stream = sys.__stderr__
    return stream.fileno() if stream is not None else 2


def enable() -> None:
    """From the plugin's pytest_configure: child processes dump their stacks on a crash; this one
    does even with -p no:faulthandler (with the plugin on, pytest re-enables this one after it)."""
    os.environ.setdefault(ENV, "1")
    if not faulthandler.is_enabled():
        faulthandler.enable(file=os.dup(stderr_fd()), all_threads=True)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """After pytest's faulthandler plugin has disabled it: on again until the process exits, so a
    crash while native threads wind down at shutdown still shows a stack."""
    if not faulthandler.is_enabled():
        if not _shutdown_fd:
            _shutdown_fd.append(os.dup(stderr_fd()))
        faulthandler.enable(file=_shutdown_fd[0], all_threads=True)

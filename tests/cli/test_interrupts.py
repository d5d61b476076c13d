"""Ctrl-C and SIGTERM never land inside an __enter__/__exit__ (rig.interrupts, issue #9): raised
there, they skip the release the __exit__ was to make; a loopback twin's lock left held hung a
SIGTERMed `rig latency` for 180 s in its target's close."""

from __future__ import annotations

import signal
import threading
import time
from types import TracebackType

import pytest

from rig import interrupts
from rig.errors import Terminated

LANDS_WITHIN_S = 30.0
"""How long the block after the with statement gives the postponed signal (it lands in ~5 ms)."""


class _Releases:
    """A lock's context manager whose __exit__ is hit by `sig` (as a signal arriving there would be)
    before it releases."""

    def __init__(self, sig: signal.Signals) -> None:
        self.sig = sig
        self.lock = threading.Lock()

    def __enter__(self) -> None:
        self.lock.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        signal.raise_signal(self.sig)  # its handler runs at this frame's next instruction
        for _ in range(1000):  # Python code in this __exit__ after the signal
            pass
        self.lock.release()


def _after_the_with(guarded: _Releases) -> None:
    with guarded:
        pass
    deadline = time.monotonic() + LANDS_WITHIN_S
    while time.monotonic() < deadline:  # the signal lands here, once __exit__ is done
        time.sleep(0.001)
    raise AssertionError(f"{guarded.sig.name} never landed")


@pytest.mark.parametrize(("sig", "raised"), [(signal.SIGINT, KeyboardInterrupt),
                                             (signal.SIGTERM, Terminated)])
def test_a_signal_inside_exit_lands_after_the_release(sig: signal.Signals,
                                                      raised: type[KeyboardInterrupt]) -> None:
    before = interrupts.postponed
    guarded = _Releases(sig)
    with interrupts.interrupts_outside_cleanup(), pytest.raises(raised) as caught:
        _after_the_with(guarded)
    assert caught.type is raised
    landed = [entry.name for entry in caught.traceback][-2]  # the last is the handler's own frame
    assert landed == "_after_the_with", f"raised in {landed}, not after the with statement"
    assert not guarded.lock.locked()
    assert interrupts.postponed > before


def test_the_previous_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with interrupts.interrupts_outside_cleanup():
        assert signal.getsignal(signal.SIGINT) is not before[0]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before

"""Signals that end a run by an exception (Ctrl-C, SIGTERM), raised in the main thread but never while
an `__enter__` or `__exit__` runs: `handler` makes such a signal handler; `interrupts_outside_cleanup`
installs the `rig` commands' (KeyboardInterrupt, rig.errors.Terminated); rig.os_midi.jack_ports
installs one for SIGTERM in any process that opens a JACK client.

Python raises a signal handler's exception at the next bytecode of whatever the main thread runs. In
a Python-level `__exit__` (threading.Condition's, a @contextmanager's) that is before the release it
was to make: the loopback twin's lock stayed held and the target's close then waited forever for a
reader blocked on it (a SIGTERM test hung 180 s; CPython bpo-29988). A signal that finds such a frame
on the main thread's stack is sent again RETRY_S later, until the main thread has left it: cleanup
finishes, and waits (Event.wait, join, a read) stay interruptible as before."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

from rig.errors import Terminated

RETRY_S = 0.005
"""How soon a signal that arrived inside an __enter__/__exit__ is delivered again."""
_GUARDED = frozenset({"__enter__", "__exit__", "__aenter__", "__aexit__"})
postponed = 0
"""Signals sent again because they arrived inside an __enter__/__exit__ (for tests and diagnosis)."""


def _in_enter_or_exit(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_name in _GUARDED:
            return True
        frame = frame.f_back
    return False


def handler(make: Callable[[int], BaseException]) -> Callable[[int, FrameType | None], None]:
    """A signal handler raising `make(signum)` in the main thread, once it is outside every
    __enter__/__exit__ (until then the signal is sent again every RETRY_S)."""
    def handle(signum: int, frame: FrameType | None) -> None:
        global postponed
        if _in_enter_or_exit(frame):
            postponed += 1
            timer = threading.Timer(RETRY_S, signal.pthread_kill,
                                    (threading.main_thread().ident, signum))
            timer.daemon = True
            timer.start()
            return
        raise make(signum)

    return handle


@contextlib.contextmanager
def interrupts_outside_cleanup() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt and SIGTERM Terminated, outside __enter__/__exit__, while the
    block runs; the handlers before are restored after (main() also runs inside test processes). Main
    thread only: Python runs signal handlers there and nowhere else."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, handler(lambda signum: KeyboardInterrupt()))
    signal.signal(signal.SIGTERM, handler(lambda signum: Terminated(f"signal {signal.Signals(signum).name}")))
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)

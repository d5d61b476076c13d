"""Opening and closing python-rtmidi JACK clients and ports without crashing libjack.

libjack (JACK2's client library, which python-rtmidi bundles) keeps each client's ports in a list that
the caller's thread changes when it registers or unregisters a port, while the client's notification
thread walks the same list, unlocked, whenever the server announces a latency change (after any
connection or port change on the server). A close that unregisters a port during such a walk frees a
list node under it: SIGSEGV in JackClient::HandleLatencyCallback (issue #9; seen in CI and reproduced
in about 1 of 500 open/close rounds under load, the walking thread's stack in gdb).

The server writes every notification a graph change causes before it answers that change's request,
so with all of this process's graph changes made one at a time (`GRAPH_LOCK`) and each new one made
only once every libjack notification thread of the process is idle, blocked reading its socket with
nothing left to read (`wait_for_quiet_notifications`), no walk can overlap a change of the list.
Linux only (it reads /proc/self/task); elsewhere the calls are made without the wait."""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

_T = TypeVar("_T")

GRAPH_LOCK = threading.RLock()
"""Held while this process opens, closes or deletes a JACK client or port."""

QUIET_WAIT_S = 10.0
"""How long to wait for libjack's threads to go idle (a loaded machine delays them); past it the
change is made anyway and counted in `quiet_timeouts`."""

_TASKS = Path("/proc/self/task")
_READS = {0, 45}  # read, recvfrom (x86-64): a notification thread waiting for the server
_libjack_threads: set[int] = set()
"""Native ids of the threads libjack started in this process (their notification threads among them)."""
quiet_timeouts = 0
"""Changes made after QUIET_WAIT_S without the threads going idle (each one a race left open)."""


def _tasks() -> set[int]:
    try:
        return {int(name) for name in os.listdir(_TASKS)}
    except OSError:
        return set()


def _pending(fd: int) -> int:
    """Bytes waiting to be read on `fd` (a socket of this process), 0 when it cannot tell."""
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])
    except OSError:
        return 0


def thread_busy(tid: int) -> bool:
    """True while thread `tid` of this process runs (not blocked in a system call), or is blocked
    reading a descriptor that has data waiting (it is about to run)."""
    try:
        fields = (_TASKS / str(tid) / "syscall").read_text().split()
    except OSError:
        return False  # gone
    if not fields or fields[0] == "running":
        return True
    if fields[0].lstrip("-").isdigit() and int(fields[0]) in _READS and len(fields) > 1:
        return _pending(int(fields[1], 16)) > 0
    return False


def wait_for_quiet_notifications(timeout_s: float = QUIET_WAIT_S) -> bool:
    """Wait until no thread libjack started is busy; False (counted) when `timeout_s` passed first."""
    global quiet_timeouts
    deadline = time.monotonic() + timeout_s
    while True:
        alive = _libjack_threads & _tasks()
        _libjack_threads.intersection_update(alive)
        if not any(thread_busy(tid) for tid in alive):
            return True
        if time.monotonic() > deadline:
            quiet_timeouts += 1
            return False
        time.sleep(0.001)  # polling thread states: the kernel offers no wait on another thread's idling


@contextmanager
def graph_change() -> Iterator[None]:
    """Around a call that registers, unregisters or connects ports, or opens or closes a client."""
    with GRAPH_LOCK:
        if _TASKS.is_dir():
            wait_for_quiet_notifications()
        yield


def open_client(make: Callable[[], _T]) -> _T:
    """`make()` (a python-rtmidi MidiIn/MidiOut), noting the threads libjack starts for it."""
    with graph_change():
        before = _tasks()
        client = make()
        _note_new_threads(before)
        return client


def call(port: Any, method: str, *args: Any) -> Any:
    """`port.method(*args)` for a graph-changing method (open_port, open_virtual_port, close_port)."""
    with graph_change():
        before = _tasks()
        result = getattr(port, method)(*args)
        _note_new_threads(before)
        return result


def close(port: Any) -> None:
    """Close and delete a python-rtmidi port (its JACK client goes with it), each step once libjack's
    threads are idle (the unregistering close announces a latency change the delete must not meet)."""
    try:
        call(port, "close_port")
    finally:
        with graph_change():
            port.delete()


def _note_new_threads(before: set[int]) -> None:
    """Threads started since `before` that Python did not start are libjack's."""
    python_threads = {t.native_id for t in threading.enumerate()}
    _libjack_threads.update(_tasks() - before - python_threads)

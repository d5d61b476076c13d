"""Opening and closing python-rtmidi JACK clients and ports without crashing libjack.

libjack (JACK2's client library, which python-rtmidi bundles) keeps each client's ports in a list that
the caller's thread changes when it registers or unregisters a port, while the client's notification
thread walks the same list, unlocked, whenever the server sends it a latency notice. A port
unregistered during such a walk is unlinked and freed under it: SIGSEGV in
JackClient::HandleLatencyCallback (issue #9; seen in CI and under gdb in about 1 of 20 rounds of the
OS MIDI tests under load, the walking thread's stack in gdb while the main thread unregistered).

Latency notices come from jackd's request thread after it switched to a changed graph, which it does
at the start of a later cycle, not while the change is requested: so a port is unregistered only
after `settle_before_unregister` (rig.os_midi.jack.settle_graph) has seen jackd run every change made
so far and every client answer its notices. With all of this process's graph changes made one at a
time (`GRAPH_LOCK`), no notice can then arrive until the next change, made after the unregistering.
Each change is also made only once every libjack notification thread of the process is idle
(`wait_for_quiet_notifications`), which covers the notices a request sends while it is served.
Linux only (it reads /proc/self/task); elsewhere the calls are made without the wait.

Every client opened here is closed before the process ends, also at exit without a close and on
SIGTERM (`close_all`): a process that ends with a client open stalls a --sync server it shares with
other processes for ten client timeouts (measured 20 s), and the next client anyone opens there waits
that long (issue #9)."""

from __future__ import annotations

import atexit
import fcntl
import os
import signal
import struct
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from rig import interrupts

_T = TypeVar("_T")

GRAPH_LOCK = threading.RLock()
"""Held while this process opens, closes or deletes a JACK client or port."""

QUIET_WAIT_S = 30.0
"""How long to wait for libjack's threads to go idle (a loaded machine delays them); past it the
change is made anyway and counted in `quiet_timeouts`, a race left open. 30 s: more than the longest
a --sync server started here may hold one cycle (ten 2 s client timeouts, rig.os_midi.jack), which
holds the notifications behind it."""

settle_before_unregister: Callable[[Any], object] | None = None
"""Called with GRAPH_LOCK held before a python-rtmidi port is unregistered: for a JACK port, returns
once the server has run every graph change so far and sent its latency notices (set by
rig.os_midi.jack, which owns the probe client this needs, when it is imported)."""

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


_notifiers: set[int] = set()
"""libjack threads seen blocked reading a socket: notification threads (they walk the port list)."""
_process_threads: set[int] = set()
"""libjack threads seen blocked in anything else (a futex: JACK2's process threads, which run every
cycle and never touch the port list): their running does not delay a graph change. (Measured at
load 31 with 16 clients: waits of at most 69 ms counting them, 36 ms not.)"""


MAX_DETAILS = 8
quiet_timeout_details: list[str] = []
"""For the first MAX_DETAILS timeouts: the threads that were still busy (`_describe`), to find out
what keeps a libjack thread busy that long."""


def _describe(tid: int) -> str:
    """'tid 123 notifier [0 0x1b ...] R': role, /proc syscall fields and scheduler state of a thread."""
    role = "notifier" if tid in _notifiers else "process" if tid in _process_threads else "unknown"
    try:
        syscall = " ".join((_TASKS / str(tid) / "syscall").read_text().split()[:3])
        state = (_TASKS / str(tid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return f"tid {tid} gone"
    return f"tid {tid} {role} [{syscall}] {state}"


def _socket(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    except OSError:
        return False


def thread_busy(tid: int) -> bool:
    """True while thread `tid` of this process runs (not blocked in a system call), or is blocked
    reading a descriptor that has data waiting (it is about to run). A thread known as one of
    JACK's process threads is never busy; a thread seen blocked reading a socket is known as a
    notification thread from then on."""
    try:
        fields = (_TASKS / str(tid) / "syscall").read_text().split()
    except OSError:
        return False  # gone
    if not fields or fields[0] == "running":
        return tid not in _process_threads
    if fields[0].lstrip("-").isdigit() and int(fields[0]) in _READS and len(fields) > 1:
        fd = int(fields[1], 16)
        if _socket(fd):
            _notifiers.add(tid)
            _process_threads.discard(tid)
        return _pending(fd) > 0
    if tid not in _notifiers:
        _process_threads.add(tid)
    return False


def wait_for_quiet_notifications(timeout_s: float = QUIET_WAIT_S) -> bool:
    """Wait until no thread libjack started is busy; False (counted) when `timeout_s` passed first."""
    global quiet_timeouts
    deadline = time.monotonic() + timeout_s
    while True:
        alive = _libjack_threads & _tasks()
        _libjack_threads.intersection_update(alive)
        _notifiers.intersection_update(alive)
        _process_threads.intersection_update(alive)
        if not any(thread_busy(tid) for tid in alive):
            return True
        if time.monotonic() > deadline:
            quiet_timeouts += 1
            if len(quiet_timeout_details) < MAX_DETAILS:
                busy = [_describe(tid) for tid in sorted(alive) if thread_busy(tid)]
                quiet_timeout_details.append(", ".join(busy))
            return False
        time.sleep(0.001)  # polling thread states: the kernel offers no wait on another thread's idling


@contextmanager
def graph_change() -> Iterator[None]:
    """Around a call that registers, unregisters or connects ports, or opens or closes a client."""
    with GRAPH_LOCK:
        if _TASKS.is_dir():
            wait_for_quiet_notifications()
        yield


_open_clients: dict[int, tuple[Any, Callable[[], object] | None]] = {}
"""The python-rtmidi clients opened by `open_client` and not yet closed, by id(), with their owners'
closers."""


def open_client(make: Callable[[], _T], closer: Callable[[], object] | None = None) -> _T:
    """`make()` (a python-rtmidi MidiIn/MidiOut), noting the threads libjack starts for it. The client
    is closed at the latest when the process exits, is sent SIGTERM, or stops the JACK server it
    started: by `closer` when given (an owner whose threads use the client stops them first, and may
    leave the client open if they do not stop), else directly."""
    _close_on_sigterm()
    with graph_change():
        before = _tasks()
        client = make()
        _note_new_threads(before)
        _open_clients[id(client)] = (client, closer)
        return client


def call(port: Any, method: str, *args: Any) -> Any:
    """`port.method(*args)` for a graph-changing method (open_port, open_virtual_port, close_port)."""
    with graph_change():
        if method == "close_port" and settle_before_unregister is not None:
            settle_before_unregister(port)
        before = _tasks()
        result = getattr(port, method)(*args)
        _note_new_threads(before)
        return result


def close(port: Any) -> None:
    """Close and delete a python-rtmidi port (its JACK client goes with it), each step once libjack's
    threads are idle (the unregistering close announces a latency change the delete must not meet).
    A port `close_all` closed already is left alone: python-rtmidi crashes on a port used after
    delete()."""
    if _closed_early.pop(id(port), None) is not port:
        _close(port)


def _close(port: Any) -> None:
    try:
        call(port, "close_port")
    finally:
        with graph_change():
            port.delete()
        _open_clients.pop(id(port), None)


_closed_early: dict[int, Any] = {}
"""Clients `close_all` closed while their owner still held them, kept (so no id is reused) until the
owner's own `close`, which then does nothing."""


def close_all() -> None:
    """Close every client still open: at exit, on SIGTERM (`_close_on_sigterm`) and before a JACK server
    this process started stops, so no process sharing a server waits out a dead client and no client
    outlives its server. An owner's closer that fails is reported on stderr; its client is left open
    (a thread of the owner may still use it: deleting it would crash the process)."""
    while _open_clients:
        key, (port, closer) = _open_clients.popitem()
        if closer is None:
            _closed_early[key] = port
            _close(port)
            continue
        try:
            closer()
        except Exception as exc:  # at exit: say it and go on closing the others
            print(f"rig: closing a JACK client's owner failed ({type(exc).__name__}: {exc}); "
                  f"its client is left open", file=sys.stderr)


atexit.register(close_all)


def _close_on_sigterm() -> None:
    """Make SIGTERM end this process as an exit (status 143) that runs `finally` blocks and `close_all`,
    where SIGTERM still has its default action and this is the main thread (where Python runs signal
    handlers); a handler the program set is kept. Not raised inside an __exit__ (rig.interrupts)."""
    if threading.current_thread() is threading.main_thread() \
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, interrupts.handler(lambda signum: SystemExit(128 + signum)))


def _note_new_threads(before: set[int]) -> None:
    """Threads started since `before` that Python did not start are libjack's."""
    python_threads = {t.native_id for t in threading.enumerate()}
    _libjack_threads.update(_tasks() - before - python_threads)

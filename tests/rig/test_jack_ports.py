"""rig.os_midi.jack_ports: graph changes only while libjack's threads are idle and jackd has run the
changes made before (issue #9: a port unregistered while the client's notification thread walked its
port list crashed the process).

The crash itself is too rare for a test (about 1 in 20 rounds of the OS MIDI tests under load, under
gdb); these tests show the parts the guard rests on: a running thread and a thread with input waiting
count as busy, an idle one does not, the wait ends only when the tracked threads are idle, opening a
JACK client tracks the threads libjack starts for it, and latency notices come cycles after a change,
after the threads were idle, but never after rig.os_midi.jack.settle_graph."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rig.os_midi import jack_ports
from rig.os_midi.jack import jackd_installed

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")


def _until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


def _syscall(tid: int) -> str:
    return Path(f"/proc/self/task/{tid}/syscall").read_text().split()[0]


def test_a_thread_blocked_reading_nothing_is_idle() -> None:
    """A real thread of this process, blocked in recv on an empty socket, as libjack's notification
    thread waits for the server."""
    near, far = socket.socketpair()
    ident: list[int] = []

    def run() -> None:
        ident.append(threading.get_native_id())
        near.recv(1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        _until(lambda: bool(ident) and _syscall(ident[0]) in {"0", "45"})
        assert not jack_ports.thread_busy(ident[0])
    finally:
        far.send(b"x")
        thread.join()
        near.close()
        far.close()


@pytest.fixture
def tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A task directory the module reads instead of /proc/self/task (thread states set by the test:
    a real thread's state cannot be held still), with one tracked thread, 7."""
    monkeypatch.setattr(jack_ports, "_TASKS", tmp_path)
    monkeypatch.setattr(jack_ports, "_libjack_threads", {7})
    monkeypatch.setattr(jack_ports, "_notifiers", set())
    monkeypatch.setattr(jack_ports, "_process_threads", set())
    monkeypatch.setattr(jack_ports, "quiet_timeout_details", [])
    monkeypatch.setattr(jack_ports, "quiet_timeouts", 0)  # the session's own count stays true
    (tmp_path / "7").mkdir()
    return tmp_path


def test_running_and_input_waiting_are_busy_and_other_waits_are_idle(tasks: Path) -> None:
    near, far = socket.socketpair()
    with near, far:
        state = tasks / "7" / "syscall"
        for text, busy in [("running", True), (f"0 0x{near.fileno():x} 0x0 0x1", False),
                           (f"45 0x{near.fileno():x} 0x0 0x1", False), ("202 0x7f00 0x80 0x0", False)]:
            state.write_text(text)
            assert jack_ports.thread_busy(7) == busy, text
        far.send(b"abc")
        _until(lambda: jack_ports._pending(near.fileno()) == 3)
        state.write_text(f"0 0x{near.fileno():x} 0x0 0x1")
        assert jack_ports.thread_busy(7), "input is waiting: the thread is about to run"


def test_a_process_thread_running_its_cycle_does_not_hold_a_graph_change(tasks: Path) -> None:
    """JACK2's process threads wait in a futex between cycles and run every cycle; only notification
    threads (blocked reading a socket) walk the port list, so only they are waited for."""
    near, far = socket.socketpair()
    with near, far:
        state = tasks / "7" / "syscall"
        state.write_text("running")
        assert jack_ports.thread_busy(7), "not yet known: counted as busy"
        state.write_text("202 0x7f00 0x80 0x0")
        assert not jack_ports.thread_busy(7) and jack_ports._process_threads == {7}
        state.write_text("running")
        assert not jack_ports.thread_busy(7), "a process thread's cycle holds nothing up"
        state.write_text(f"0 0x{near.fileno():x} 0x0 0x1")
        assert not jack_ports.thread_busy(7) and jack_ports._notifiers == {7}, "seen reading a socket"
        state.write_text("running")
        assert jack_ports.thread_busy(7), "a running notification thread may be walking the port list"
        state.write_text("202 0x7f00 0x80 0x0")
        assert not jack_ports.thread_busy(7) and jack_ports._notifiers == {7}, "a notifier stays one"


def test_a_wait_that_times_out_names_the_threads_still_busy(tasks: Path) -> None:
    (tasks / "7" / "syscall").write_text("running")
    (tasks / "7" / "stat").write_text("7 (python (x)) R 1 2 3")
    assert not jack_ports.wait_for_quiet_notifications(timeout_s=0.02)
    assert jack_ports.quiet_timeout_details == ["tid 7 unknown [running] R"]


def test_the_wait_ends_only_when_the_tracked_threads_are_idle(tasks: Path) -> None:
    state = tasks / "7" / "syscall"
    state.write_text("running")
    before = jack_ports.quiet_timeouts
    assert not jack_ports.wait_for_quiet_notifications(timeout_s=0.05)
    assert jack_ports.quiet_timeouts == before + 1
    state.write_text("202 0x7f00 0x80 0x0")
    assert jack_ports.wait_for_quiet_notifications(timeout_s=0.05)
    for entry in (tasks / "7").iterdir():
        entry.unlink()
    (tasks / "7").rmdir()
    assert jack_ports.wait_for_quiet_notifications(timeout_s=0.05)
    assert jack_ports._libjack_threads == set(), "a thread that ended is forgotten"


TRACKING = """
import json, os, threading
import rtmidi
from rig.os_midi import jack_ports
from rig.os_midi.jack import JackServer

with JackServer(reuse=False):
    before = set(jack_ports._libjack_threads)
    port = jack_ports.open_client(lambda: rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="rig test tracked"))
    new = jack_ports._libjack_threads - before
    python = {t.native_id for t in threading.enumerate()}
    jack_ports.call(port, "open_virtual_port", "tracked")
    quiet = jack_ports.wait_for_quiet_notifications(timeout_s=30)
    jack_ports.close(port)
    print(json.dumps(dict(new=len(new), python=len(new & python), quiet=quiet)))
"""


@pytest.mark.skipif(not jackd_installed(), reason="jackd not installed")
def test_opening_a_jack_client_tracks_the_threads_libjack_starts() -> None:
    """In a process of its own: libjack talks to one server per process, and this one starts its own."""
    pytest.importorskip("rtmidi")
    done = subprocess.run([sys.executable, "-c", TRACKING], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["new"] >= 1, "no libjack thread noted for a new JACK client"
    assert facts["python"] == 0 and facts["quiet"], facts


LATE_NOTICES = """
import json, os, sys, time
from pathlib import Path
import rtmidi
from rig.os_midi import jack, jack_ports

def switches(tid):
    for line in Path(f"/proc/self/task/{tid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError(f"thread {tid} has no voluntary_ctxt_switches")

settling = sys.argv[1] == "settle"
late = []
with jack.JackServer(reuse=False, period=1024):  # 21 ms cycles: a notice sent at a later cycle is late
    before = set(jack_ports._libjack_threads)
    name = jack.client_name("rig test notices")
    port = jack_ports.open_client(lambda: rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=name))
    threads = jack_ports._libjack_threads - before
    jack_ports.call(port, "open_virtual_port", "notices")
    assert jack.settle_graph() and jack_ports.wait_for_quiet_notifications()
    notifiers = [tid for tid in threads if not jack_ports.thread_busy(tid) and tid in jack_ports._notifiers]
    assert notifiers, "no notification thread found"
    source = jack.client_name("rig test source")
    sender = jack_ports.open_client(lambda: rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=source))
    jack_ports.call(sender, "open_virtual_port", "source")
    lib = jack._graph_lib()
    probe = jack._graph_probe(lib, os.environ[jack.ENV_SERVER])
    for round in range(8):  # the changes: the sender's port connected to ours and back
        with jack_ports.GRAPH_LOCK:
            change = lib.jack_disconnect if round % 2 else lib.jack_connect
            assert change(probe, f"{source}:source".encode(), f"{name}:notices".encode()) == 0
            if settling:
                assert jack.settle_graph()
            assert jack_ports.wait_for_quiet_notifications()
            counts = [switches(tid) for tid in notifiers]
            time.sleep(0.2)  # ten cycles
            late.append(sum(switches(tid) for tid in notifiers) - sum(counts))
            assert jack.settle_graph()
    settled = []
    settle = jack.settle_graph
    jack.settle_graph = lambda: settled.append(1) or settle()  # the closes below settle first
    jack_ports.close(sender)
    jack_ports.close(port)
print(json.dumps(dict(late=late, unsettled=jack.unsettled, settled_closes=len(settled))))
"""


@pytest.mark.skipif(not jackd_installed(), reason="jackd not installed")
@pytest.mark.parametrize("settling", ["settle", "quiet only"])
def test_latency_notices_come_cycles_after_a_change_and_settling_waits_them_out(settling: str) -> None:
    """The root cause of the SIGSEGV (issue #9): jackd sends the latency notices of a graph change at
    the start of a later cycle, so threads found idle right after the change still get them (the
    walk a port unregistered then would be freed under). After settle_graph none comes late. Counted
    as the notification threads' voluntary context switches: each notice wakes one and puts it back to
    sleep."""
    pytest.importorskip("rtmidi")
    done = subprocess.run([sys.executable, "-c", LATE_NOTICES, settling], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["unsettled"] == 0 and facts["settled_closes"] == 2, facts
    if settling == "settle":
        assert facts["late"] == [0] * 8, facts
    else:
        assert any(facts["late"]), f"no notice came after the threads were idle: {facts}"

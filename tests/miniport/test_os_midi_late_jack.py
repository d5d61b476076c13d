"""A JACK cycle held up by a starved client makes answers late, not lost (issue #9): the OS-MIDI
miniport waits the device's time plus the MIDI system's own bound (MidiSystem.delay_bound_s, two
cycles at JACK's ten client timeouts each with --sync) before it calls a message lost, and counts the
answers that came late.

The starved client is a real one: another process with an active JACK client on the same server,
stopped with SIGSTOP for longer than the device's time. In sync mode jackd holds every cycle for it
(up to its bound), so nothing moves on any port meanwhile; after SIGCONT the flood goes on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from host import midi as m
from rig.client.board import Board
from rig.miniport import MiniportTimeout
from rig.miniport.rtmidi_port import OsMidiMiniport
from rig.os_midi.jack import CLIENT_TIMEOUT_MS, ENV_SERVER, JackMode, JackServer, started_server
from rig.os_midi.system import MidiSystem
from rig.pytest_plugin.testing import require_module

rtmidi = require_module("rtmidi", "pip install python-rtmidi")

DEVICE_S = 1.0
"""The device's time to answer (the loopback answers in microseconds)."""
STALL_S = 3.0
"""How long the other client is stopped: longer than DEVICE_S, far shorter than JACK's bound (40 s)."""
FLOOD = [m.note_on(i % 16, (i // 16) % 128, 1 + i // 2048) for i in range(600)]

SHARER = """
import ctypes, signal, sys, rtmidi
from rig.os_midi import jack, jack_ports  # jack: closes after the graph settled (rig.os_midi.jack_ports)
ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: never outlive the test, stopped or not
port = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=sys.argv[1])
port.open_virtual_port("idle")  # an active client: every cycle of a --sync server waits for it
print("ready", flush=True)
sys.stdin.read()  # until the test closes the pipe
jack_ports.close(port)
"""


@pytest.fixture
def sharer(jack_server: JackServer) -> Iterator[subprocess.Popen[str]]:
    """Another process with an active client on the test's JACK server; closed cleanly at the end (a
    client that dies open holds a --sync server for its whole timeout)."""
    proc = subprocess.Popen([sys.executable, "-c", SHARER, f"rig-sharer-{os.getpid()}"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.communicate(timeout=60)


FIRST = 128
"""Messages sent before the client is stopped; the stall begins once 100 of them have come back."""


def stall_after_answers(proc: subprocess.Popen[str], miniport: OsMidiMiniport) -> threading.Thread:
    """Send FLOOD[:FIRST], wait until 100 answers came (a positive signal), stop `proc` (a client the
    machine does not schedule) and return the thread that lets it go after STALL_S. The rest of the
    flood is sent by the caller after this returns, so it always meets the held cycles: a stall
    started by a thread watching the flood could come after the flood had ended on a loaded machine."""
    miniport.send(FLOOD[:FIRST])
    deadline = time.monotonic() + 60
    while miniport.counters.messages_received < 100:
        assert time.monotonic() < deadline, f"no 100 answers within 60 s: {miniport.counters}"
        time.sleep(0.001)
    proc.send_signal(signal.SIGSTOP)

    def go_on() -> None:
        time.sleep(STALL_S)  # the stimulus: how long the client is not scheduled
        proc.send_signal(signal.SIGCONT)

    thread = threading.Thread(target=go_on, name="let a stopped JACK client go on", daemon=True)
    thread.start()
    return thread


def jack_system() -> MidiSystem:
    """The MIDI system of the test's JACK server (this process started it: its bound is known)."""
    return MidiSystem(rtmidi.API_UNIX_JACK, JackMode.AUTO)


def test_the_delay_bound_is_two_cycles_at_jacks_own_bound(jack_server: JackServer) -> None:
    server = started_server(os.environ.get(ENV_SERVER))
    assert server is not None and server.sync and server.client_timeout_ms == CLIENT_TIMEOUT_MS
    assert server.cycle_bound_s() == 10 * CLIENT_TIMEOUT_MS / 1000
    assert jack_system().delay_bound_s() == 2 * 10 * CLIENT_TIMEOUT_MS / 1000
    assert MidiSystem(rtmidi.API_LINUX_ALSA, JackMode.AUTO).delay_bound_s() == 0.0  # no bound known there


def test_a_held_jack_cycle_makes_answers_late_not_lost(ports: tuple[Any, Any], board: Board,
                                                       jack_server: JackServer,
                                                       sharer: subprocess.Popen[str]) -> None:
    bound = jack_system().delay_bound_s()
    with OsMidiMiniport(*ports, board=board, send_window=64, send_timeout_s=DEVICE_S,
                        delay_bound_s=bound) as mp:
        staller = stall_after_answers(sharer, mp)
        mp.send(FLOOD[FIRST:])
        assert [g.data for g in mp.receive(len(FLOOD), DEVICE_S)] == FLOOD
        staller.join()
        assert mp.counters.slow_answers >= 1
        assert mp.counters.longest_answer_wait_s > DEVICE_S
        mp.stop()
        assert mp.books() == [] and board.unbalanced() == []


def test_without_the_bound_the_same_stall_is_called_a_loss_that_was_late(
        ports: tuple[Any, Any], board: Board, sharer: subprocess.Popen[str]) -> None:
    with OsMidiMiniport(*ports, board=board, send_window=64, send_timeout_s=DEVICE_S) as mp:
        staller = stall_after_answers(sharer, mp)
        with pytest.raises(MiniportTimeout, match=r"64 message\(s\) sent and not answered within 1.0 s \("):
            mp.send(FLOOD[FIRST:])
        staller.join()
        deadline = time.monotonic() + DEVICE_S + jack_system().delay_bound_s()
        while mp.counters.messages_received < mp.counters.messages_sent:  # "lost": late, every one
            assert time.monotonic() < deadline, f"{mp.counters}"
            time.sleep(0.01)
        assert mp.counters.messages_sent >= 100 + 64

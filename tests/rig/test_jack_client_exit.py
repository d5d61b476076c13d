"""A rig process that ends with a JACK client open does not stall a server it shares (issue #9).

A --sync jackd waits for a dead client's cycles, ten client timeouts (measured 20 s), and every client
another process opens on that server meanwhile waits as long: a CLI run a test starts shares the
test's server, so one that exited or got SIGTERM with its ports open made the test's next open wait
20 s, past the rig's 10 s graph waits ("JACK server not running?"). rig.os_midi.jack_ports closes
every client it opened at exit and on SIGTERM. (A SIGKILLed process cannot close anything; its
server still stalls.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from rig.os_midi import jack_ports
from rig.os_midi.jack import server_complaints
from rig.os_midi.system import MidiSystem, client_name

OPEN_AFTER_S = 10.0
"""A client open after the sharer ended must take less than this: it takes 0.05-0.3 s on a loaded
machine, and 20 s while the server waits out a dead client."""

SHARER = """
import sys, time
import rtmidi
from rig.os_midi import jack_ports
from rig.os_midi.system import client_name

port = jack_ports.open_client(lambda: rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=client_name("sharer")))
jack_ports.call(port, "open_virtual_port", "out")
print("open", flush=True)
if sys.argv[1] == "wait":
    time.sleep(60)
"""


@pytest.fixture
def jack_api(process_midi_system: MidiSystem | None) -> int:
    import rtmidi

    if process_midi_system is None or process_midi_system.api != rtmidi.API_UNIX_JACK:
        pytest.skip("needs the JACK server this test process starts (jackd2)")
    return process_midi_system.api


def _open_and_close(api: int) -> float:
    """Seconds a client open on this process's server takes (what a sharer's dead client stalls)."""
    import rtmidi

    started = time.monotonic()
    port: Any = jack_ports.open_client(lambda: rtmidi.MidiIn(rtapi=api, name=client_name("after sharer")))
    try:
        jack_ports.call(port, "open_virtual_port", "in")
        return time.monotonic() - started
    finally:
        jack_ports.close(port)


@pytest.mark.parametrize("ending", ["returns", "SIGTERM"])
def test_a_sharer_that_ends_with_its_client_open_does_not_stall_the_server(jack_api: int,
                                                                          ending: str) -> None:
    assert os.environ.get("JACK_DEFAULT_SERVER"), "the sharer finds the server through the environment"
    sharer = subprocess.Popen([sys.executable, "-c", SHARER, "wait" if ending == "SIGTERM" else "end"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert sharer.stdout is not None and sharer.stdout.readline().strip() == "open", \
            sharer.communicate(timeout=30)
        if ending == "SIGTERM":
            sharer.send_signal(signal.SIGTERM)
        _, err = sharer.communicate(timeout=30)
    finally:
        if sharer.poll() is None:
            sharer.kill()
            sharer.wait()
    assert sharer.returncode == (128 + signal.SIGTERM if ending == "SIGTERM" else 0), err
    took = _open_and_close(jack_api)
    assert took < OPEN_AFTER_S, f"the next client open took {took:.1f} s{server_complaints()}"


class _Port:
    """Stands in for a python-rtmidi port: notes close_port and delete, as a deleted one would crash."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def close_port(self) -> None:
        assert "delete" not in self.calls, "used after delete() (python-rtmidi: SIGSEGV)"
        self.calls.append("close_port")

    def delete(self) -> None:
        assert "delete" not in self.calls, "deleted twice (python-rtmidi: SIGSEGV)"
        self.calls.append("delete")


def test_close_all_closes_each_client_once_and_leaves_owned_ones_to_their_owner() -> None:
    plain = jack_ports.open_client(_Port)
    owned = jack_ports.open_client(_Port, closer=lambda: owner_closes.append(True))
    owner_closes: list[bool] = []
    jack_ports.close_all()
    assert plain.calls == ["close_port", "delete"]
    assert owner_closes == [True] and owned.calls == [], \
        "an owner's threads may still use its client: only the owner may delete it"
    jack_ports.close(plain)  # its owner's own close, later: nothing more happens
    assert plain.calls == ["close_port", "delete"]
    jack_ports.close(owned)
    assert owned.calls == ["close_port", "delete"]
    jack_ports.close_all()
    assert plain.calls == ["close_port", "delete"] and owned.calls == ["close_port", "delete"]

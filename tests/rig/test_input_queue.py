"""Every RtMidi input the rig polls holds a flood its reader is late for (issue #9).

Under load the host's reader thread is sometimes not scheduled while a flood arrives; RtMidi then
queues the flood, and python-rtmidi's default queue (1024 messages) dropped the rest: the last of
2,000 notes were reported lost on the device's path. Here the reader is late on purpose: a flood of
FLOOD notes reaches the input while nobody reads it; a second input with a callback (no queue) shows
when JACK has delivered it, and one more message after that proves a whole cycle has passed for every
client. Then everything must be in the queue."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from rig.os_midi import jack_ports
from rig.os_midi.input_queue import INPUT_QUEUE_LIMIT, QueueWatch
from rig.os_midi.system import MidiSystem, client_name
from rig.pytest_plugin.fixtures import _open_rtmidi
from rig.pytest_plugin.testing import open_rtmidi_port

FLOOD = 2_000
"""The notes of tests/conformance/test_midi_os.py's flood."""


def _fixture_input(api: int, wanted: str) -> Any:
    return _open_rtmidi("in", wanted)


OPENERS: dict[str, Callable[[int, str], Any]] = {
    "midi_ports fixture": _fixture_input,
    "testing.open_rtmidi_port": lambda api, wanted: open_rtmidi_port(api, "in", wanted),
}


@pytest.fixture
def jack_api(process_midi_system: MidiSystem | None) -> int:
    import rtmidi

    if process_midi_system is None or process_midi_system.api != rtmidi.API_UNIX_JACK:
        pytest.skip("needs the JACK server this test process starts (jackd2)")
    return process_midi_system.api


@pytest.mark.parametrize("opener", OPENERS)
def test_a_flood_waits_in_the_queue_while_the_reader_is_late(jack_api: int, opener: str) -> None:
    import rtmidi

    source_name = client_name("rig flood source")
    source = jack_ports.open_client(lambda: rtmidi.MidiOut(rtapi=jack_api, name=source_name))
    jack_ports.call(source, "open_virtual_port", "flood")
    seen = threading.Semaphore(0)
    witness = late = None
    try:
        witness = open_rtmidi_port(jack_api, "in", f"{source_name}:flood")
        witness.set_callback(lambda event, data: seen.release())
        late = OPENERS[opener](jack_api, f"{source_name}:flood")
        for seq in range(FLOOD):
            source.send_message([0x90 | seq % 16, seq // 16 % 128, 1])
        for index in range(FLOOD):
            assert seen.acquire(timeout=30), f"the witness saw {index} of {FLOOD}"
        source.send_message([0xF8])  # a cycle after the flood's: every client has queued the flood
        assert seen.acquire(timeout=30), "the witness missed the clock after the flood"
        watch = QueueWatch(INPUT_QUEUE_LIMIT)
        got = []
        while (event := late.get_message()) is not None:
            watch.took()
            got.append(event[0])
        assert len(got) in (FLOOD, FLOOD + 1), f"{len(got)} of {FLOOD} notes were still queued"
        assert got[:FLOOD] == [[0x90 | seq % 16, seq // 16 % 128, 1] for seq in range(FLOOD)]
        assert watch.full == 0
    finally:
        for port in (late, witness, source):
            if port is not None:
                jack_ports.close(port)


def test_a_reader_that_finds_the_queue_full_says_the_loss_is_the_hosts() -> None:
    watch = QueueWatch(limit=4)
    for _ in range(2):
        watch.took()
    watch.empty()
    assert watch.full == 0 and watch.describe() == ""
    for _ in range(3):
        watch.took()
    assert watch.full == 1
    assert "the host's RtMidi input queue (3 messages) was full 1 time(s)" in watch.describe()
    assert "not the device's" in watch.describe()

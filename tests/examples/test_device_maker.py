"""A device maker's test, written with the plugin's documented fixtures only (README "Writing a device
test"): no polling loop, no sleeps. Runs on every --rig target that has OS MIDI ports and a console."""

from __future__ import annotations

from typing import Any

import mido
import pytest


@pytest.mark.needs("midi-os")
def test_a_note_comes_back(midi: Any) -> None:
    midi.send(mido.Message("note_on", note=60, velocity=100), b"\x80\x3c\x00")
    assert midi.expect(mido.Message("note_on", note=60, velocity=100), timeout=2).velocity == 100
    assert midi.expect(lambda msg: msg.type == "note_off", timeout=2).note == 60


@pytest.mark.needs("midi-os")
def test_sysex_round_trip(midi: Any) -> None:
    midi.send(mido.Message("sysex", data=[0x7D, 1, 2, 3]))
    (reply,) = midi.receive(1, timeout=2)
    assert reply.data == (0x7D, 1, 2, 3)


@pytest.mark.needs("console")
def test_console_answers(console: Any) -> None:
    assert console.command("version").startswith("firmware ")
    console.write(b"stats\n")
    assert int(console.expect(r"control_requests=(\d+)", timeout=2)[1]) >= 0

"""RawUsbMidi.drain_to_marker: how the `midi` suite ends a test on a device that is not ours (a marker
sent after the test, read back) instead of waiting out a quiet window."""

from __future__ import annotations

import errno
from collections.abc import Iterator

import pytest
import usb.core

from host.midi import encode as m
from rig.client.raw_midi import MarkerNotEchoed, RawUsbMidi
from rig.targets.factory import make_target
from rig.targets.raw_port import raw_midi_port

ECHOING = "usb:cafe:4001,bus=loopback,echo"
"""The software board as a device that is not ours, declared echoing (it is in ECHO from power-on)."""


@pytest.fixture
def port() -> Iterator[RawUsbMidi]:
    with make_target(ECHOING) as target, raw_midi_port(target) as (raw, _cables):
        yield raw


def test_what_the_device_sent_before_the_marker_is_counted_and_then_nothing(port: RawUsbMidi) -> None:
    """Echoes left unread are the messages before the marker; a second drain finds nothing more."""
    port.send(m.note_on(0, 60, 100) + m.note_off(0, 60, 0) + m.sysex(b"\x7d\x01"))
    assert port.drain_to_marker(5.0) == 3
    assert port.drain_to_marker(5.0) == 0
    assert port.received == [], "the drain forgets the messages it read..."
    assert b"".join(port.transfers).startswith(bytes.fromhex("09903c64 08803c00")), "nor the transfers"


def test_each_marker_is_new_so_an_old_echo_does_not_end_a_drain(port: RawUsbMidi,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A marker's echo that comes late (here: an earlier marker sent again by hand) is not the one a
    drain waits for: the drain reads on until its own comes back. Markers are the rig's, not the
    device's messages: neither counted nor in `received`."""
    sent: list[bytes] = []
    send = port.send

    def send_and_keep(data: bytes) -> int:
        sent.append(data)
        return send(data)

    monkeypatch.setattr(port, "send", send_and_keep)
    assert port.drain_to_marker(5.0) == 0
    port.send(sent[0] + m.note_on(1, 2, 3))
    assert port.drain_to_marker(5.0) == 1
    assert port.markers_back == [sent[0], sent[0], sent[2]]
    assert sent[0] != sent[2], "every drain sends a marker of its own"


def test_a_device_one_message_behind_holds_the_marker_until_the_next_message(
        port: RawUsbMidi, monkeypatch: pytest.MonkeyPatch) -> None:
    """A device that sends each transfer only when the next is ready holds the marker back: the drain
    fails naming it; the next message brings it, kept out of `received`, and is held in its turn."""
    read = port.device.read
    held: list[object] = []

    def held_read(endpoint: int, length: int, timeout: int) -> object:
        data = read(endpoint, length, timeout)
        held.append(data)
        if len(held) == 1:
            raise usb.core.USBTimeoutError("held back", -7, errno.ETIMEDOUT)
        return held[-2]

    monkeypatch.setattr(port.device, "read", held_read)
    with pytest.raises(MarkerNotEchoed):
        port.drain_to_marker(0.5)
    port.send(m.program_change(0, 5))
    for _ in range(50):
        assert port.read_once(200) == [], "the marker comes first, alone, and is not a message"
        if port.markers_back:
            break
    assert len(port.markers_back) == 1 and port.received == []
    port.send(m.program_change(0, 6))
    assert [msg.data for _, msg in port.receive(1, 5.0)] == [m.program_change(0, 5)]


def test_a_device_that_does_not_echo_the_marker_fails_naming_it(port: RawUsbMidi,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A marker that never comes back (here: never written) is a named error after the timeout, with
    what was read meanwhile."""
    port.send(m.program_change(0, 5))
    monkeypatch.setattr(port, "send_packets", lambda packets: len(packets) // 4)
    with pytest.raises(MarkerNotEchoed, match=r"end marker \(f07d5249472d454e44000001f7\) did not come back "
                                              r"on cable 0 within 0\.5 s \(1 other message\(s\) read\)"):
        port.drain_to_marker(0.5)

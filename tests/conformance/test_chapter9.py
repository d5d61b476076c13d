"""Conformance, USB 2.0 chapter 9 points any board must meet, found by running the firmware in the
emulator against the software loopback: a halted endpoint stays halted until the host clears it
(CLEAR_FEATURE, SET_INTERFACE), clearing a halt duplicates nothing, a standard request with a data
stage it does not take is refused before it acts, malformed recipients and indexes get a Request
Error, SET_FRAME_MODE empties the ring, and an unconfigured device's bulk endpoints are gone
without harming the device.

Runs through pyusb only (raw transfers, so the books are not compared).

Clauses checked (each test's docstring names its own): USB 2.0 9.1.1.5, 9.2.7, 9.3.4, 9.4.1, 9.4.5, 9.4.7,
9.4.9 and 9.4.10; docs/protocol.md, Standard and class requests, Vendor requests and Frames."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

import pytest
import usb.core

from rig import contract as c
from rig.client.board import Board
from rig.contract import frame_wire as frames
from rig.contract.ch9 import (
    CLEAR_FEATURE,
    ENDPOINT_HALT,
    GET_STATUS,
    SET_ADDRESS,
    SET_CONFIGURATION,
    SET_FEATURE,
)

from .. import endpoint_reads

pytestmark = [pytest.mark.needs("usb"), pytest.mark.books_unchecked]

T = 2000


def note(n: int) -> bytes:
    return bytes((0x09, 0x90, n & 0x7F, 0x40))


def halted(dev: usb.core.Device, ep: int) -> int:
    return int(struct.unpack("<H", bytes(dev.ctrl_transfer(0x82, GET_STATUS, 0, ep, 2, T)))[0])


def drain(dev: usb.core.Device, ep: int) -> bytes:
    return endpoint_reads.drain(dev, ep, timeout_ms=200)


@pytest.fixture
def dev(board: Board) -> Iterator[usb.core.Device]:
    """The board's pyusb device in MIDI ECHO with nothing queued on EP_MIDI_IN, and no halts or MIDI
    replies left behind (SET_MIDI_MODE empties the IN queue: docs/protocol.md, and
    test_set_midi_mode_empties_the_in_queue holds every target to it)."""
    device = board.device
    board.claim_midi()  # raw USB-MIDI: the OS driver lets go of the interface
    board.set_midi_mode(c.MidiMode.ECHO)
    yield device
    for ep in (c.EP_MIDI_OUT, c.EP_MIDI_IN, c.EP_FRAME_OUT, c.EP_FRAME_IN):
        device.ctrl_transfer(0x02, CLEAR_FEATURE, ENDPOINT_HALT, ep, None, T)
    board.set_midi_mode(c.MidiMode.ECHO)


def test_a_halted_in_endpoint_stays_halted_while_the_board_has_data(dev: usb.core.Device) -> None:
    """USB 2.0 9.4.5: SET_FEATURE(ENDPOINT_HALT) holds until CLEAR_FEATURE; data queued meanwhile is
    neither sent nor lost."""
    dev.ctrl_transfer(0x02, SET_FEATURE, ENDPOINT_HALT, c.EP_MIDI_IN, None, T)
    dev.write(c.EP_MIDI_OUT, note(1) + note(2), T)  # ECHO queues two replies on the halted endpoint
    with pytest.raises(usb.core.USBError) as caught:
        dev.read(c.EP_MIDI_IN, 64, 500)
    assert not isinstance(caught.value, usb.core.USBTimeoutError)  # STALL, not NAK
    assert halted(dev, c.EP_MIDI_IN) == 1
    dev.ctrl_transfer(0x02, CLEAR_FEATURE, ENDPOINT_HALT, c.EP_MIDI_IN, None, T)
    assert halted(dev, c.EP_MIDI_IN) == 0
    assert drain(dev, c.EP_MIDI_IN) == note(1) + note(2)


def test_a_halted_out_endpoint_stalls_writes_until_cleared(dev: usb.core.Device) -> None:
    """USB 2.0 9.4.5 and 8.4.5: a halted OUT endpoint answers its data with STALL (not a NAK timeout) and
    GET_STATUS shows the halt; after CLEAR_FEATURE(ENDPOINT_HALT) (9.4.1) it takes packets again."""
    dev.ctrl_transfer(0x02, SET_FEATURE, ENDPOINT_HALT, c.EP_MIDI_OUT, None, T)
    assert halted(dev, c.EP_MIDI_OUT) == 1
    with pytest.raises(usb.core.USBError) as caught:
        dev.write(c.EP_MIDI_OUT, note(3), 500)
    assert not isinstance(caught.value, usb.core.USBTimeoutError)
    dev.ctrl_transfer(0x02, CLEAR_FEATURE, ENDPOINT_HALT, c.EP_MIDI_OUT, None, T)
    dev.write(c.EP_MIDI_OUT, note(4), T)
    assert drain(dev, c.EP_MIDI_IN) == note(4)


@pytest.mark.parametrize(("interface", "endpoint"), [(c.IF_MIDI_STREAMING, c.EP_MIDI_IN),
                                                     (c.IF_MIDI_STREAMING, c.EP_MIDI_OUT),
                                                     (c.IF_VENDOR, c.EP_FRAME_IN)])
def test_set_interface_clears_the_halt_of_its_endpoints(dev: usb.core.Device, interface: int,
                                                        endpoint: int) -> None:
    """USB 2.0 9.4.10 / 9.1.1.5: SET_INTERFACE resets the interface's endpoints (halt and toggle)."""
    dev.ctrl_transfer(0x02, SET_FEATURE, ENDPOINT_HALT, endpoint, None, T)
    assert halted(dev, endpoint) == 1
    dev.set_interface_altsetting(interface, 0)
    assert halted(dev, endpoint) == 0
    dev.write(c.EP_MIDI_OUT, note(5), T)
    assert drain(dev, c.EP_MIDI_IN) == note(5)


def test_clear_halt_on_an_endpoint_that_is_not_halted_duplicates_nothing(dev: usb.core.Device) -> None:
    """USB 2.0 9.4.5: a ClearFeature(ENDPOINT_HALT) resets the data toggle to DATA0 whether or not the
    endpoint is halted. libusb's clear_halt sends it to a working endpoint: the packet already waiting goes
    once, and the stream goes on."""
    sent = b"".join(note(n) for n in range(10, 15))
    dev.write(c.EP_MIDI_OUT, sent, T)
    dev.clear_halt(c.EP_MIDI_IN)
    assert drain(dev, c.EP_MIDI_IN) == sent
    dev.write(c.EP_MIDI_OUT, note(16), T)  # and the stream goes on
    assert drain(dev, c.EP_MIDI_IN) == note(16)


@pytest.mark.parametrize(("request_code", "value", "index"), [(SET_CONFIGURATION, 0, 0),
                                                              (SET_FEATURE, ENDPOINT_HALT, c.EP_MIDI_IN)],
                         ids=["SET_CONFIGURATION", "SET_FEATURE"])
def test_a_standard_request_with_a_data_stage_stalls_before_it_acts(dev: usb.core.Device, request_code: int,
                                                                     value: int, index: int) -> None:
    """USB 2.0 9.4.7 and 9.4.9 leave a SET_CONFIGURATION / SET_FEATURE with a non-zero wLength unspecified;
    the contract answers it as a request it does not offer (docs/protocol.md, Standard and class requests:
    everything else is answered with STALL), before acting: still configured, no halt set."""
    recipient = 0x02 if request_code == SET_FEATURE else 0x00
    with pytest.raises(usb.core.USBError):
        dev.ctrl_transfer(recipient, request_code, value, index, b"\x00\x00", T)
    assert bytes(dev.ctrl_transfer(0x80, 8, 0, 0, 1, T)) == bytes((c.CONFIG_VALUE,))  # still configured
    assert halted(dev, c.EP_MIDI_IN) == 0
    dev.write(c.EP_MIDI_OUT, note(6), T)
    assert drain(dev, c.EP_MIDI_IN) == note(6)


@pytest.mark.parametrize(("bm", "request_code", "value", "index", "length"), [
    (0x02, SET_FEATURE, ENDPOINT_HALT, 0x00, 0),
    (0x02, CLEAR_FEATURE, ENDPOINT_HALT, 0x80, 0),
    (0x82, GET_STATUS, 0, 0x0181, 2),
    (0x82, GET_STATUS, 0, 0x0091, 2),
    (0x00, SET_ADDRESS, 0, 1, 0),
    (0xA1, 0x21, 0, 0x0100 | c.IF_CDC_COMM, 7),
], ids=["SET_FEATURE-EP0", "CLEAR_FEATURE-EP0", "GET_STATUS-0x0181", "GET_STATUS-reserved-bits",
        "SET_ADDRESS-wIndex-1", "CDC-wIndex-0x0103"])
def test_malformed_indexes_get_a_request_error(dev: usb.core.Device, bm: int, request_code: int, value: int,
                                               index: int, length: int) -> None:
    """USB 2.0 9.2.7 and 9.3.4: a request whose recipient or wIndex names nothing the device has (a halt on
    EP0, which 9.4.5 neither requires nor recommends and docs/protocol.md does not offer; reserved wIndex
    bits; a non-zero interface high byte) is a Request Error answered with STALL, and the next SETUP is
    answered normally (8.5.3.4). SET_ADDRESS with a wIndex, which 9.4.6 leaves unspecified, is refused by
    docs/protocol.md, Standard and class requests (everything else: STALL)."""
    with pytest.raises(usb.core.USBError) as caught:
        dev.ctrl_transfer(bm, request_code, value, index, length if bm & 0x80 else None, T)
    assert not isinstance(caught.value, usb.core.USBTimeoutError)
    assert bytes(dev.ctrl_transfer(0x80, GET_STATUS, 0, 0, 2, T)) in (b"\x00\x00", b"\x01\x00")


def test_set_frame_mode_empties_the_ring(board: Board, dev: usb.core.Device) -> None:
    """docs/protocol.md, Vendor requests (SET_FRAME_MODE empties the ring and restarts both frame sequences at
    0): SOURCE frames still queued are gone, and the next echo has seq 0."""
    source = c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.SOURCE, payload_len=16, count=0)
    echo = c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.ECHO)
    dev.ctrl_transfer(c.VENDOR_REQUEST_TYPE_OUT, c.Request.SET_FRAME_MODE, 0, 0, source, T)
    size = c.FRAME_HEADER.size + 64
    for _ in range(2):
        assert frames.decode(bytes(dev.read(c.EP_FRAME_IN, size, T))).flags == c.FrameFlag.SOURCED
    dev.ctrl_transfer(c.VENDOR_REQUEST_TYPE_OUT, c.Request.SET_FRAME_MODE, 0, 0, echo, T)
    with pytest.raises(usb.core.USBTimeoutError):
        dev.read(c.EP_FRAME_IN, size, 300)
    dev.write(c.EP_FRAME_OUT, frames.encode(b"after", 0), T)
    back = frames.decode(bytes(dev.read(c.EP_FRAME_IN, size, T)))
    assert back.flags == c.FrameFlag.ECHOED and bytes(back.payload) == b"after" and back.seq == 0


def test_set_midi_mode_empties_the_in_queue(dev: usb.core.Device) -> None:
    """docs/protocol.md, Vendor requests (SET_MIDI_MODE): the EP_MIDI_IN queue is emptied, the packet armed
    included, so a host that has set a mode has nothing to drain; what comes after is answered as usual."""
    dev.write(c.EP_MIDI_OUT, b"".join(note(n) for n in range(20)), T)  # 16 replies armed, 4 queued
    echo = c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.ECHO)
    dev.ctrl_transfer(c.VENDOR_REQUEST_TYPE_OUT, c.Request.SET_MIDI_MODE, 0, 0, echo, T)
    with pytest.raises(usb.core.USBTimeoutError):
        dev.read(c.EP_MIDI_IN, 64, 300)
    dev.write(c.EP_MIDI_OUT, note(99), T)
    assert bytes(dev.read(c.EP_MIDI_IN, 64, T)) == note(99)


@pytest.mark.parametrize("payload_len", [24, 88], ids=["64-byte-frame", "128-byte-frame"])
def test_a_frame_filling_its_last_packet_needs_no_zlp(board: Board, dev: usb.core.Device,
                                                      payload_len: int) -> None:
    """docs/protocol.md, Frames: a frame whose length is a multiple of 64 ends with the full packet that
    completes its header's length; a host (libusb) sends no ZLP after it, and the next frame is a frame of its
    own."""
    echo = c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.ECHO)
    dev.ctrl_transfer(c.VENDOR_REQUEST_TYPE_OUT, c.Request.SET_FRAME_MODE, 0, 0, echo, T)
    payload = bytes(range(payload_len))
    data = frames.encode(payload, 0)
    assert len(data) % c.BULK_PACKET_SIZE == 0
    dev.write(c.EP_FRAME_OUT, data, T)
    size = c.FRAME_HEADER.size + 128
    assert bytes(frames.decode(bytes(dev.read(c.EP_FRAME_IN, size, T))).payload) == payload
    dev.write(c.EP_FRAME_OUT, frames.encode(payload, 1), T)
    assert frames.decode(bytes(dev.read(c.EP_FRAME_IN, size, T))).seq == 1
    counters = board.stats()
    assert counters["frames_bad_header"] == 0 and counters["frames_rx"] >= 2


def test_bulk_endpoints_are_gone_while_unconfigured_and_the_board_survives(dev: usb.core.Device) -> None:
    """USB 2.0 9.4.7 and 9.1.1.5: SET_CONFIGURATION(0) puts the device in the Address state, where its
    functions' endpoints are not usable (docs/protocol.md, Standard and class requests: bulk endpoints answer
    only in the configured state): transfers fail at once (not a timeout, nothing lands in a stale buffer);
    configured again, the board works."""
    dev.ctrl_transfer(0x00, SET_CONFIGURATION, 0, 0, None, T)
    try:
        frame = frames.encode(bytes(300), 0)
        calls: list[Callable[[], object]] = [lambda: dev.write(c.EP_MIDI_OUT, bytes(200), T),
                                             lambda: dev.write(c.EP_FRAME_OUT, frame, T),
                                             lambda: dev.read(c.EP_MIDI_IN, 64, T)]
        for call in calls:
            with pytest.raises(usb.core.USBError) as caught:
                call()
            assert not isinstance(caught.value, usb.core.USBTimeoutError)
        assert bytes(dev.ctrl_transfer(0x80, 8, 0, 0, 1, T)) == b"\x00"
    finally:
        dev.ctrl_transfer(0x00, SET_CONFIGURATION, c.CONFIG_VALUE, 0, None, T)
    dev.write(c.EP_MIDI_OUT, note(7), T)
    assert drain(dev, c.EP_MIDI_IN) == note(7)

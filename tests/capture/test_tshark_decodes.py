"""Issue #12's proof: a capture the rig records on a target reads in tshark (Wireshark's dissectors, an
independent decoder) as exactly what the rig sent and received — descriptors dissected, each USB-MIDI
event with the CIN and cable the rig sent, SysEx reassembled, vendor frames byte for byte, a STALL
as -EPIPE and a timeout as -ECONNRESET, step marks as packet comments — and the same check fails on
a capture with one header field made wrong."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rig import contract as c
from rig.client.board import Board
from rig.client.errors import TransferStalled, TransferTimeout
from rig.contract import frame_wire
from rig.links import usbmon
from rig.links.capture import UsbCapture
from rig.links.pcapng import SectionInfo
from rig.links.recording_backend import record_device, stop_recording

from .tshark_view import Packet, read_capture, tshark

pytestmark = pytest.mark.needs("usb", "frames")

MIDI_PACKETS = [
    bytes([0x09, 0x90, 60, 100]),  # note on
    bytes([0x08, 0x80, 60, 0]),  # note off
    bytes([0x0B, 0xB3, 7, 99]),  # control change, channel 4
    bytes([0x0C, 0xC1, 5, 0]),  # program change (two bytes)
    bytes([0x0E, 0xE0, 0x00, 0x40]),  # pitch bend
    bytes([0x0F, 0xF8, 0, 0]),  # timing clock (single byte)
]
SYSEX = bytes([0xF0, 0x7D, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0xF7])
SYSEX_PACKETS = [bytes([0x04, 0xF0, 0x7D, 0x01]), bytes([0x04, 0x02, 0x03, 0x04]),
                 bytes([0x04, 0x05, 0x06, 0x07]), bytes([0x05, 0xF7, 0, 0])]
CIN_SIZES = {0x2: 2, 0x3: 3, 0x4: 3, 0x5: 1, 0x6: 2, 0x7: 3, 0x8: 3, 0x9: 3, 0xA: 3, 0xB: 3, 0xC: 2, 0xD: 2,
             0xE: 3, 0xF: 1}
"""MIDI bytes per Code Index Number (USB-MIDI 1.0, table 4-1): what the dissector shows of an event."""
UNKNOWN_REQUEST = 0x7F
MARKS = ("step: MIDI echo", "step: frames", "step: stall and timeout")


@dataclass
class Exchanged:
    """What the rig sent and received while recording, as the client saw it."""

    bus: int
    address: int
    midi_out: list[bytes] = field(default_factory=list)
    midi_in: bytes = b""
    frame_out: bytes = b""
    frame_in: bytes = b""


def _read_midi(board: Board, count: int) -> bytes:
    got = b""
    while len(got) < count * 4:
        got += board.read_midi_packets(2000)
    return got


def record_exchanges(board: Board, path: Path) -> Exchanged:
    """Record MIDI echo (short messages and a SysEx), a frame echo, a STALL and a timeout into `path`."""
    seen = Exchanged(board.device.bus, board.device.address)
    capture = UsbCapture(path, SectionInfo(hardware=f"test target {board.name}", os_name="test os",
                                           application="tests/capture"))
    record_device(board.device, capture)
    try:
        capture.mark(MARKS[0])
        board.set_midi_mode(c.MidiMode.ECHO)
        for chunk in (MIDI_PACKETS, SYSEX_PACKETS):
            data = b"".join(chunk)
            board.write_midi_packets(data)
            seen.midi_out += chunk
            seen.midi_in += _read_midi(board, len(chunk))
        capture.mark(MARKS[1])
        board.set_frame_mode(c.FrameMode.ECHO)
        payload = bytes(range(200))
        seen.frame_out = frame_wire.encode(payload, seq=board.send_frame(payload))
        frame = board.receive_frame(2000)
        raw = frame.payload.obj
        assert isinstance(raw, bytes)
        seen.frame_in = raw
        capture.mark(MARKS[2])
        with pytest.raises(TransferStalled):
            board.raw_control(c.VENDOR_REQUEST_TYPE_IN, UNKNOWN_REQUEST, 0, 0, 8)
        with pytest.raises(TransferTimeout):
            board.read_midi_packets(20)
    finally:
        stop_recording(board.device)
        capture.close()
    return seen


def midi_events(packets: list[Packet], endpoint: int, urb_type: str) -> list[bytes]:
    """The USB-MIDI event packets tshark decoded on `endpoint` in `urb_type` events, as 4 bytes each."""
    return [bytes([e.cable << 4 | e.cin]) + e.event for p in packets
            if p.endpoint == endpoint and p.urb_type == urb_type for e in p.midi]


def significant(packets: list[bytes]) -> list[bytes]:
    """Each 4-byte event packet cut to its header and the MIDI bytes its CIN says it carries."""
    return [p[:1 + CIN_SIZES[p[0] & 0x0F]] for p in packets]


def check_capture(packets: list[Packet], seen: Exchanged) -> None:
    """Assert tshark's reading of the capture is exactly what the rig exchanged."""
    assert packets, "tshark read no packets"
    first = packets[0]
    assert any("synthesised" in text for text in first.comments), f"first packet comments {first.comments}"
    config = [p for p in packets[:8]
              if p.urb_type == "C" and c.SUBCLASS_MIDI_STREAMING in p.interface_subclasses]
    assert config, "no configuration descriptor response with the MIDI streaming interface was dissected"
    assert c.CLASS_AUDIO in config[0].interface_classes
    assert {c.EP_MIDI_OUT, c.EP_MIDI_IN, c.EP_FRAME_OUT, c.EP_FRAME_IN} <= set(config[0].descriptor_endpoints)
    for p in packets:
        assert (p.bus, p.device) == (seen.bus, seen.address), \
            f"frame {p.number}: bus/device {p.bus}/{p.device}"
        assert p.urb_type in ("S", "C"), f"frame {p.number}: URB type {p.urb_type}"
        if p.endpoint & 0x7F in (c.EP_MIDI_OUT, c.EP_FRAME_OUT):
            assert p.transfer_type == usbmon.BULK, f"frame {p.number}: transfer type {p.transfer_type}"
        if p.midi:
            assert (p.endpoint, p.urb_type) in ((c.EP_MIDI_OUT, "S"), (c.EP_MIDI_IN, "C")), \
                f"frame {p.number}: MIDI decoded on endpoint 0x{p.endpoint:02x} {p.urb_type}"
            assert "usbaudio" in p.protocols
    submits = {p.urb_id: p for p in packets if p.urb_type == "S"}
    for p in packets:
        if p.urb_type == "C":
            s = submits.get(p.urb_id)
            assert s is not None and (s.endpoint, s.transfer_type) == (p.endpoint, p.transfer_type), \
                f"frame {p.number}: completion without its submit"
    assert midi_events(packets, c.EP_MIDI_OUT, "S") == significant(seen.midi_out)
    received = [seen.midi_in[i:i + 4] for i in range(0, len(seen.midi_in), 4)]
    assert midi_events(packets, c.EP_MIDI_IN, "C") == significant(received)
    assert {bytes(e) for e in [SYSEX]} <= {s for p in packets if p.endpoint == c.EP_MIDI_OUT for s in p.sysex}
    assert SYSEX in [s for p in packets if p.endpoint == c.EP_MIDI_IN for s in p.sysex]
    frame_out = b"".join(p.data for p in packets if p.endpoint == c.EP_FRAME_OUT and p.urb_type == "S")
    frame_in = b"".join(p.data for p in packets if p.endpoint == c.EP_FRAME_IN and p.urb_type == "C")
    assert frame_out == seen.frame_out
    assert frame_in == seen.frame_in
    stalled = [p for p in packets
               if p.urb_type == "C" and p.endpoint == 0x80 and p.status == usbmon.STATUS_STALL]
    assert len(stalled) == 1 and submits[stalled[0].urb_id].request == UNKNOWN_REQUEST
    timed_out = [p for p in packets if p.endpoint == c.EP_MIDI_IN and p.status == usbmon.STATUS_CANCELLED]
    assert timed_out, "no cancelled (-ECONNRESET) completion on EP_MIDI_IN for the read that timed out"
    marked = [(p.urb_type, text) for p in packets for text in p.comments if text.startswith("step:")]
    assert marked == [("S", m) for m in MARKS]


def test_tshark_decodes_what_the_rig_exchanged(board: Board, tmp_path: Path) -> None:
    tshark()
    path = tmp_path / "rig.pcapng"
    seen = record_exchanges(board, path)
    check_capture(read_capture(path), seen)


def _rewrite_packets(source: Path, target: Path, change: tuple[int, int, int]) -> int:
    """Copy `source` to `target` with header byte `offset` of every packet on `endpoint` set to
    `value` (change = (endpoint, offset, value)); returns how many packets changed."""
    endpoint, offset, value = change
    data = bytearray(source.read_bytes())
    pos = changed = 0
    while pos < len(data):
        block_type, length = struct.unpack_from("<II", data, pos)
        if block_type == 6 and data[pos + 28 + 10] == endpoint:
            data[pos + 28 + offset] = value
            changed += 1
        pos += length
    target.write_bytes(bytes(data))
    return changed


def _drop_first_packets(source: Path, target: Path, count: int) -> None:
    """Copy `source` to `target` without its first `count` packets (the synthesised enumeration)."""
    data = source.read_bytes()
    kept = bytearray()
    pos = dropped = 0
    while pos < len(data):
        block_type, length = struct.unpack_from("<II", data, pos)
        if block_type == 6 and dropped < count:
            dropped += 1
        else:
            kept += data[pos:pos + length]
        pos += length
    target.write_bytes(bytes(kept))


WRONG_FIELDS = {
    "transfer-type": (c.EP_MIDI_OUT, 9, usbmon.INTERRUPT),
    "endpoint": (c.EP_MIDI_OUT, 10, 0x03),
    "device-address": (c.EP_FRAME_IN, 11, 9),
    "event-type": (c.EP_MIDI_IN, 8, ord("E")),
}


def test_a_wrong_header_field_fails_the_check(board: Board, tmp_path: Path) -> None:
    tshark()
    path = tmp_path / "rig.pcapng"
    seen = record_exchanges(board, path)
    check_capture(read_capture(path), seen)
    for name, change in WRONG_FIELDS.items():
        wrong = tmp_path / f"wrong-{name}.pcapng"
        assert _rewrite_packets(path, wrong, change) > 0
        with pytest.raises(AssertionError) as failed:
            check_capture(read_capture(wrong), seen)
        print(f"{name}: {str(failed.value).splitlines()[0]}")


def test_without_the_enumeration_nothing_decodes_as_midi(board: Board, tmp_path: Path) -> None:
    """Why the synthesised preamble is there: without the descriptors Wireshark decodes no USB-MIDI."""
    tshark()
    path = tmp_path / "rig.pcapng"
    seen = record_exchanges(board, path)
    bare = tmp_path / "bare.pcapng"
    _drop_first_packets(path, bare, 8)
    packets = read_capture(bare)
    assert not any(p.midi for p in packets)
    with pytest.raises(AssertionError):
        check_capture(packets, seen)

"""Issue #12, the device-side view: a capture of the emulator holds a second interface with what the
firmware armed and when, in emulated time (rig.links.device_view), read back by tshark; other
targets' captures hold the usbmon interface only; with capture off the bridge sends no events."""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from rig import contract as c
from rig.cli import throughput_cmd
from rig.client.board import Board
from rig.links import device_view as dv
from rig.links.emulator import EmulatorLink
from rig.targets.registry import Target
from rig.targets.usb_capture import start_capture, stop_capture

from .test_cli_capture import run_command
from .tshark_view import run_tshark, tshark

needs_usb = pytest.mark.needs("usb")

ECHOED = bytes([0x09, 0x90, 60, 100])
"""One USB-MIDI event packet (note on, cable 0) the board echoes."""
GET_DEVICE_DESCRIPTOR = bytes([0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x12, 0x00])
FIELDS = ("frame.interface_id", "frame.interface_name", "frame.interface_description", "frame.time_epoch",
          "frame.comment", "frame.protocols", "data.data")


@dataclass
class Frame:
    """One frame of a capture as tshark reads it: its interface and, on the device side, the record."""

    interface: int
    interface_name: str
    interface_description: str
    stamp_ns: int
    comments: list[str]
    protocols: str
    event: dv.DeviceEvent | None


@dataclass
class Exchange:
    """What the test did while recording: a GET_DESCRIPTOR(DEVICE) and one MIDI echo."""

    descriptor: bytes
    echoed: bytes


def read_frames(path: Path) -> list[Frame]:
    """Every frame of `path` as tshark reads it; device-side records parsed from tshark's data field."""
    frames = []
    for layers in run_tshark(path, FIELDS):
        def one(name: str, layers: dict[str, list[str]] = layers) -> str:
            return layers.get(name, [""])[0]

        interface = int(one("frame.interface_id"))
        event = None
        if "data.data" in layers:
            seconds = Decimal(one("frame.time_epoch"))
            record = struct.pack("<Q", int(seconds * 1_000_000_000)) + bytes.fromhex(
                one("data.data").replace(":", ""))
            event = dv.DeviceEvent.parse(record)
        frames.append(Frame(interface, one("frame.interface_name"), one("frame.interface_description"),
                            int(Decimal(one("frame.time_epoch")) * 1_000_000_000),
                            layers.get("frame.comment", []), one("frame.protocols"), event))
    return frames


def record_exchange(target: Target, board: Board, path: Path) -> Exchange:
    """Capture one GET_DESCRIPTOR(DEVICE) and one MIDI echo of the target with start_capture (the way
    --capture and --rig-capture record)."""
    board.set_midi_mode(c.MidiMode.ECHO)
    capture = start_capture(target, path)
    try:
        descriptor = bytes(board.device.ctrl_transfer(0x80, 0x06, 0x0100, 0, 18, 1000))
        board.write_midi_packets(ECHOED)
        echoed = b""
        while len(echoed) < len(ECHOED):
            echoed += board.read_midi_packets(2000)
    finally:
        stop_capture(target, capture)
    return Exchange(descriptor, echoed)


def _index(events: list[dv.DeviceEvent], start: int, event: int, endpoint: int, data: bytes | None = None,
           ) -> int:
    """The position of the first event from `start` on that matches; AssertionError when none does."""
    for i in range(start, len(events)):
        e = events[i]
        if e.event == event and e.endpoint == endpoint and (data is None or e.data == data):
            return i
    name = dv.EVENT_NAMES.get(event, event)
    raise AssertionError(f"no {name} event on endpoint 0x{endpoint:02x} after device event {start}")


def check_device_side(frames: list[Frame], seen: Exchange) -> None:
    """Assert the capture has the usbmon interface and the device-side one, and that the device side
    shows the exchange in order, in emulated time that only goes forward."""
    host = [f for f in frames if f.interface == 0]
    device = [f for f in frames if f.interface == 1]
    assert host and all(f.event is None and "usb" in f.protocols for f in host), "usbmon interface 0"
    assert device, "no frames on the device-side interface"
    assert {f.interface for f in frames} == {0, 1}
    for f in device:
        assert f.interface_name == dv.INTERFACE_NAME
        assert f.interface_description == dv.INTERFACE_DESCRIPTION
        assert f.protocols == "exported_pdu:data", f"device-side frame dissected as {f.protocols}"
        assert f.event is not None
        assert f.comments == [f.event.describe()], f"comment {f.comments} for {f.event}"
    stamps = [f.stamp_ns for f in device]
    assert all(a <= b for a, b in itertools.pairwise(stamps)), "emulated time went backwards"
    assert stamps[-1] > stamps[0]
    events = [f.event for f in device if f.event is not None]
    # GET_DESCRIPTOR(DEVICE): the SETUP, the firmware arms EP0 IN with the descriptor (DATA1, USB 2.0
    # 8.5.3: the data stage starts with DATA1), the host takes it, then the status stage on EP0 OUT.
    at = _index(events, 0, dv.SETUP, 0x00, GET_DEVICE_DESCRIPTOR)
    armed = _index(events, at, dv.ARM, 0x80, seen.descriptor)
    assert events[armed].pid == 1 and events[armed].length == 18
    at = _index(events, armed, dv.COMPLETE, 0x80, seen.descriptor)
    at = _index(events, at, dv.COMPLETE, 0x00, b"")
    # The MIDI echo: the packet lands in the armed EP_MIDI_OUT buffer, the firmware arms EP_MIDI_IN
    # with the echo, the host takes it.
    at = _index(events, at, dv.COMPLETE, c.EP_MIDI_OUT, ECHOED)
    armed = _index(events, at, dv.ARM, c.EP_MIDI_IN, seen.echoed)
    assert events[armed].length == len(seen.echoed)
    _index(events, armed, dv.COMPLETE, c.EP_MIDI_IN, seen.echoed)
    ep = c.EP_MIDI_IN & 0x0F
    assert f"EP{ep} IN armed {len(seen.echoed)} bytes DATA{events[armed].pid}" in \
        [t for f in device for t in f.comments]


def _link(target: Target) -> EmulatorLink | None:
    source = target.device_events()
    assert source is None or isinstance(source, EmulatorLink)
    return source


@needs_usb
def test_a_capture_holds_the_device_side_view(rig_target: Target, board: Board, tmp_path: Path) -> None:
    tshark()
    path = tmp_path / "device-side.pcapng"
    link = _link(rig_target)
    before = 0 if link is None else link.device_events
    seen = record_exchange(rig_target, board, path)
    assert seen.echoed == ECHOED
    frames = read_frames(path)
    if link is None:
        # Other targets are unchanged: the usbmon interface only.
        assert frames and {f.interface for f in frames} == {0}
        return
    check_device_side(frames, seen)
    assert link.device_events - before >= sum(f.interface == 1 for f in frames)


def _rewrite_records(source: Path, target: Path, endpoint: int, offset: int, value: bytes) -> int:
    """Copy `source` to `target` with `value` written at `offset` into the device-side record (`offset`
    -8: the time stamp) of every device-side packet on `endpoint`; returns how many changed."""
    data = bytearray(source.read_bytes())
    pos = changed = 0
    while pos < len(data):
        block_type, length = struct.unpack_from("<II", data, pos)
        if block_type == 6 and struct.unpack_from("<I", data, pos + 8)[0] == 1:
            record = pos + 28 + dv.TAGS_SIZE
            if data[record + 2] == endpoint:
                if offset < 0:
                    data[pos + 12:pos + 20] = value  # the EPB's time stamp (high, low words)
                else:
                    data[record + offset:record + offset + len(value)] = value
                changed += 1
        pos += length
    target.write_bytes(bytes(data))
    return changed


@needs_usb
def test_a_wrong_device_side_field_fails_the_check(rig_target: Target, board: Board, tmp_path: Path) -> None:
    tshark()
    if _link(rig_target) is None:
        assert rig_target.device_events() is None  # nothing to break: no device-side interface
        return
    path = tmp_path / "device-side.pcapng"
    seen = record_exchange(rig_target, board, path)
    check_device_side(read_frames(path), seen)
    wrong = {
        "endpoint": (c.EP_MIDI_IN, 2, bytes([0x83])),
        "event": (c.EP_MIDI_IN, 1, bytes([dv.STALL])),
        "time stamp": (c.EP_MIDI_IN, -8, struct.pack("<II", 0, 1)),
    }
    for name, (endpoint, offset, value) in wrong.items():
        broken = tmp_path / f"wrong-{name}.pcapng"
        assert _rewrite_records(path, broken, endpoint, offset, value) > 0
        with pytest.raises(AssertionError) as failed:
            check_device_side(read_frames(broken), seen)
        print(f"{name}: {str(failed.value).splitlines()[0]}")


@needs_usb
def test_capture_off_the_bridge_sends_no_events(rig_target: Target, board: Board,
                                                request: pytest.FixtureRequest) -> None:
    link = _link(rig_target)
    if link is None:
        assert rig_target.device_events() is None
        return
    if request.config.getoption("rig_capture") or request.config.getoption("rig_capture_file"):
        pytest.skip("this session records every test (--rig-capture): capture is not off")
    before_sent = link.info()["device_events"]
    before_received = link.device_events
    assert before_sent["on"] is False
    board.set_midi_mode(c.MidiMode.ECHO)
    board.device.ctrl_transfer(0x80, 0x06, 0x0100, 0, 18, 1000)
    board.write_midi_packets(ECHOED)
    echoed = b""
    while len(echoed) < len(ECHOED):
        echoed += board.read_midi_packets(2000)
    after_sent = link.info()["device_events"]
    assert after_sent == before_sent, "the bridge sent device-side events with capture off"
    assert link.device_events == before_received
    assert link.device_event_error is None


def test_rig_capture_of_the_emulator_has_both_interfaces(tmp_path: Path) -> None:
    """`--capture` on a command (as `rig throughput --rig emulator` runs it) records the device side too:
    each bulk OUT packet the rig sent landed in a buffer the firmware had armed on EP_FRAME_OUT."""
    tshark()
    path = tmp_path / "throughput.pcapng"
    rc = run_command(throughput_cmd, "throughput", "--rig", "emulator", "--direction", "out",
                     "--sizes", "100", "--frames", "3", "--report-dir", str(tmp_path / "rep"), "--no-history",
                     "--no-progress", "--jack", "never", "--capture", str(path))
    assert rc == 0
    frames = read_frames(path)
    device = [f.event for f in frames if f.interface == 1 and f.event is not None]
    assert {f.interface for f in frames} == {0, 1}
    landed = [e for e in device if e.event == dv.COMPLETE and e.endpoint == c.EP_FRAME_OUT]
    armed = [e for e in device if e.event == dv.ARM and e.endpoint == c.EP_FRAME_OUT]
    assert len(landed) >= 3 * 2 and len(armed) >= len(landed)  # 100 B frames and more go as 2+ packets


def test_a_malformed_device_event_is_a_named_error() -> None:
    good = dv.DeviceEvent(5, dv.ARM, 0x82, 1, 64, 0x2440, bytes(64))
    payload = struct.pack("<Q", 5) + good.record()
    assert dv.DeviceEvent.parse(payload) == good
    assert good.describe() == "EP2 IN armed 64 bytes DATA1"
    short, wrong_version, unknown_event = (payload[:19], payload[:8] + b"\x02" + payload[9:],
                                           payload[:9] + b"\x09" + payload[10:])
    for bad in (short, wrong_version, unknown_event):
        with pytest.raises(dv.DeviceEventError):
            dv.DeviceEvent.parse(bad)

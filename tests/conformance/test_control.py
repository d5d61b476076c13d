"""Conformance, control part: every vendor request and its layout, info against descriptors,
malformed requests STALL and leave the device working, GET_TIME is monotonic.

Runs through rig.client.board.Board and pyusb only, so it runs unchanged on every target with usb.

Clauses checked (each test's docstring names its own): docs/protocol.md, Vendor requests, Layouts, Identity
and Framing; USB 2.0 9.2.7.
"""

from __future__ import annotations

import time

import pytest
import usb.util

from rig import contract as c
from rig.client.board import Board
from rig.client.control import FRAMING_HEADER_SIZE, FRAMING_ITEM_SIZE
from rig.client.errors import TransferStalled
from rig.pytest_plugin.testing import require

pytestmark = pytest.mark.needs("usb")

IN_SIZES = {
    c.Request.GET_INFO: c.INFO.size,
    c.Request.GET_FRAMING: FRAMING_HEADER_SIZE + FRAMING_ITEM_SIZE,
    c.Request.GET_MIDI_MODE: c.MIDI_MODE_CONFIG.size,
    c.Request.GET_FRAME_MODE: c.FRAME_MODE_CONFIG.size,
    c.Request.GET_TIME: c.TIME.size,
    c.Request.GET_STATS: c.STATS.size,
}


@pytest.mark.parametrize("request_code", list(IN_SIZES), ids=lambda r: r.name)
def test_every_in_request_answers_with_its_layout_size(board: Board, request_code: c.Request) -> None:
    """docs/protocol.md, Vendor requests and Layouts: each IN request answers with its layout's full size
    (info 28, GET_FRAMING 112, midi_mode_config 12, frame_mode_config 16, time 8, stats 72 bytes)."""
    data = board.control_in(request_code, IN_SIZES[request_code])
    assert len(data) == IN_SIZES[request_code]


def test_info_matches_contract_and_descriptors(board: Board) -> None:
    """docs/protocol.md, Layouts (info) against Identity and Interfaces and endpoints: contract version,
    bcdDevice = the firmware version, iSerialNumber = the unique ID in 16 hex digits, VID:PID, cables, and
    each capability's interface class, bulk endpoints and limits as the descriptors declare them."""
    info = board.info()
    dev = board.device
    assert info.contract_version == c.CONTRACT_VERSION
    major, minor, patch = info.firmware_version
    bcd = (major << 8) | ((minor & 0xF) << 4) | (patch & 0xF)
    assert dev.bcdDevice == bcd, "bcdDevice != GET_INFO version"
    assert board.serial_number == info.unique_id_hex, "iSerialNumber is not the unique ID"
    assert len(board.serial_number) == c.SERIAL_NUMBER_HEX_DIGITS
    assert (dev.idVendor, dev.idProduct) == (c.VID, c.PID)
    assert info.midi_cables == c.MIDI_CABLES
    cfg = dev.get_active_configuration()
    interfaces = {(i.bInterfaceNumber, i.bAlternateSetting): i for i in cfg}
    classes = {num: (i.bInterfaceClass, i.bInterfaceSubClass) for (num, _), i in interfaces.items()}
    if c.Capability.MIDI in info.capabilities:
        assert classes.get(c.IF_MIDI_STREAMING) == (c.CLASS_AUDIO, c.SUBCLASS_MIDI_STREAMING)
    if c.Capability.FRAMES in info.capabilities:
        assert classes.get(c.IF_VENDOR, (None,))[0] == c.CLASS_VENDOR
        vendor = interfaces[(c.IF_VENDOR, 0)]
        eps = {e.bEndpointAddress: e for e in vendor}
        assert set(eps) == {c.EP_FRAME_OUT, c.EP_FRAME_IN}
        for ep in eps.values():
            assert usb.util.endpoint_type(ep.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
            assert ep.wMaxPacketSize == c.BULK_PACKET_SIZE
        assert 0 < info.max_payload <= c.FRAME_MAX_PAYLOAD
        assert info.ring_slots >= 1
    if c.Capability.CONSOLE in info.capabilities:
        assert classes.get(c.IF_CDC_COMM) == (c.CLASS_CDC, c.SUBCLASS_CDC_ACM)
        assert classes.get(c.IF_CDC_DATA, (None,))[0] == c.CLASS_CDC_DATA


def test_framing_describes_the_ring(board: Board) -> None:
    """docs/protocol.md, Framing: GET_FRAMING's one item gives Frames = the ring's slots, FileAlignment = the
    contract's mask and FramingRange header .. header + max_payload."""
    info = board.info()
    framing = board.framing()
    (item,) = framing.items
    assert framing.pin_flags == 0
    assert item.frames == info.ring_slots
    assert item.alignment_mask == c.FRAME_ALIGNMENT_MASK
    span = item.framing_range.range
    assert (span.min_frame_size, span.max_frame_size) == (c.FRAME_HEADER.size,
                                                           c.FRAME_HEADER.size + info.max_payload)


@pytest.mark.parametrize("config", [
    {"mode": c.MidiMode.ECHO},
    {"mode": c.MidiMode.TRANSFORM, "transpose": -5},
    {"mode": c.MidiMode.TRANSFORM, "transpose": 12},
    {"mode": c.MidiMode.SINK},
    {"mode": c.MidiMode.SOURCE, "rate_hz": 1, "count": 1},
], ids=lambda cfg: "-".join(f"{v.name if hasattr(v, 'name') else v}" for v in cfg.values()))
def test_midi_mode_round_trips(board: Board, config: dict[str, int]) -> None:
    """docs/protocol.md, Vendor requests (SET_MIDI_MODE / GET_MIDI_MODE) and Layouts (midi_mode_config): what
    is set is read back field for field; SET_MIDI_MODE(ECHO) then stops SOURCE."""
    board.set_midi_mode(**config)
    got = board.midi_mode()
    try:
        assert got.mode == config["mode"]
        for key in ("transpose", "rate_hz", "count"):
            assert getattr(got, key) == config.get(key, 0), key
    finally:
        board.set_midi_mode(c.MidiMode.ECHO)  # stops SOURCE and empties the IN queue (docs/protocol.md)
    assert board.midi_mode().mode is c.MidiMode.ECHO


@pytest.mark.needs("frames")
@pytest.mark.parametrize("mode", list(c.FrameMode), ids=lambda m: m.name)
def test_frame_mode_round_trips(board: Board, mode: c.FrameMode) -> None:
    """docs/protocol.md, Vendor requests (SET_FRAME_MODE / GET_FRAME_MODE) and Layouts (frame_mode_config):
    what is set is read back field for field; a SOURCE of count 1 sends one frame."""
    count = 1 if mode is c.FrameMode.SOURCE else 0
    board.set_frame_mode(mode, payload_len=16, count=count, interval_us=250)
    got = board.frame_mode()
    try:
        assert (got.mode, got.payload_len, got.count, got.interval_us) == (mode, 16, count, 250)
    finally:
        drained = board.drain_frames()
        assert len(drained) == count
        board.set_frame_mode(c.FrameMode.ECHO)
    assert board.frame_mode().mode is c.FrameMode.ECHO


def test_get_time_is_monotonic_and_advances(board: Board) -> None:
    """docs/protocol.md, Layouts (time: microseconds since boot): GET_TIME never goes backwards and advances
    over 10 ms."""
    readings = [board.time_us() for _ in range(50)]
    assert readings == sorted(readings), "GET_TIME went backwards"
    time.sleep(0.01)
    assert board.time_us() > readings[-1], "GET_TIME did not advance over 10 ms"


def test_reset_stats_zeroes_every_counter(board: Board) -> None:
    """docs/protocol.md, Vendor requests (RESET_STATS zeroes every counter, itself included; GET_STATS is
    already counted in control_requests): only the GET_STATS may be counted after it."""
    board.time_us()
    board.info()
    board.reset_stats()
    stats = board.stats()
    nonzero = {k: v for k, v in stats.items() if v and k != "control_requests"}
    assert nonzero == {}
    assert stats["control_requests"] <= 1, "only GET_STATS itself may be counted"


def _midi_config(**fields: int) -> bytes:
    return c.MIDI_MODE_CONFIG.pack(**fields)


def _frame_config(**fields: int) -> bytes:
    return c.FRAME_MODE_CONFIG.pack(**fields)


IN, OUT = c.VENDOR_REQUEST_TYPE_IN, c.VENDOR_REQUEST_TYPE_OUT
MALFORMED: list[tuple[str, int, int, bytes | int]] = [
    ("unknown-bRequest-in", IN, 0x7F, 8),
    ("unknown-bRequest-out", OUT, 0x7F, b""),
    ("unknown-bRequest-zero", OUT, 0x00, b""),
    ("get-info-as-out", OUT, c.Request.GET_INFO, b""),
    ("get-stats-as-out", OUT, c.Request.GET_STATS, b""),
    ("set-midi-mode-as-in", IN, c.Request.SET_MIDI_MODE, c.MIDI_MODE_CONFIG.size),
    ("reset-stats-as-in", IN, c.Request.RESET_STATS, 1),
    ("set-midi-mode-short", OUT, c.Request.SET_MIDI_MODE, _midi_config()[:-1]),
    ("set-midi-mode-long", OUT, c.Request.SET_MIDI_MODE, _midi_config() + b"\0"),
    ("set-midi-mode-empty", OUT, c.Request.SET_MIDI_MODE, b""),
    ("set-frame-mode-short", OUT, c.Request.SET_FRAME_MODE, _frame_config()[:-1]),
    ("set-frame-mode-long", OUT, c.Request.SET_FRAME_MODE, _frame_config() + b"\0"),
    ("reset-stats-with-data", OUT, c.Request.RESET_STATS, b"\0"),
    ("midi-mode-4", OUT, c.Request.SET_MIDI_MODE, _midi_config(mode=len(c.MidiMode))),
    ("midi-mode-255", OUT, c.Request.SET_MIDI_MODE, _midi_config(mode=0xFF)),
    ("midi-source-rate-0", OUT, c.Request.SET_MIDI_MODE, _midi_config(mode=c.MidiMode.SOURCE, rate_hz=0)),
    ("midi-cable-out-of-range", OUT, c.Request.SET_MIDI_MODE, _midi_config(cable=c.MIDI_CABLES)),
    ("frame-mode-3", OUT, c.Request.SET_FRAME_MODE, _frame_config(mode=len(c.FrameMode))),
    ("frame-mode-255", OUT, c.Request.SET_FRAME_MODE, _frame_config(mode=0xFF)),
    ("frame-payload-too-long", OUT, c.Request.SET_FRAME_MODE,
     _frame_config(mode=c.FrameMode.SOURCE, payload_len=c.FRAME_MAX_PAYLOAD + 1, count=1)),
    ("frame-payload-u32-max", OUT, c.Request.SET_FRAME_MODE,
     _frame_config(mode=c.FrameMode.SOURCE, payload_len=0xFFFFFFFF, count=1)),
]


@pytest.mark.parametrize(("bm", "code", "data"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_request_stalls_and_device_keeps_working(board: Board, bm: int, code: int,
                                                           data: bytes | int) -> None:
    """docs/protocol.md, Vendor requests: a wrong direction, an unknown bRequest or a malformed data stage
    (bad length, mode, cable, SOURCE rate, payload_len) is answered with STALL (USB 2.0 9.2.7), counted once
    in control_stalls, changes no mode, and the board keeps working."""
    midi_before, frame_before = board.midi_mode(), board.frame_mode()
    with pytest.raises(TransferStalled, match="stalled"):
        board.raw_control(bm, code, 0, 0, data)
    assert board.host.control_stalls == 1
    assert board.midi_mode() == midi_before, "a stalled request changed the MIDI mode"
    assert board.frame_mode() == frame_before, "a stalled request changed the frame mode"
    assert board.info().contract_version == c.CONTRACT_VERSION
    assert board.stats()["control_stalls"] == 1


@pytest.mark.needs("frames")
def test_payload_len_beyond_this_boards_max_is_refused(board: Board) -> None:
    """docs/protocol.md, Layouts (frame_mode_config: payload_len 0..max_payload) and Vendor requests
    (SET_FRAME_MODE STALLs on payload_len > FRAME_MAX_PAYLOAD): the host refuses a payload_len above this
    board's max_payload, and a board whose max_payload is below the contract's STALLs it."""
    info = board.info()
    require(c.Capability.FRAMES in info.capabilities, f"{board.name} has no frames")
    with pytest.raises(ValueError, match="payload_len"):
        board.set_frame_mode(c.FrameMode.SOURCE, payload_len=info.max_payload + 1, count=1)
    if info.max_payload < c.FRAME_MAX_PAYLOAD:
        with pytest.raises(TransferStalled):
            board.raw_control(OUT, c.Request.SET_FRAME_MODE, 0, 0, _frame_config(
                mode=c.FrameMode.SOURCE, payload_len=info.max_payload + 1, count=1))

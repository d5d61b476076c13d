"""Conformance, frames part: ECHO at every interesting size, SOURCE and SINK honoured, CRC checked
on both sides, no sequence gaps, and backpressure that loses nothing.

Every test ends with the books balanced (the plugin compares device and host counters).

Clauses checked (each test's docstring names its own): docs/protocol.md, Frames, Ring and backpressure and
Layouts.
"""

from __future__ import annotations

import zlib

import pytest

from rig import contract as c
from rig.client.board import Board
from rig.client.errors import TransferTimeout
from rig.contract import frame_wire as frames
from rig.pytest_plugin.testing import require

pytestmark = pytest.mark.needs("usb", "frames")

SIZES = [0, 1, 24, 63, 64, 65, 88, 4095, 4096, 4097, "max"]
"""24 and 88 make header + payload a multiple of the packet size (the transfer ends with a ZLP)."""
NO_FRAME_MS = 100
"""How long a read waits when the test expects nothing to come."""


def payload(length: int, salt: int = 0) -> bytes:
    """A deterministic payload that differs per (length, salt), so a mixed-up frame is noticed."""
    return bytes((i * 7 + length + salt * 13) & 0xFF for i in range(length))


def _size(board: Board, size: int | str) -> int:
    limit = board.cached_info().max_payload
    length = limit if size == "max" else int(size)
    require(length <= limit, f"{board.name} max_payload is {limit}, below {length}")
    return length


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_echo_returns_the_payload(echo_board: Board, size: int | str) -> None:
    """docs/protocol.md, Frames (ECHO: payload and CRC unchanged, flags = ECHOED, seq = the IN sequence from
    0, rx_time_us <= tx_time_us): at every size around the packet and ZLP boundaries, and one frame sent gives
    exactly one back."""
    board = echo_board
    length = _size(board, size)
    data = payload(length)
    seq = board.send_frame(data)
    frame = board.receive_frame()
    assert bytes(frame.payload) == data
    assert frame.payload_crc == zlib.crc32(data)
    assert frame.seq == seq == 0
    assert c.FrameFlag.ECHOED in frame.flags
    if c.Capability.TIMESTAMPS in board.cached_info().capabilities:
        assert 0 < frame.rx_time_us <= frame.tx_time_us, "device times missing or out of order"
    with pytest.raises(TransferTimeout):
        board.receive_frame(NO_FRAME_MS)


def test_echo_many_frames_keeps_order_and_sequence(echo_board: Board) -> None:
    """docs/protocol.md, Frames: sequence numbers count per direction from 0, +1 per frame; echoes come back
    in order with no gap or repeat, over three times the ring's slots."""
    board = echo_board
    limit = board.cached_info().max_payload
    lengths = [(i * 37) % min(limit + 1, 700) for i in range(3 * board.cached_info().ring_slots)]
    for i, length in enumerate(lengths):
        assert board.send_frame(payload(length, i)) == i
        frame = board.receive_frame()
        assert frame.seq == i
        assert bytes(frame.payload) == payload(length, i)
    assert board.seq_gaps == [] and board.seq_repeats == []


@pytest.mark.parametrize("size", [0, 64, 1000, "max"], ids=str)
def test_source_honours_count_and_payload_len(board: Board, size: int | str) -> None:
    """docs/protocol.md, Frames (SOURCE: `count` frames of `payload_len` bytes, flags = SOURCED) and Vendor
    requests (SET_FRAME_MODE restarts the sequences at 0): exactly count frames, seq 0..count-1."""
    length = _size(board, size)
    count = 5
    board.set_frame_mode(c.FrameMode.SOURCE, payload_len=length, count=count)
    got = [board.receive_frame() for _ in range(count)]
    with pytest.raises(TransferTimeout):
        board.receive_frame(NO_FRAME_MS)
    board.set_frame_mode(c.FrameMode.ECHO)
    assert [f.seq for f in got] == list(range(count)), "sequence numbers not consecutive from 0"
    assert all(f.payload_len == length for f in got)
    assert all(c.FrameFlag.SOURCED in f.flags for f in got)


def test_source_at_an_interval_is_paced_by_the_device_clock(board: Board) -> None:
    """docs/protocol.md, Frames (SOURCE: one frame every interval_us) and Layouts (frame_header tx_time_us):
    device transmit times are in order and no frame is sent before its time."""
    count, interval = 4, 2000
    timestamps = c.Capability.TIMESTAMPS in board.cached_info().capabilities
    before = board.time_us() if timestamps else 0
    board.set_frame_mode(c.FrameMode.SOURCE, payload_len=8, count=count, interval_us=interval)
    got = [board.receive_frame() for _ in range(count)]
    board.set_frame_mode(c.FrameMode.ECHO)
    if timestamps:
        stamps = [f.tx_time_us for f in got]
        assert stamps == sorted(stamps), f"device transmit times out of order: {stamps}"
        # Frame i is due `i` intervals after the mode starts, which is after `before` (read from the
        # device's clock first): a device may send a frame late (a loaded host delays the twin's
        # thread) but never early.
        early = [(i, t - before) for i, t in enumerate(stamps) if t < before + i * interval]
        assert not early, f"frames sent before their time (index, us after the request): {early}"


def test_sink_counts_and_sends_nothing(board: Board) -> None:
    """docs/protocol.md, Frames (SINK: frames are checked and counted; nothing is sent) and Layouts (stats
    frames_rx, frame_bytes_rx, frames_tx)."""
    board.set_frame_mode(c.FrameMode.SINK)
    limit = board.cached_info().max_payload
    lengths = [0, 1, 64, min(limit, 4097), limit]
    for i, length in enumerate(lengths):
        board.send_frame(payload(length, i))
    with pytest.raises(TransferTimeout):
        board.receive_frame(NO_FRAME_MS)
    stats = board.stats()
    assert stats["frames_rx"] == len(lengths)
    assert stats["frame_bytes_rx"] == sum(lengths)
    assert stats["frames_tx"] == 0
    board.set_frame_mode(c.FrameMode.ECHO)


def test_corrupted_crc_is_counted_and_the_device_keeps_working(echo_board: Board) -> None:
    """docs/protocol.md, Frames: a frame whose payload CRC-32 does not match counts in frames_bad_crc and is
    dropped without costing a sequence number; the next good frame is echoed."""
    board = echo_board
    good = frames.encode(payload(100), seq=board.next_tx_seq)
    bad = bytearray(good)
    bad[-1] ^= 0x55
    board.send_raw_frame(bytes(bad), bad="crc")
    with pytest.raises(TransferTimeout):
        board.receive_frame(NO_FRAME_MS)
    assert board.stats()["frames_bad_crc"] == 1
    board.send_frame(payload(100))
    assert bytes(board.receive_frame().payload) == payload(100)
    assert board.stats()["frames_seq_gap"] == 0, "a dropped bad frame must not cost a sequence number"


@pytest.mark.parametrize("damage", ["magic", "version", "header_len", "payload_len_long", "payload_len_short",
                                    "truncated"])
def test_bad_header_is_counted_and_the_device_keeps_working(echo_board: Board, damage: str) -> None:
    """docs/protocol.md, Frames: a frame with a bad magic, version, header_len or length (too long, too short,
    truncated) counts in frames_bad_header and is dropped; the next good frame is echoed."""
    board = echo_board
    good = bytearray(frames.encode(payload(50), seq=board.next_tx_seq))
    fields = c.FRAME_HEADER.unpack(bytes(good[:c.FRAME_HEADER.size]))
    if damage == "magic":
        fields["magic"] = 0x12345678
    elif damage == "version":
        fields["version"] = c.FRAME_VERSION + 1
    elif damage == "header_len":
        fields["header_len"] = c.FRAME_HEADER.size + 4
    elif damage == "payload_len_long":
        fields["payload_len"] = 51
    elif damage == "payload_len_short":
        fields["payload_len"] = 49
    broken = c.FRAME_HEADER.pack(**fields) + bytes(good[c.FRAME_HEADER.size:])
    if damage == "truncated":
        broken = bytes(good[:c.FRAME_HEADER.size - 8])
    board.send_raw_frame(broken, bad="header")
    with pytest.raises(TransferTimeout):
        board.receive_frame(NO_FRAME_MS)
    assert board.stats()["frames_bad_header"] == 1
    board.send_frame(payload(50))
    assert bytes(board.receive_frame().payload) == payload(50)


def test_host_refuses_a_payload_beyond_max(board: Board) -> None:
    """docs/protocol.md, Layouts (info max_payload: the largest frame payload): the host refuses to send a
    longer payload and sends nothing."""
    limit = board.cached_info().max_payload
    with pytest.raises(ValueError, match="max_payload"):
        board.send_frame(bytes(limit + 1))
    assert board.host.frames_tx == 0


def test_backpressure_loses_nothing(echo_board: Board) -> None:
    """docs/protocol.md, Ring and backpressure: when the ring is full the board leaves EP_FRAME_OUT unarmed
    (ring_full_naks, the write times out), never drops a frame, ring_high_water = the slots, and takes frames
    again once they are read; everything written comes back in order."""
    board = echo_board
    slots = board.cached_info().ring_slots
    written: list[bytes] = []
    for i in range(4 * slots + 16):
        data = payload(16, i)  # header + 16 bytes is one packet: a NAKed write is all or nothing
        try:
            board.send_frame(data, timeout=NO_FRAME_MS)
        except TransferTimeout:
            break
        written.append(data)
    else:
        pytest.fail(f"{len(written)} frames written without a read and the device never pushed back")
    assert len(written) >= slots, f"device pushed back after {len(written)} frames; its ring has {slots}"
    stats = board.stats()
    assert stats["ring_full_naks"] > 0
    assert stats["ring_high_water"] == slots
    back = board.drain_frames()
    assert [bytes(f.payload) for f in back] == written, "frames lost, duplicated or reordered"
    assert [f.seq for f in back] == list(range(len(written)))
    # and the device takes new frames again
    board.send_frame(payload(16, 999))
    assert bytes(board.receive_frame().payload) == payload(16, 999)


def test_streaming_with_a_reader_thread_loses_nothing(echo_board: Board) -> None:
    """docs/protocol.md, Frames and Ring and backpressure: writer and reader run at once (as a streaming host
    does) and every frame comes back, in order, in sequence."""
    import threading

    board = echo_board
    count, length = 300, min(1000, board.cached_info().max_payload)
    received: list[tuple[int, bytes]] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(count):
                frame = board.receive_frame(5000)
                received.append((frame.seq, bytes(frame.payload)))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=reader, name="frame reader", daemon=True)
    thread.start()
    for i in range(count):
        board.send_frame(payload(length, i), timeout=5000)
    thread.join(timeout=60)
    assert not thread.is_alive(), "reader thread did not finish"
    assert not errors, errors
    assert [seq for seq, _ in received] == list(range(count))
    assert all(data == payload(length, i) for i, (_, data) in enumerate(received))


def test_echo_round_trips_any_payload(echo_board: Board) -> None:
    """docs/protocol.md, Frames (ECHO): property: whatever the payload (bytes and length), ECHO returns it
    unchanged, in sequence."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    board = echo_board
    limit = min(board.cached_info().max_payload, 2048)

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.binary(max_size=limit))
    def round_trip(data: bytes) -> None:
        seq = board.send_frame(data)
        frame = board.receive_frame()
        assert (frame.seq, bytes(frame.payload)) == (seq, data)

    round_trip()

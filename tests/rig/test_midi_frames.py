"""MIDI modes on the raw USB-MIDI endpoints and frame modes on the vendor endpoints, through pyusb,
with the books balanced: the device's counters equal what the host sent and received."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import usb.core

from rig import contract as c
from rig.contract import frame_wire as frames
from rig.links.pyusb_backend import LinkBackend
from rig.loopback import LoopbackBoard, ManualClock
from rig.loopback.midi import source_seq

IN, OUT = c.VENDOR_REQUEST_TYPE_IN, c.VENDOR_REQUEST_TYPE_OUT
READ_SIZE = frames.HEADER_SIZE + c.FRAME_MAX_PAYLOAD + 64 - (frames.HEADER_SIZE + c.FRAME_MAX_PAYLOAD) % 64
SIZES = [0, 1, 63, 64, 65, 4095, 4096, 4097, c.FRAME_MAX_PAYLOAD]


def stats(dev: usb.core.Device) -> dict[str, int]:
    raw = c.STATS.unpack(bytes(dev.ctrl_transfer(IN, c.Request.GET_STATS, 0, 0, c.STATS.size, 1000)))
    return {k: int(v) for k, v in raw.items() if isinstance(v, int)}


def set_midi(dev: usb.core.Device, mode: c.MidiMode, **kw: int) -> None:
    dev.ctrl_transfer(OUT, c.Request.SET_MIDI_MODE, 0, 0, c.MIDI_MODE_CONFIG.pack(mode=int(mode), **kw), 1000)


def set_frames(dev: usb.core.Device, mode: c.FrameMode, **kw: int) -> None:
    dev.ctrl_transfer(OUT, c.Request.SET_FRAME_MODE, 0, 0, c.FRAME_MODE_CONFIG.pack(mode=int(mode), **kw),
                      1000)


def read_midi(dev: usb.core.Device, packets: int) -> bytes:
    out = b""
    while len(out) < 4 * packets:
        out += bytes(dev.read(c.EP_MIDI_IN, 64, 1000))
    return out


def notes(count: int) -> bytes:
    return b"".join(bytes((0x09, 0x90, i % 128, 1 + i % 127)) for i in range(count))


# --- MIDI ---------------------------------------------------------------------------------


def test_midi_echo_many_packets_balanced(dev: usb.core.Device) -> None:
    data = notes(100) + bytes((0x0B, 0xB0, 7, 100)) + bytes((0x0F, 0xF8, 0, 0))
    dev.write(c.EP_MIDI_OUT, data, 1000)
    assert read_midi(dev, 102) == data
    s = stats(dev)
    assert (s["midi_rx_packets"], s["midi_tx_packets"], s["midi_rx_bad"]) == (102, 102, 0)


def test_midi_padding_and_bad_packets(dev: usb.core.Device) -> None:
    bad_cin = bytes((0x01, 1, 2, 3))
    bad_cable = bytes((0x19, 0x90, 1, 1))
    dev.write(c.EP_MIDI_OUT, notes(1) + bytes(4) + bad_cin + bad_cable + b"\x09\x90", 1000)
    assert read_midi(dev, 1) == notes(1)
    with pytest.raises(usb.core.USBTimeoutError):
        dev.read(c.EP_MIDI_IN, 64, 20)
    s = stats(dev)
    assert (s["midi_rx_packets"], s["midi_rx_bad"], s["midi_tx_packets"]) == (4, 3, 1)


def test_midi_transform(dev: usb.core.Device) -> None:
    set_midi(dev, c.MidiMode.TRANSFORM, transpose=5)
    sent = bytes((0x09, 0x90, 126, 64, 0x08, 0x80, 10, 0, 0x0A, 0xA0, 60, 5, 0x0B, 0xB0, 60, 5,
                  0x0E, 0xE0, 60, 5))
    dev.write(c.EP_MIDI_OUT, sent, 1000)
    assert read_midi(dev, 5) == bytes((0x09, 0x90, 3, 64, 0x08, 0x80, 15, 0, 0x0A, 0xA0, 65, 5,
                                      0x0B, 0xB0, 60, 5, 0x0E, 0xE0, 60, 5))
    set_midi(dev, c.MidiMode.TRANSFORM, transpose=-12)
    dev.write(c.EP_MIDI_OUT, bytes((0x09, 0x90, 3, 1)), 1000)
    assert read_midi(dev, 1) == bytes((0x09, 0x90, 119, 1))


def test_midi_sink_counts_and_sends_nothing(dev: usb.core.Device) -> None:
    set_midi(dev, c.MidiMode.SINK)
    dev.write(c.EP_MIDI_OUT, notes(40), 1000)
    with pytest.raises(usb.core.USBTimeoutError):
        dev.read(c.EP_MIDI_IN, 64, 20)
    s = stats(dev)
    assert (s["midi_rx_packets"], s["midi_tx_packets"]) == (40, 0)


def test_midi_source_sequence_and_count() -> None:
    board = LoopbackBoard(clock=ManualClock(), console_pty=False)
    try:
        dev = usb.core.find(backend=LinkBackend([board]))
        dev.set_configuration()
        set_midi(dev, c.MidiMode.SOURCE, rate_hz=1000, count=300)
        data = read_midi(dev, 600)
        packets = [data[i:i + 4] for i in range(0, len(data), 4)]
        ons = [source_seq(p) for p in packets[0::2]]
        assert ons == list(range(300))
        assert all(p[0] == 0x08 and p[1] == 0x80 and p[3] == 0 for p in packets[1::2])
        assert packets[2 * 200] == bytes((0x09, 0x90, 200 & 0x7F, 1 + (200 >> 7)))
        # Nothing after the 300th pair; a zero-length packet may come first (USB 2.0 5.8.3: a read that
        # ended on a full 64-byte packet is owed one; whether it did depends on how far SOURCE ran ahead
        # of the reads, and a CI run under load failed here so)
        more = b""
        with pytest.raises(usb.core.USBTimeoutError):
            while True:
                more += bytes(dev.read(c.EP_MIDI_IN, 64, 20))
        assert more == b""
        s = stats(dev)
        assert s["midi_tx_packets"] == 600
    finally:
        board.close()


def test_midi_source_is_paced_by_the_clock() -> None:
    clock = ManualClock()
    board = LoopbackBoard(clock=clock, console_pty=False)
    try:
        dev = usb.core.find(backend=LinkBackend([board]))
        dev.set_configuration()
        set_midi(dev, c.MidiMode.SOURCE, rate_hz=500, count=10)
        read_midi(dev, 20)
        # 20 events at 500 /s: the last one is due at 19 * 2000 us after the start
        assert clock.now_us() == 19 * 2000
    finally:
        board.close()


def test_midi_source_until_mode_change_then_stops(dev: usb.core.Device, board: LoopbackBoard) -> None:
    set_midi(dev, c.MidiMode.SOURCE, rate_hz=100_000, count=0)
    read_midi(dev, 64)
    set_midi(dev, c.MidiMode.SINK)
    assert not [t for t in threading.enumerate() if t.name == "loopback midi source"]


def test_midi_in_queue_full_naks_the_out_endpoint(dev: usb.core.Device) -> None:
    data = notes(16)
    written = 0
    with pytest.raises(usb.core.USBTimeoutError):
        for _ in range(100):
            dev.write(c.EP_MIDI_OUT, data, 50)
            written += 16
    assert written == 256  # MIDI_IN_CAPACITY packets, then the device NAKs
    got = read_midi(dev, 256)
    assert got == data * 16
    s = stats(dev)
    # the 17th USB packet was NAKed, not received: nothing dropped, one blocking counted (issue #15 item 8)
    assert s["midi_tx_overflow"] == 1 and s["midi_rx_packets"] == 256


# --- frames ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_frame_echo_sizes(dev: usb.core.Device, size: int) -> None:
    payload = bytes((i * 7 + size) & 0xFF for i in range(size))
    dev.write(c.EP_FRAME_OUT, frames.encode(payload, 0), 1000)
    frame = frames.decode(bytes(dev.read(c.EP_FRAME_IN, READ_SIZE, 1000)))
    assert bytes(frame.payload) == payload and frame.seq == 0
    assert frame.flags == c.FrameFlag.ECHOED and 0 < frame.rx_time_us <= frame.tx_time_us
    s = stats(dev)
    assert (s["frames_rx"], s["frames_tx"], s["frame_bytes_rx"], s["frame_bytes_tx"]) == (1, 1, size, size)


@pytest.mark.parametrize("size", SIZES)
def test_frame_source_sizes(dev: usb.core.Device, size: int) -> None:
    set_frames(dev, c.FrameMode.SOURCE, payload_len=size, count=3)
    tracker = frames.SequenceTracker()
    for _ in range(3):
        frame = frames.decode(bytes(dev.read(c.EP_FRAME_IN, READ_SIZE, 1000)))
        assert tracker.check(frame.seq)
        assert bytes(frame.payload) == frames.source_payload(frame.seq, size)
        assert frame.flags == c.FrameFlag.SOURCED and frame.rx_time_us == 0
    with pytest.raises(usb.core.USBTimeoutError):
        dev.read(c.EP_FRAME_IN, READ_SIZE, 20)
    s = stats(dev)
    assert (s["frames_tx"], s["frame_bytes_tx"]) == (3, 3 * size)


@pytest.mark.parametrize("size", SIZES)
def test_frame_sink_sizes(dev: usb.core.Device, size: int) -> None:
    set_frames(dev, c.FrameMode.SINK)
    for seq in range(c.FRAME_RING_SLOTS + 2):  # a sink never fills the ring
        dev.write(c.EP_FRAME_OUT, frames.encode(bytes(size), seq), 1000)
    with pytest.raises(usb.core.USBTimeoutError):
        dev.read(c.EP_FRAME_IN, READ_SIZE, 20)
    s = stats(dev)
    n = c.FRAME_RING_SLOTS + 2
    assert (s["frames_rx"], s["frame_bytes_rx"], s["frames_tx"], s["frames_seq_gap"]) == (n, n * size, 0, 0)


def test_frame_source_interval_paced_by_clock() -> None:
    clock = ManualClock()
    board = LoopbackBoard(clock=clock, console_pty=False)
    try:
        dev = usb.core.find(backend=LinkBackend([board]))
        dev.set_configuration()
        set_frames(dev, c.FrameMode.SOURCE, payload_len=8, count=5, interval_us=250)
        times = [frames.decode(bytes(dev.read(c.EP_FRAME_IN, READ_SIZE, 1000))).tx_time_us for _ in range(5)]
        assert times == [0, 250, 500, 750, 1000]
    finally:
        board.close()


def test_bad_frames_are_counted_and_not_echoed(dev: usb.core.Device) -> None:
    good = frames.encode(b"hello", 0)
    bad_crc = good[:-1] + b"?"
    bad_magic = b"XXXX" + good[4:]
    dev.write(c.EP_FRAME_OUT, bad_crc, 1000)
    dev.write(c.EP_FRAME_OUT, bad_magic, 1000)
    dev.write(c.EP_FRAME_OUT, good[:30], 1000)
    dev.write(c.EP_FRAME_OUT, bytes(frames.HEADER_SIZE + c.FRAME_MAX_PAYLOAD + 100), 1000)
    dev.write(c.EP_FRAME_OUT, frames.encode(b"x", 5), 1000)  # good, but seq 5 where 0 was due
    frame = frames.decode(bytes(dev.read(c.EP_FRAME_IN, READ_SIZE, 1000)))
    assert bytes(frame.payload) == b"x" and frame.seq == 0  # the device's own IN sequence
    s = stats(dev)
    assert (s["frames_bad_crc"], s["frames_bad_header"], s["frames_rx"], s["frames_seq_gap"]) == (1, 3, 1, 1)


def test_backpressure_nothing_lost(dev: usb.core.Device) -> None:
    payload_len = 1000
    sent = 0
    timeouts = 0
    # write faster than we read: the ring fills and the OUT endpoint NAKs (the write times out)
    while sent < c.FRAME_RING_SLOTS + 1:
        try:
            dev.write(c.EP_FRAME_OUT, frames.encode(frames.source_payload(sent, payload_len), sent), 30)
            sent += 1
        except usb.core.USBTimeoutError:
            timeouts += 1
            break
    assert sent == c.FRAME_RING_SLOTS and timeouts == 1
    s = stats(dev)
    assert s["ring_full_naks"] == 1 and s["ring_high_water"] == c.FRAME_RING_SLOTS
    assert s["frames_rx"] == c.FRAME_RING_SLOTS
    # drain one, and the blocked frame goes in; then everything arrives, in order
    tracker = frames.SequenceTracker()
    first = frames.decode(bytes(dev.read(c.EP_FRAME_IN, READ_SIZE, 1000)))
    assert tracker.check(first.seq)
    dev.write(c.EP_FRAME_OUT, frames.encode(frames.source_payload(sent, payload_len), sent), 1000)
    received = [first]
    for _ in range(c.FRAME_RING_SLOTS):
        received.append(frames.decode(bytes(dev.read(c.EP_FRAME_IN, READ_SIZE, 1000))))
        assert tracker.check(received[-1].seq)
    assert [bytes(f.payload) for f in received] == [frames.source_payload(i, payload_len) for i in range(9)]
    s = stats(dev)
    assert (s["frames_rx"], s["frames_tx"], s["frames_seq_gap"]) == (9, 9, 0)
    assert s["frame_bytes_rx"] == s["frame_bytes_tx"] == 9 * payload_len
    assert s["ring_full_naks"] == 2 and tracker.ok


def test_a_writer_blocked_on_a_full_ring_resumes_when_the_reader_drains() -> None:
    board = LoopbackBoard(console_pty=False)
    try:
        dev = usb.core.find(backend=LinkBackend([board]))
        dev.set_configuration()
        total = 40
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                for seq in range(total):
                    dev.write(c.EP_FRAME_OUT, frames.encode(bytes(300), seq), 5000)
            except BaseException as exc:  # reported below
                errors.append(exc)

        thread = threading.Thread(target=writer)
        thread.start()
        tracker = frames.SequenceTracker()
        for _ in range(total):
            tracker.check(frames.decode(bytes(dev.read(c.EP_FRAME_IN, READ_SIZE, 5000))).seq)
        thread.join(timeout=10)
        assert not thread.is_alive() and not errors
        assert tracker.ok and tracker.received == total
        s = board.stats()
        assert s["frames_rx"] == s["frames_tx"] == total and s["ring_high_water"] <= c.FRAME_RING_SLOTS
    finally:
        board.close()


@pytest.fixture
def fresh_sequence(dev: usb.core.Device) -> Iterator[usb.core.Device]:
    dev.ctrl_transfer(OUT, c.Request.RESET_STATS, 0, 0, None, 1000)
    yield dev


def test_reset_stats_restarts_sequences(fresh_sequence: usb.core.Device) -> None:
    dev = fresh_sequence
    for seq in range(3):
        dev.write(c.EP_FRAME_OUT, frames.encode(b"a", seq), 1000)
        dev.read(c.EP_FRAME_IN, READ_SIZE, 1000)
    dev.ctrl_transfer(OUT, c.Request.RESET_STATS, 0, 0, None, 1000)
    dev.write(c.EP_FRAME_OUT, frames.encode(b"a", 0), 1000)
    assert frames.decode(bytes(dev.read(c.EP_FRAME_IN, READ_SIZE, 1000))).seq == 0
    assert stats(dev)["frames_seq_gap"] == 0

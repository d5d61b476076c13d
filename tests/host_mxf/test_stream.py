"""A3: NewStream-style graphs on one allocator — render and capture end to end, and across threads."""

from __future__ import annotations

import threading

import pytest

from host.ks.state import KsState
from host.ks.status import NtStatus
from host.midi.usbmidi import encode_message
from host.mxf.allocator import AllocatorMXF
from host.mxf.allocator_factory import new_allocator
from host.mxf.clock import ManualClock
from host.mxf.dmusbuff import iter_records, pack_records
from host.mxf.stream import CaptureStream, DmusStreamType, MxfPort, RenderStream


@pytest.mark.spec("A3")
def test_render_graph_end_to_end(alloc: AllocatorMXF, clock: ManualClock) -> None:
    """A3: Unpacker -> Sequencer -> render sink: packets come out when due, events go back."""
    out: list[bytes] = []
    port = MxfPort(alloc, clock)
    stream = port.new_stream(
        DmusStreamType.MIDI_RENDER, write_packets=out.append, schedule_prefetch_100ns=100
    )
    assert isinstance(stream, RenderStream)
    assert stream.set_state(KsState.RUN) == NtStatus.STATUS_SUCCESS
    buf = pack_records([(b"\x90\x40\x7f", 1, 1000, 1), (b"\x80\x40\x00", 1, 2000, 1)])
    assert stream.write(buf, 10_000) == NtStatus.STATUS_SUCCESS
    clock.set(10_900)
    stream.service()
    assert out == [encode_message(b"\x90\x40\x7f")]
    clock.set(11_900)
    stream.service()
    assert out[-1] == encode_message(b"\x80\x40\x00")
    assert alloc.stats().outstanding == 0


@pytest.mark.spec("A2")
def test_render_stop_discards(alloc: AllocatorMXF, clock: ManualClock) -> None:
    """A2: stopping a render stream discards what the sequencer holds to the allocator."""
    out: list[bytes] = []
    stream = MxfPort(alloc, clock).render_stream(out.append)
    stream.set_state(KsState.PAUSE)
    stream.write(pack_records([(b"\x90\x40\x7f", 1, 0, 1)] * 5), 0)
    assert alloc.stats().outstanding == 5
    stream.set_state(KsState.STOP)
    assert out == [] and alloc.stats().outstanding == 0


@pytest.mark.spec("A3")
def test_capture_graph_end_to_end(alloc: AllocatorMXF) -> None:
    """A3: raw bytes -> capture sink -> packer -> user-mode buffer with one record per message."""
    stream = MxfPort(alloc, ManualClock()).new_stream(DmusStreamType.MIDI_CAPTURE)
    assert isinstance(stream, CaptureStream)
    stream.set_state(KsState.RUN)
    stream.capture(b"\x90\x40\x7f\xf0\x01\x02\x03\x04\x05\x06\x07\x08\xf7", 500)
    stream.capture(b"\x80\x40\x00", 700)
    packed = stream.read(start_time_100ns=0)
    assert packed is not None
    assert [(r.data, r.rt_delta, r.channel_group) for r in iter_records(packed.data)] == [
        (b"\x90\x40\x7f", 500, 1),
        (b"\xf0\x01\x02\x03\x04\x05\x06\x07\x08\xf7", 500, 1),
        (b"\x80\x40\x00", 700, 1),
    ]
    assert alloc.stats().outstanding == 0


@pytest.mark.spec("A3")
def test_new_stream_arguments(alloc: AllocatorMXF) -> None:
    """A3: DMUS_STREAM_TYPE values ("DMUS_STREAM_TYPE enumeration": DMUS_STREAM_MIDI_INVALID = -1,
    then RENDER, CAPTURE, WAVE_SINK); render needs a writer; INVALID and WAVE_SINK are refused."""
    assert [int(t) for t in DmusStreamType] == [-1, 0, 1, 2]
    port = MxfPort(alloc)
    with pytest.raises(ValueError, match="DMUS_STREAM_MIDI_INVALID"):
        port.new_stream(DmusStreamType.MIDI_INVALID)
    with pytest.raises(ValueError, match="write_packets"):
        port.new_stream(DmusStreamType.MIDI_RENDER)
    with pytest.raises(ValueError, match="WAVE_SINK"):
        port.new_stream(DmusStreamType.WAVE_SINK)


@pytest.mark.spec("A2")
@pytest.mark.parametrize("checked", [True, False])
def test_render_and_capture_threads_share_one_allocator(checked: bool) -> None:
    """A2: render and capture run on different threads on one allocator; the books balance at the end."""
    alloc = new_allocator(512, checked=checked, buffer_size=64, buffer_count=64)
    clock = ManualClock()
    packets: list[bytes] = []
    port = MxfPort(alloc, clock)
    render = port.render_stream(packets.append)
    capture = port.capture_stream()
    render.set_state(KsState.RUN)
    capture.set_state(KsState.RUN)
    rounds = 150 if checked else 600
    notes = [(bytes([0x90, n, 100]), 1, n, 1) for n in range(16)]
    note_buf = pack_records([*notes, (b"\xf0" + bytes(70) + b"\xf7", 1, 20, 0)])
    records: list[bytes] = []
    errors: list[BaseException] = []

    def render_loop() -> None:
        try:
            for k in range(rounds):
                assert render.write(note_buf, k * 100) == NtStatus.STATUS_SUCCESS
                render.sequencer.service()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def capture_loop() -> None:
        try:
            for k in range(rounds):
                capture.capture(b"\x90\x40\x7f\xf0" + bytes(30) + b"\xf7\xf8", k)
                packed = capture.read(max_bytes=1 << 16)
                if packed is not None:
                    records.extend(r.data for r in iter_records(packed.data))
        except BaseException as exc:
            errors.append(exc)

    clock.set(1 << 40)  # everything is due at once: the sequencer releases as it receives
    threads = [threading.Thread(target=render_loop), threading.Thread(target=capture_loop)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "thread did not finish in 60 s"
    assert errors == []
    assert render.sink.events_rendered == rounds * 18  # the 72-byte SysEx is two fragments
    assert len(records) == rounds * 3
    st = alloc.stats()
    assert st.exhaustions == 0 and st.gets == st.puts
    alloc.assert_balanced()

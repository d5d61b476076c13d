"""A3: the render sink — events to USB-MIDI 1.0 packets, each event back to the allocator."""

from __future__ import annotations

import pytest

from host.ks.state import KsState
from host.ks.status import NtStatus
from host.midi.usbmidi import encode_message
from host.mxf import event as ev
from host.mxf.allocator import AllocatorMXF
from host.mxf.dmusbuff import pack_records
from host.mxf.render_sink import RenderSink
from host.mxf.unpacker import Unpacker

from .conftest import MakeAllocator
from .helpers import Collector, event


def make(alloc: AllocatorMXF, **kwargs: object) -> tuple[RenderSink, list[bytes]]:
    """A running render sink writing into a list (a sink outside RUN holds or discards: see below)."""
    out: list[bytes] = []
    sink = RenderSink(alloc, out.append, **kwargs)  # type: ignore[arg-type]
    for state in (KsState.ACQUIRE, KsState.PAUSE, KsState.RUN):
        sink.set_state(state)
    return sink, out


@pytest.mark.spec("A3")
def test_short_event_to_packet_and_back_to_allocator(alloc: AllocatorMXF) -> None:
    """A3: the miniport writes the data and PutMessages the event back to the allocator."""
    sink, out = make(alloc)
    assert sink.put_message(event(alloc, b"\x90\x40\x7f")) == NtStatus.STATUS_SUCCESS
    assert out == [encode_message(b"\x90\x40\x7f", 0)] == [b"\x09\x90\x40\x7f"]
    assert alloc.stats().outstanding == 0 and sink.events_rendered == 1 and sink.packet_bytes == 4


@pytest.mark.spec("A3")
def test_repeated_message_encodes_identically(alloc: AllocatorMXF) -> None:
    """A3: rendering the same message again gives the same packets (no state but running status)."""
    sink, out = make(alloc)
    for _ in range(3):
        sink.put_message(event(alloc, b"\xc3\x05"))
    assert out == [b"\x0c\xc3\x05\x00"] * 3


@pytest.mark.spec("A1")
def test_channel_group_selects_cable(alloc: AllocatorMXF) -> None:
    """A1: usChannelGroup g renders on USB-MIDI cable g-1 by default; a custom map can be given."""
    sink, out = make(alloc)
    sink.put_message(event(alloc, b"\x90\x40\x7f", group=3))
    assert out == [b"\x29\x90\x40\x7f"]
    sink2, out2 = make(alloc, cables={7: 5})
    sink2.put_message(event(alloc, b"\xf8", group=7))
    assert out2 == [encode_message(b"\xf8", 5)]
    with pytest.raises(ValueError, match=r"cables are 0\.\.15"):
        make(alloc, cables={1: 16})


@pytest.mark.spec("A3")
def test_unroutable_group_counted(alloc: AllocatorMXF) -> None:
    """A3: an event whose channel group has no cable is counted and still returned to the allocator."""
    sink, out = make(alloc)
    sink.put_message(event(alloc, b"\x90\x40\x7f", group=40))
    assert out == [] and sink.unroutable == 1 and alloc.stats().outstanding == 0


@pytest.mark.spec("A1", "A3")
def test_long_sysex_fragments_render_as_one_message(make_allocator: MakeAllocator) -> None:
    """A1/A3: an INCOMPLETE fragment chain renders exactly as the whole SysEx would."""
    alloc = make_allocator(16, buffer_size=16)
    sink, out = make(alloc)
    u = Unpacker(alloc)
    u.connect_output(sink)
    sysex = b"\xf0" + bytes(range(1, 45)) + b"\xf7"
    u.unpack(pack_records([(sysex, 1, 0, 0)]), 0)
    assert b"".join(out) == encode_message(sysex, 0)
    sink.put_message(event(alloc, b"\x90\x40\x7f"))
    assert out[-1] == b"\x09\x90\x40\x7f"


@pytest.mark.spec("A3")
def test_running_status_between_events(alloc: AllocatorMXF) -> None:
    """A3 [UNVERIFIED]: an event of data bytes only uses the last channel status on its cable (MIDI 1.0)."""
    sink, out = make(alloc)
    sink.put_message(event(alloc, b"\x90\x40\x7f"))
    sink.put_message(event(alloc, b"\x80\x40\x00"))
    sink.put_message(event(alloc, b"\x80\x40\x00"))  # memo hit must still set running status
    sink.put_message(event(alloc, b"\x41\x00"))
    assert out[-1] == encode_message(b"\x80\x41\x00", 0)


@pytest.mark.spec("A1", "A2")
def test_package_rendered_from_its_chain(alloc: AllocatorMXF) -> None:
    """A1/A2: a package event's pPackageEvt chain is rendered in order, then freed with the header."""
    sink, out = make(alloc)
    a, b = event(alloc, b"\x90\x40\x7f"), event(alloc, b"\x90\x43\x7f")
    a.p_next_evt = b
    header = alloc.get_message()
    assert header is not None
    ev.make_package(header, a)
    header.p_next_evt = event(alloc, b"\xfc")
    sink.put_message(header)
    assert b"".join(out) == b"\x09\x90\x40\x7f\x09\x90\x43\x7f\x0f\xfc\x00\x00"
    assert alloc.stats().outstanding == 0


@pytest.mark.spec("A1")
def test_package_with_small_cb_event_rendered_from_its_chain(alloc: AllocatorMXF) -> None:
    """A1 [UNVERIFIED] a PACKAGE_EVT header with cbEvent 0 is still a package (AllocatorMXF
    package_rule): its chain is rendered and everything returns to the allocator."""
    sink, out = make(alloc)
    header = alloc.get_message()
    assert header is not None
    ev.make_package(header, event(alloc, b"\x90\x40\x7f"))
    header.cb_event = 0
    sink.put_message(header)
    assert out == [b"\x09\x90\x40\x7f"] and alloc.stats().outstanding == 0


@pytest.mark.spec("A3")
def test_write_midi_gets_bytes_group_time(alloc: AllocatorMXF) -> None:
    """A3: the MIDI bytes of each event (with group and time) can be observed before packetising."""
    seen: list[tuple[bytes, int, int]] = []
    sink, out = make(alloc, write_midi=lambda d, g, t: seen.append((d, g, t)))
    sink.put_message(event(alloc, b"\xb0\x07\x64", time=42, group=2))
    assert seen == [(b"\xb0\x07\x64", 2, 42)] and out == [b"\x1b\xb0\x07\x64"]


@pytest.mark.spec("A2")
def test_render_stream_connect_output_always_fails(alloc: AllocatorMXF) -> None:
    """A2: ConnectOutput on a render miniport stream always fails."""
    sink, _ = make(alloc)
    assert sink.connect_output(Collector(alloc)) == NtStatus.STATUS_UNSUCCESSFUL
    assert sink.put_message(None) == NtStatus.STATUS_SUCCESS


@pytest.mark.spec("A1")
def test_pointer_size_4(make_allocator: MakeAllocator) -> None:
    """A1: with 4-byte pointers a 4-byte event is inline and a 5-byte one uses a buffer; both render."""
    alloc = make_allocator(8, pointer_size=4)
    sink, out = make(alloc)
    short, long_ = event(alloc, b"\xf2\x01\x02"), event(alloc, b"\xf0\x01\x02\x03\xf7")
    assert isinstance(short.u_data, bytes) and not isinstance(long_.u_data, bytes)
    sink.put_message(short)
    sink.put_message(long_)
    assert b"".join(out) == encode_message(b"\xf2\x01\x02") + encode_message(b"\xf0\x01\x02\x03\xf7")


@pytest.mark.spec("A2")
def test_stop_forgets_unfinished_sysex(alloc: AllocatorMXF) -> None:
    """A2: after STOP, an unfinished SysEx is forgotten and the next stream starts clean."""
    sink, out = make(alloc)
    sink.put_message(event(alloc, b"\xf0\x01\x02", flags=ev.DMUS_KEF_EVENT_INCOMPLETE))
    sink.set_state(KsState.STOP)
    out.clear()
    sink.set_state(KsState.RUN)
    sink.put_message(event(alloc, b"\x90\x40\x7f"))
    assert out == [b"\x09\x90\x40\x7f"] and sink.flush() == b""


@pytest.mark.spec("A2")
def test_outside_run_the_sink_holds_and_in_stop_discards(alloc: AllocatorMXF) -> None:
    """A2, "IMXF::SetState method": outside KSSTATE_RUN the render IMXF holds the data and does not
    pass it to the hardware; in KSSTATE_STOP it discards it by passing it to the allocator (the sink
    used to write packets in every state)."""
    out: list[bytes] = []
    sink = RenderSink(alloc, out.append)
    assert sink.state is KsState.STOP
    sink.put_message(event(alloc, b"\x90\x40\x7f"))
    assert out == [] and sink.discarded == 1 and alloc.stats().outstanding == 0
    sink.set_state(KsState.ACQUIRE)
    sink.put_message(event(alloc, b"\x90\x41\x7f"))
    sink.set_state(KsState.PAUSE)
    sink.put_message(event(alloc, b"\x90\x42\x7f"))
    assert out == [] and sink.held == 2 and alloc.stats().outstanding == 2
    sink.set_state(KsState.RUN)  # what was held is rendered, in arrival order
    assert out == [b"\x09\x90\x41\x7f", b"\x09\x90\x42\x7f"] and sink.held == 0
    assert alloc.stats().outstanding == 0
    sink.set_state(KsState.PAUSE)
    sink.put_message(event(alloc, b"\x80\x41\x00"))
    sink.set_state(KsState.ACQUIRE)
    sink.set_state(KsState.STOP)  # held data is discarded to the allocator, never rendered
    assert len(out) == 2 and sink.held == 0 and sink.discarded == 2 and alloc.stats().outstanding == 0


@pytest.mark.spec("A3")
def test_flush_sends_unfinished_message(alloc: AllocatorMXF) -> None:
    """A3: at end of stream the stateful encoder's held bytes are flushed."""
    sink, out = make(alloc)
    sink.put_message(event(alloc, b"\xf0\x01\x02", flags=ev.DMUS_KEF_EVENT_INCOMPLETE))
    sink.flush()
    assert b"".join(out) != b"" and len(b"".join(out)) % 4 == 0

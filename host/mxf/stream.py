"""Graph wiring as IMiniportDMus::NewStream does it: one allocator, a render and a capture graph.

Render: Unpacker -> Sequencer -> RenderSink (the miniport end, writing USB-MIDI packets).
Capture: raw bytes -> CaptureSink -> Packer (user-mode DMUS_EVENTHEADER buffers).
The port creates the allocator; for capture it connects the miniport's output to itself [A3].
Threads: one graph is driven by one thread at a time; render and capture graphs on different
threads may share one allocator (it is thread-safe, the filters are not).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from host.ks.state import KsState
from host.ks.status import NtStatus
from host.mxf.allocator import AllocatorMXF
from host.mxf.allocator_factory import new_allocator
from host.mxf.capture_sink import DMUSUART_CHANNEL_GROUP, CaptureSink, raw_capture_chain
from host.mxf.clock import MasterClock, MonotonicClock
from host.mxf.errors import MxfError
from host.mxf.filter import MxfFilter
from host.mxf.packer import PackedBuffer, Packer
from host.mxf.render_sink import MidiWriter, PacketWriter, RenderSink
from host.mxf.sequencer import PresentationClock, Sequencer
from host.mxf.unpacker import Unpacker


class DmusStreamType(enum.IntEnum):
    """DMUS_STREAM_TYPE of IMiniportDMus::NewStream ("DMUS_STREAM_TYPE enumeration", dmusicks.h)."""

    MIDI_INVALID = -1
    MIDI_RENDER = 0
    MIDI_CAPTURE = 1
    WAVE_SINK = 2


class GraphError(MxfError, RuntimeError):
    """A graph could not be wired (a ConnectOutput failed)."""


def _connect(source: MxfFilter, sink: MxfFilter) -> None:
    status = source.connect_output(sink)
    if status != NtStatus.STATUS_SUCCESS:
        name = f"{type(source).__name__}.ConnectOutput({type(sink).__name__})"
        raise GraphError(f"{name} returned {status.name}")


class _Graph:
    """Common state handling: SetState goes to every filter, sink end first on the way up."""

    filters: tuple[MxfFilter, ...]

    def set_state(self, state: KsState) -> NtStatus:
        """IMXF::SetState on every filter: sink end first when starting, head first when stopping."""
        order = self.filters if state is KsState.STOP else tuple(reversed(self.filters))
        for f in order:
            status = f.set_state(state)
            if status != NtStatus.STATUS_SUCCESS:
                return status
        return NtStatus.STATUS_SUCCESS


class RenderStream(_Graph):
    """A MIDI render stream: write user-mode buffers, `service()` as time passes, packets come out."""

    def __init__(
        self,
        allocator: AllocatorMXF,
        clock: MasterClock,
        write_packets: PacketWriter,
        *,
        schedule_prefetch_100ns: int = 0,
        write_midi: MidiWriter | None = None,
        cables: Mapping[int, int] | None = None,
        presentation_clock: PresentationClock = "master",
    ) -> None:
        self.allocator = allocator
        self.unpacker = Unpacker(allocator)
        self.sequencer = Sequencer(allocator, clock, schedule_prefetch_100ns,
                                   presentation_clock=presentation_clock)
        self.sink = RenderSink(allocator, write_packets, write_midi=write_midi, cables=cables)
        _connect(self.unpacker, self.sequencer)
        _connect(self.sequencer, self.sink)
        self.filters = (self.unpacker, self.sequencer, self.sink)

    def write(self, buffer: bytes | bytearray | memoryview, start_time_100ns: int) -> NtStatus:
        """A user-mode buffer of packed DMUS_EVENTHEADER records (raises MalformedBuffer if bad)."""
        return self.unpacker.unpack(buffer, start_time_100ns)

    def service(self) -> NtStatus:
        """Release what is due at the master clock's current time."""
        return self.sequencer.service()


class CaptureStream(_Graph):
    """A MIDI capture stream: `capture()` raw bytes as the miniport would, `read()` user-mode buffers."""

    def __init__(self, allocator: AllocatorMXF, *, chain_fragments: bool = True) -> None:
        self.allocator = allocator
        self.sink = CaptureSink(allocator, chain_fragments=chain_fragments)
        self.packer = Packer(allocator)
        _connect(self.sink, self.packer)
        self.filters = (self.sink, self.packer)

    def capture(self, data: bytes, time_100ns: int, channel_group: int = DMUSUART_CHANNEL_GROUP) -> NtStatus:
        """Bytes from the hardware, packed into INCOMPLETE events as DMusUART does, then parsed."""
        chain = raw_capture_chain(self.allocator, data, time_100ns, channel_group)
        if chain is None:
            return NtStatus.STATUS_INSUFFICIENT_RESOURCES
        return self.sink.put_message(chain)

    def read(self, max_bytes: int = 4096, start_time_100ns: int | None = None) -> PackedBuffer | None:
        """One user-mode capture buffer of whole records, or None if no message is waiting."""
        return self.packer.read(max_bytes, start_time_100ns)


class MxfPort:
    """The port side of NewStream: owns one allocator and master clock, creates streams on them."""

    def __init__(self, allocator: AllocatorMXF | None = None, clock: MasterClock | None = None) -> None:
        self.allocator = allocator if allocator is not None else new_allocator()
        self.clock: MasterClock = clock if clock is not None else MonotonicClock()

    def new_stream(
        self,
        stream_type: DmusStreamType,
        *,
        write_packets: PacketWriter | None = None,
        schedule_prefetch_100ns: int = 0,
        write_midi: MidiWriter | None = None,
        cables: Mapping[int, int] | None = None,
        chain_fragments: bool = True,
        presentation_clock: PresentationClock = "master",
    ) -> RenderStream | CaptureStream:
        """NewStream: a render stream (needs `write_packets`) or a capture stream (no WAVE_SINK;
        DMUS_STREAM_MIDI_INVALID is refused)."""
        kind = DmusStreamType(stream_type)
        if kind is DmusStreamType.MIDI_RENDER:
            if write_packets is None:
                raise ValueError("a MIDI_RENDER stream needs write_packets (where USB-MIDI packets go)")
            return self.render_stream(
                write_packets,
                schedule_prefetch_100ns=schedule_prefetch_100ns,
                write_midi=write_midi,
                cables=cables,
                presentation_clock=presentation_clock,
            )
        if kind is DmusStreamType.MIDI_CAPTURE:
            return self.capture_stream(chain_fragments=chain_fragments)
        if kind is DmusStreamType.MIDI_INVALID:
            raise ValueError("DMUS_STREAM_MIDI_INVALID is no stream type (NewStream refuses it)")
        raise ValueError("DMUS_STREAM_TYPE WAVE_SINK is not modelled by host.mxf")

    def render_stream(
        self,
        write_packets: PacketWriter,
        *,
        schedule_prefetch_100ns: int = 0,
        write_midi: MidiWriter | None = None,
        cables: Mapping[int, int] | None = None,
        presentation_clock: PresentationClock = "master",
    ) -> RenderStream:
        """new_stream(MIDI_RENDER, ...) typed as a RenderStream."""
        return RenderStream(
            self.allocator,
            self.clock,
            write_packets,
            schedule_prefetch_100ns=schedule_prefetch_100ns,
            write_midi=write_midi,
            cables=cables,
            presentation_clock=presentation_clock,
        )

    def capture_stream(self, *, chain_fragments: bool = True) -> CaptureStream:
        """new_stream(MIDI_CAPTURE) typed as a CaptureStream."""
        return CaptureStream(self.allocator, chain_fragments=chain_fragments)

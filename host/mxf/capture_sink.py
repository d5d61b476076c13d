"""CaptureSink: raw captured MIDI bytes from a miniport -> one time-stamped event per MIDI message.

"The miniport sends raw bytes flagged INCOMPLETE; the capture sink parses them into one
time-stamped message per event; complete events go to the packer" [A3]. Parsing follows MIDI 1.0
(running status, real-time bytes inside SysEx), as host.midi's MidiStreamParser does.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from host.ks.state import KSSTATE_PAUSE, KSSTATE_RUN, KSSTATE_STOP, KsState
from host.ks.status import STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS, NtStatus
from host.midi.stream import MidiMessage, MidiStreamParser
from host.mxf.allocator import AllocatorMXF, take_chain
from host.mxf.event import DMUS_KEF_EVENT_INCOMPLETE, KernelEvent, kBytePositionNone
from host.mxf.filter import MxfFilter

DMUSUART_CHANNEL_GROUP = 1
"""DMusUART capture always sets usChannelGroup = 1."""


def raw_capture_chain(
    allocator: AllocatorMXF, data: bytes, time_100ns: int, channel_group: int = DMUSUART_CHANNEL_GROUP
) -> KernelEvent | None:
    """Raw bytes packed as DMusUART does: <= pointer-size bytes per event, all flagged INCOMPLETE and
    stamped with the batch's first-byte time, linked by pNextEvt.

    Returns None, with every event it took given back, when the pool runs dry (DMusUART then
    returns STATUS_INSUFFICIENT_RESOURCES and does not deliver the partial chain).
    """
    step = allocator.pointer_size

    def fill(evt: KernelEvent, index: int) -> bool:
        evt.u_data = data[index * step : (index + 1) * step]
        evt.cb_event = len(evt.u_data)
        evt.us_flags = DMUS_KEF_EVENT_INCOMPLETE
        evt.us_channel_group = channel_group
        evt.ull_pres_time_100ns = time_100ns
        return True

    return take_chain(allocator, -(-len(data) // step), fill)


@dataclass
class _GroupState:
    """Parsing state for one channel group."""

    parser: MidiStreamParser
    start: int | None = None
    """Time of the raw event holding the first byte of the message being assembled."""
    chain: list[KernelEvent] = field(default_factory=list)
    """SysEx fragments held until the last one (chain_fragments mode)."""
    dropping: bool = False
    """The rest of the current SysEx is thrown away: a fragment could not get an event."""


class CaptureSink(MxfFilter):
    """Parses raw capture bytes per channel group and PutMessages one event per MIDI message.

    - Each message is stamped with the time of the raw event that held its first byte (a real-time
      byte with its own event's time); usChannelGroup is the raw events' group.
    - A SysEx longer than GetBufferSize becomes buffer-sized fragments, all but the last flagged
      DMUS_KEF_EVENT_INCOMPLETE; with `chain_fragments` (default) they are linked by pNextEvt and
      passed with one PutMessage when the SysEx ends, else each is passed as it is parsed.
    - Real-time bytes inside a SysEx come out as their own events, before the SysEx they interrupt
      when fragments are chained ([UNVERIFIED] for the port; this follows MIDI 1.0).
    - In RUN or PAUSE messages are passed on; in STOP or ACQUIRE hardware data is thrown away
      (counted in `discarded_bytes`). Raw events always go back to the allocator. Entering STOP
      also drops an unfinished message (held SysEx fragments go back to the allocator).
    - If GetMessage or GetBuffer fails, the message is dropped (counted in `dropped_messages`, a
      SysEx's held fragments go back), and put_message returns STATUS_INSUFFICIENT_RESOURCES.
    - PutMessage(None) is the port's service notification: it is passed on to the output.
    """

    def __init__(self, allocator: AllocatorMXF, *, chain_fragments: bool = True) -> None:
        super().__init__(allocator)
        self.chain_fragments = chain_fragments
        self._groups: dict[int, _GroupState] = {}
        self.messages = 0
        """Messages (SysEx counted once) passed on."""
        self.events_out = 0
        self.dropped_messages = 0
        self.discarded_bytes = 0
        self.truncated_sysex = 0

    def _group(self, group: int) -> _GroupState:
        state = self._groups.get(group)
        if state is None:
            chunk = self.allocator.get_buffer_size()
            state = self._groups[group] = _GroupState(MidiStreamParser(sysex_chunk=chunk))
        return state

    def put_message(self, evt: KernelEvent | None) -> NtStatus:
        """IMXF::PutMessage: parse a chain of raw events (None: pass the service notification on)."""
        if evt is None:
            return self.sink.put_message(None)
        status = STATUS_SUCCESS
        passing = self.state in (KSSTATE_RUN, KSSTATE_PAUSE)
        cur: KernelEvent | None = evt
        while cur is not None:
            data = cur.data
            if not passing:
                self.discarded_bytes += len(data)
            else:
                result = self._parse(data, cur.ull_pres_time_100ns, cur.us_channel_group)
                if result != STATUS_SUCCESS:
                    status = result
            cur = cur.p_next_evt
        self.allocator.put_message(evt)
        return status

    def _parse(self, data: bytes, time: int, group: int) -> NtStatus:
        state = self._group(group)
        feed = state.parser.feed
        status = STATUS_SUCCESS
        for b in data:
            if b >= 0xF8:
                messages = feed(bytes((b,)))
                for m in messages:
                    status = self._emit(state, m, time, group) or status
                continue
            before = state.start
            if (b >= 0x80 and b != 0xF7) or state.start is None:
                state.start = time
            ended = False
            for m in feed(bytes((b,))):
                if m.truncated:
                    self.truncated_sysex += 1
                    when = before if before is not None else time
                else:
                    when = state.start if state.start is not None else time
                    ended = ended or m.complete
                status = self._emit(state, m, when, group) or status
            if ended:
                state.start = None
        return status

    def _emit(self, state: _GroupState, m: MidiMessage, time: int, group: int) -> NtStatus | None:
        """Pass one parsed message (or SysEx piece) on; a status only when something went wrong."""
        realtime = len(m.data) == 1 and m.data[0] >= 0xF8
        if state.dropping and not realtime:
            if m.complete:
                state.dropping = False
            return None
        alloc = self.allocator
        size = alloc.get_buffer_size()
        pieces = [m.data[i : i + size] for i in range(0, len(m.data), size)] or [b""]
        made: list[KernelEvent] = []
        for index, piece in enumerate(pieces):
            evt = alloc.get_message()
            if evt is None or alloc.set_data(evt, piece) != STATUS_SUCCESS:
                if evt is not None:
                    alloc.put_message(evt)
                return self._drop(state, m, made)
            evt.us_channel_group = group
            evt.ull_pres_time_100ns = time
            evt.ull_byte_position = kBytePositionNone
            if index < len(pieces) - 1 or not m.complete:
                evt.us_flags = DMUS_KEF_EVENT_INCOMPLETE
            made.append(evt)
        if self.chain_fragments and not realtime and (state.chain or not m.complete):
            state.chain.extend(made)
            if not m.complete:
                return None
            made, state.chain = state.chain, []
        for a, b in itertools.pairwise(made):
            a.p_next_evt = b
        self.messages += 1
        self.events_out += len(made)
        result = self.sink.put_message(made[0])
        return None if result == STATUS_SUCCESS else NtStatus(result)

    def _state_changed(self, old: KsState, new: KsState) -> None:
        """STOP forgets every unfinished message: held SysEx fragments go back, parsers start afresh."""
        if new is KSSTATE_STOP:
            for state in self._groups.values():
                if state.chain:
                    self.dropped_messages += 1
                for evt in state.chain:
                    self.allocator.put_message(evt)
            self._groups.clear()

    def _drop(self, state: _GroupState, m: MidiMessage, made: list[KernelEvent]) -> NtStatus:
        """No event or buffer left: give back this message's events and held fragments, count it."""
        alloc = self.allocator
        for evt in made + state.chain:
            alloc.put_message(evt)
        state.chain = []
        self.dropped_messages += 1
        if not m.complete:
            state.dropping = True
        return STATUS_INSUFFICIENT_RESOURCES

"""Unpacker: user-mode DMUS_EVENTHEADER buffers -> time-stamped kernel events (the render graph's head).

"The unpacker calls GetMessage and fills one event per MIDI event" [AUD:allocator]. Presentation
time is the buffer's start time plus each record's rtDelta.
"""

from __future__ import annotations

import struct

from host.ks.status import STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS, NtStatus
from host.mxf.allocator import AllocatorMXF, take_chain
from host.mxf.dmusbuff import HEADER, HEADER_SIZE, PackedEvent, dmus_event_size
from host.mxf.errors import MalformedBuffer
from host.mxf.event import DMUS_KEF_EVENT_INCOMPLETE, KernelEvent, kBytePositionNone
from host.mxf.filter import MxfFilter, put_all

SHORT_CB = 4
"""Records of at most this many data bytes all take DMUS_EVENT_SIZE(4) = 24 bytes (any MIDI channel
message), so a buffer of only such records is an array of one fixed-size struct."""
SHORT_RECORD = struct.Struct(HEADER.format[:-1] + f"4x{dmus_event_size(SHORT_CB) - HEADER_SIZE}s")
"""A record of at most SHORT_CB data bytes: cbEvent, dwChannelGroup, rtDelta (dwFlags skipped: see
Unpacker), its data and pad as one field."""


class Unpacker(MxfFilter):
    """Turns packed DMUS_EVENTHEADER buffers into events and PutMessages them to its output.

    - Short events (cbEvent <= pointer size) are inline; longer ones get an allocator buffer.
    - An event longer than GetBufferSize becomes a pNextEvt chain of buffer-sized fragments, all but
      the last flagged DMUS_KEF_EVENT_INCOMPLETE, passed with one PutMessage (the port's exact
      splitting is [UNVERIFIED]; this is the split the flag and buffer semantics imply).
    - A buffer is all or nothing: it is parsed and checked completely before any event is taken
      (MalformedBuffer names the offset), and if the pool runs dry part way, every event taken for
      it goes back and `unpack` returns STATUS_INSUFFICIENT_RESOURCES (counted in `dropped_buffers`).
    - ullBytePosition is set to kBytePositionNone: the user-mode format carries none ([UNVERIFIED]).
    - dwFlags (DMUS_EVENT_STRUCTURED) has no place in DMUS_KERNEL_EVENT and is not kept; the Packer
      derives it again (see host.mxf.packer.structured_flags).
    - PutMessage on the unpacker passes events straight through to its output.
    """

    def __init__(self, allocator: AllocatorMXF) -> None:
        super().__init__(allocator)
        self.records_unpacked = 0
        """Records passed downstream (a fragmented record counts once)."""
        self.dropped_buffers = 0
        """Buffers refused because the allocator ran out of events or buffers."""

    def unpack(self, buffer: bytes | bytearray | memoryview, start_time_100ns: int) -> NtStatus:
        """Unpack one user-mode buffer whose records' rtDelta count from `start_time_100ns`.

        The whole buffer is checked first (MalformedBuffer), then its events are taken, so a bad
        record anywhere is reported as such even when the pool could not have held the good ones.
        """
        data = buffer if type(buffer) is bytes else bytes(buffer)
        if data and not len(data) % SHORT_RECORD.size:
            short, events = self._take_short(data, start_time_100ns)
            if short:
                if events is None:
                    self.dropped_buffers += 1
                    return STATUS_INSUFFICIENT_RESOURCES
                self.records_unpacked += len(events)
                return put_all(self.sink, events)
        headers, starts = self._check(data, start_time_100ns)
        alloc = self.allocator
        get_message = alloc.get_message
        inline = alloc.pointer_size
        none = kBytePositionNone
        heads: list[KernelEvent] = []
        append = heads.append
        for (cb, group, delta, flags), at in zip(headers, starts, strict=True):
            if cb <= inline:
                evt = get_message()
                if evt is None:
                    return self._give_back(heads)
                evt.cb_event = cb
                evt.u_data = data[at : at + cb]
                evt.us_channel_group = group
                evt.ull_pres_time_100ns = start_time_100ns + delta
                evt.ull_byte_position = none
                append(evt)
            else:
                record = PackedEvent(at - HEADER_SIZE, group, delta, flags, data[at : at + cb])
                head = self._build(record, start_time_100ns)
                if head is None:
                    return self._give_back(heads)
                append(head)
        self.records_unpacked += len(heads)
        status = STATUS_SUCCESS
        put = self.sink.put_message
        for head in heads:
            result = put(head)
            if result != STATUS_SUCCESS:
                status = NtStatus(result)
        return status

    def _take_short(self, data: bytes, start: int) -> tuple[bool, list[KernelEvent] | None]:
        """A buffer whose records all hold at most SHORT_CB bytes (a MIDI render's usual buffer),
        read as one array of fixed-size records: (True, its events, or None when the pool cannot
        hold them all, nothing taken); (False, None) when it holds any other record or a bad one
        (then `unpack` walks it record by record)."""
        cbs, groups, deltas, raws = zip(*SHORT_RECORD.iter_unpack(data), strict=True)
        if max(cbs) > SHORT_CB or max(groups) > 0xFFFF or start + min(deltas) < 0:
            return False, None
        events = self.allocator.get_messages(len(cbs))
        if events is None:
            return True, None
        none = kBytePositionNone
        for evt, cb, group, delta, raw in zip(events, cbs, groups, deltas, raws, strict=True):
            evt.cb_event = cb
            evt.u_data = raw[:cb]
            evt.us_channel_group = group
            evt.ull_pres_time_100ns = start + delta
            evt.ull_byte_position = none
        return True, events

    @staticmethod
    def _check(data: bytes, start: int) -> tuple[list[tuple[int, int, int, int]], list[int]]:
        """Walk every record header; raise MalformedBuffer (naming the offset) at the first bad one.
        Returns each record's (cbEvent, dwChannelGroup, rtDelta, dwFlags) and where its data starts,
        so the buffer's headers are read once."""
        end = len(data)
        unpack_from = HEADER.unpack_from
        headers: list[tuple[int, int, int, int]] = []
        starts: list[int] = []
        offset = 0
        while offset < end:
            if end - offset < HEADER_SIZE:
                raise MalformedBuffer(
                    f"truncated DMUS_EVENTHEADER: {end - offset} bytes left, {HEADER_SIZE} needed", offset
                )
            header = unpack_from(data, offset)
            cb, group, delta, _ = header
            at = offset + HEADER_SIZE
            if cb > end - at:
                raise MalformedBuffer(f"cbEvent {cb} runs past the end of the buffer ({end - at} bytes left)",
                                      offset)
            if group > 0xFFFF:
                raise MalformedBuffer(f"dwChannelGroup {group} does not fit usChannelGroup", offset)
            if start + delta < 0:
                raise MalformedBuffer(f"rtDelta {delta} puts the event before time 0 (start {start})", offset)
            headers.append(header)
            starts.append(at)
            offset = (at + cb + 7) & ~7
        return headers, starts

    def _give_back(self, heads: list[KernelEvent]) -> NtStatus:
        """The pool ran dry: return what this buffer took and report it."""
        for taken in heads:
            self.allocator.put_message(taken)
        self.dropped_buffers += 1
        return STATUS_INSUFFICIENT_RESOURCES

    def _build(self, rec: PackedEvent, start: int) -> KernelEvent | None:
        """The event (or fragment chain) for one record, or None with nothing taken."""
        alloc = self.allocator
        size = alloc.get_buffer_size()
        data = rec.data
        pieces = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
        last = len(pieces) - 1

        def fill(evt: KernelEvent, index: int) -> bool:
            if alloc.set_data(evt, pieces[index]) != STATUS_SUCCESS:
                return False
            evt.us_channel_group = rec.channel_group
            evt.ull_pres_time_100ns = start + rec.rt_delta
            evt.ull_byte_position = kBytePositionNone
            if index != last:
                evt.us_flags = DMUS_KEF_EVENT_INCOMPLETE
            return True

        return take_chain(alloc, len(pieces), fill)

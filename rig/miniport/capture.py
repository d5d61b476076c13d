"""The capture half of the MXF graph as the miniports use it: raw bytes in, time-stamped messages out.

`raw_events` turns received MIDI bytes into DMUS_KEF_EVENT_INCOMPLETE events of at most
sizeof(PBYTE) bytes, all stamped with the time of the batch's first byte (as DMusUART does).
`CaptureParser` is the capture sink: it parses those raw events per channel group into one event
per message (SysEx longer than GetBufferSize as an INCOMPLETE chain) and passes them on.
`MessageCollector` is the end of the graph that hands time-stamped messages to the caller (the
alternative to host.mxf's Packer, which packs user-mode buffers); both give events back.

CaptureParser stands in for host.mxf's CaptureSink until that is committed; it follows
kernel-streaming.md A3 and MIDI 1.0 (running status, real-time bytes anywhere, SysEx of any length).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from host.midi import MidiStreamParser
from host.mxf import (
    DMUS_KEF_EVENT_INCOMPLETE,
    AllocatorMXF,
    KernelEvent,
    KsState,
    MxfFilter,
    NtStatus,
    kBytePositionNone,
)


def raw_events(allocator: AllocatorMXF, data: bytes, time_100ns: int, channel_group: int
               ) -> tuple[KernelEvent | None, int]:
    """A pNextEvt chain of INCOMPLETE events holding `data` (at most pointer-size bytes each), and how
    many bytes did not fit because the pool ran dry (those are lost; the caller counts them)."""
    step = allocator.pointer_size
    head: KernelEvent | None = None
    tail: KernelEvent | None = None
    for start in range(0, len(data), step):
        evt = allocator.get_message()
        if evt is None:
            return head, len(data) - start
        piece = data[start:start + step]
        evt.u_data = piece
        evt.cb_event = len(piece)
        evt.us_flags = DMUS_KEF_EVENT_INCOMPLETE
        evt.us_channel_group = channel_group
        evt.ull_pres_time_100ns = time_100ns
        evt.ull_byte_position = kBytePositionNone
        if tail is None:
            head = evt
        else:
            tail.p_next_evt = evt
        tail = evt
    return head, 0


class CaptureParser(MxfFilter):
    """Capture sink: raw INCOMPLETE byte events -> one time-stamped event (chain) per MIDI message.

    A message is stamped with the time of the raw event that carried its first byte. Capture may
    pass data in RUN or PAUSE; in STOP or ACQUIRE raw data is thrown away (counted in `discarded`).
    When the pool runs dry a parsed message is dropped and counted in `dropped` (never a crash).
    """

    def __init__(self, allocator: AllocatorMXF) -> None:
        super().__init__(allocator)
        self._parsers: dict[int, MidiStreamParser] = {}
        self._started: dict[int, int] = {}
        self.messages = 0
        """Messages passed on."""
        self.discarded = 0
        """Raw events thrown away because the stream was in STOP or ACQUIRE."""
        self.dropped = 0
        """Messages lost because the allocator had no event or buffer left."""

    def parser(self, channel_group: int) -> MidiStreamParser:
        """The MIDI stream parser of one channel group (its counters account for every byte)."""
        parser = self._parsers.get(channel_group)
        if parser is None:
            parser = MidiStreamParser(sysex_chunk=self.allocator.get_buffer_size())
            self._parsers[channel_group] = parser
        return parser

    def put_message(self, evt: KernelEvent | None) -> NtStatus:
        """IMXF::PutMessage: parse a chain of raw events, pass the messages on, free the raw events."""
        if evt is None:
            return self.sink.put_message(None)
        if self.state in (KsState.STOP, KsState.ACQUIRE):
            self.discarded += len(evt.chain())
            return self.allocator.put_message(evt)
        status = NtStatus.STATUS_SUCCESS
        cur: KernelEvent | None = evt
        while cur is not None:
            group = cur.us_channel_group
            now = cur.ull_pres_time_100ns
            parser = self.parser(group)
            start = self._started.get(group, now) if parser.pending_bytes else now
            for message in parser.feed(cur.data):
                data = message.data
                if len(data) == 1 and data[0] >= 0xF8:  # real-time: now; an open message keeps its time
                    result = self._emit(data, group, now, False)
                else:
                    result = self._emit(data, group, start, not message.complete)
                    start = now
                if result != NtStatus.STATUS_SUCCESS:
                    status = result
            if parser.pending_bytes:
                self._started[group] = start
            else:
                self._started.pop(group, None)
            cur = cur.p_next_evt
        self.allocator.put_message(evt)
        return status

    def _emit(self, data: bytes, group: int, time_100ns: int, incomplete: bool) -> NtStatus:
        alloc = self.allocator
        out = alloc.get_message()
        if out is None:
            self.dropped += 1
            return NtStatus.STATUS_INSUFFICIENT_RESOURCES
        if alloc.set_data(out, data) != NtStatus.STATUS_SUCCESS:
            alloc.put_message(out)
            self.dropped += 1
            return NtStatus.STATUS_INSUFFICIENT_RESOURCES
        out.us_channel_group = group
        out.ull_pres_time_100ns = time_100ns
        out.ull_byte_position = kBytePositionNone
        if incomplete:
            out.us_flags = DMUS_KEF_EVENT_INCOMPLETE
        self.messages += 0 if incomplete else 1
        return self.sink.put_message(out)

    def _state_changed(self, old: KsState, new: KsState) -> None:
        if new is KsState.STOP:
            for parser in self._parsers.values():
                parser.reset()
            self._started.clear()


@dataclass(frozen=True)
class CapturedMessage:
    """One message from the device: its bytes, channel group and master-clock time (100 ns)."""

    time_100ns: int
    channel_group: int
    data: bytes


class MessageCollector(MxfFilter):
    """End of the capture graph: joins INCOMPLETE fragments into whole messages, hands them to the
    caller (a queue `take()` reads, or `on_message`), and gives every event back to the allocator."""

    def __init__(self, allocator: AllocatorMXF, on_message: Callable[[CapturedMessage], object] | None = None
                 ) -> None:
        super().__init__(allocator)
        self.on_message = on_message
        self._pending: dict[int, tuple[int, list[bytes]]] = {}
        self._queue: deque[CapturedMessage] = deque()
        self.cond = threading.Condition()
        self.collected = 0

    def put_message(self, evt: KernelEvent | None) -> NtStatus:
        """IMXF::PutMessage: collect the chain's messages; PutMessage(None) only wakes waiters."""
        if evt is None:
            with self.cond:
                self.cond.notify_all()
            return NtStatus.STATUS_SUCCESS
        done: list[CapturedMessage] = []
        cur: KernelEvent | None = evt
        while cur is not None:
            group = cur.us_channel_group
            time, pieces = self._pending.pop(group, (cur.ull_pres_time_100ns, []))
            pieces.append(cur.data)
            if cur.us_flags & DMUS_KEF_EVENT_INCOMPLETE:
                self._pending[group] = (time, pieces)
            else:
                done.append(CapturedMessage(time, group, b"".join(pieces)))
            cur = cur.p_next_evt
        self.allocator.put_message(evt)
        if done:
            with self.cond:
                if self.on_message is None:
                    self._queue.extend(done)
                self.collected += len(done)
                self.cond.notify_all()
            if self.on_message is not None:
                for message in done:
                    self.on_message(message)
        return NtStatus.STATUS_SUCCESS

    def take(self) -> list[CapturedMessage]:
        """Every message collected so far (and not yet taken)."""
        with self.cond:
            out = list(self._queue)
            self._queue.clear()
            return out

    def __len__(self) -> int:
        with self.cond:
            return len(self._queue)

    def _state_changed(self, old: KsState, new: KsState) -> None:
        if new is KsState.STOP:
            self._pending.clear()

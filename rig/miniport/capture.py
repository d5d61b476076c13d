"""The capture half of the MXF graph as the miniports use it: raw bytes in, time-stamped messages out.

`raw_events` turns received MIDI bytes into DMUS_KEF_EVENT_INCOMPLETE events of at most
sizeof(PBYTE) bytes, all stamped with the time of the batch's first byte (as DMusUART does); they go
to host.mxf's CaptureSink, which parses them into one event per message. `MessageCollector` is the
end of the graph that hands time-stamped messages to the caller (the alternative to host.mxf's
Packer, which packs user-mode buffers); both give every event back to the allocator.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from host.mxf import DMUS_KEF_EVENT_INCOMPLETE, AllocatorMXF, KernelEvent, KsState, MxfFilter, NtStatus
from host.mxf.capture_sink import raw_capture_chain


def raw_events(allocator: AllocatorMXF, data: bytes, time_100ns: int, channel_group: int
               ) -> tuple[KernelEvent | None, int]:
    """host.mxf's DMusUART-style raw chain for `data` (INCOMPLETE events of at most pointer-size
    bytes, all stamped `time_100ns`), and how many bytes were lost: all of them when the pool ran dry
    (the partial chain is not delivered, as DMusUART does; the caller counts the loss)."""
    chain = raw_capture_chain(allocator, data, time_100ns, channel_group)
    return chain, (len(data) if chain is None and data else 0)


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

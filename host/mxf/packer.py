"""Packer: captured kernel events -> packed DMUS_EVENTHEADER buffers for user mode (capture graph's end).

Complete events go to the packer, "which fills the user's buffers and PutMessages used events back
to the allocator" [A3]. Fragments flagged DMUS_KEF_EVENT_INCOMPLETE are joined into one record, so
Unpacker -> Packer round-trips.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from host.ks.state import KSSTATE_STOP, KsState
from host.ks.status import STATUS_SUCCESS, NtStatus
from host.mxf.allocator import AllocatorMXF
from host.mxf.dmusbuff import DMUS_EVENT_STRUCTURED, dmus_event_size, pack_record
from host.mxf.errors import MxfError
from host.mxf.event import DMUS_KEF_EVENT_INCOMPLETE, KernelEvent
from host.mxf.filter import MxfFilter


class RecordTooLarge(MxfError, ValueError):
    """A captured message does not fit the user-mode buffer offered to Packer.read()."""


@dataclass(frozen=True)
class PackedBuffer:
    """A filled user-mode capture buffer: its start time and the packed records."""

    start_time_100ns: int
    data: bytes
    events: int
    """Records in `data`."""


def structured_flags(data: bytes) -> int:
    """dwFlags for a record: DMUS_EVENT_STRUCTURED unless the data is SysEx (unstructured).

    [UNVERIFIED] which records the port marks structured; this model marks everything but SysEx,
    and the Unpacker ignores dwFlags, so a round trip keeps this rule's flags.
    """
    return 0 if data[:1] == b"\xf0" else DMUS_EVENT_STRUCTURED


class Packer(MxfFilter):
    """Queues captured events and packs them into user-mode buffers on `read()`.

    PutMessage(None) (the port's service notification) calls `on_notify`, if given. Events are
    queued whatever the state (the capture sink decides what to throw away); STOP discards the
    queue to the allocator.
    """

    def __init__(self, allocator: AllocatorMXF, on_notify: Callable[[], object] | None = None) -> None:
        super().__init__(allocator)
        self.on_notify = on_notify
        self._events: deque[KernelEvent] = deque()
        self._complete = 0
        """Whole messages queued (events up to one without the INCOMPLETE flag)."""
        self.records_packed = 0
        self.discarded = 0

    def put_message(self, evt: KernelEvent | None) -> NtStatus:
        """IMXF::PutMessage: queue each event of the chain (detached from it); None notifies."""
        if evt is None:
            if self.on_notify is not None:
                self.on_notify()
            return STATUS_SUCCESS
        while evt is not None:
            nxt = evt.p_next_evt
            evt.p_next_evt = None
            self._events.append(evt)
            if not evt.us_flags & DMUS_KEF_EVENT_INCOMPLETE:
                self._complete += 1
            evt = nxt
        return STATUS_SUCCESS

    def pending_messages(self) -> int:
        """Whole messages waiting to be read."""
        return self._complete

    def read(self, max_bytes: int = 4096, start_time_100ns: int | None = None) -> PackedBuffer | None:
        """Fill one user-mode buffer of at most `max_bytes` with whole records, oldest first.

        rtDelta counts from `start_time_100ns` (default: the first message's time). The events used
        go back to the allocator. Returns None when no whole message is queued; raises
        RecordTooLarge (taking nothing) if the first message alone does not fit.
        """
        if not self._complete:
            return None
        parts: list[bytes] = []
        used = 0
        records = 0
        events = self._events
        start = start_time_100ns
        while self._complete:
            count, data = self._peek_message()
            size = dmus_event_size(len(data))
            if used + size > max_bytes:
                if not records:
                    raise RecordTooLarge(
                        f"a {len(data)}-byte message needs a {size}-byte record; the buffer holds {max_bytes}"
                    )
                break
            first = events[0]
            if start is None:
                start = first.ull_pres_time_100ns
            delta = first.ull_pres_time_100ns - start
            parts.append(pack_record(data, first.us_channel_group, delta, structured_flags(data)))
            used += size
            records += 1
            for _ in range(count):
                self.allocator.put_message(events.popleft())
            self._complete -= 1
        self.records_packed += records
        assert start is not None
        return PackedBuffer(start, b"".join(parts), records)

    def _peek_message(self) -> tuple[int, bytes]:
        """Events and joined bytes of the oldest whole message."""
        pieces: list[bytes] = []
        for count, evt in enumerate(self._events, 1):
            pieces.append(evt.data)
            if not evt.us_flags & DMUS_KEF_EVENT_INCOMPLETE:
                return count, b"".join(pieces)
        raise AssertionError("no whole message queued")  # guarded by self._complete

    def _state_changed(self, old: KsState, new: KsState) -> None:
        if new is KSSTATE_STOP:
            while self._events:
                self.discarded += 1
                self.allocator.put_message(self._events.popleft())
            self._complete = 0

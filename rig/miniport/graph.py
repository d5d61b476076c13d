"""The MXF graphs both MIDI miniports run, written once: the render graph (Unpacker -> Sequencer ->
RenderSink) and the capture graph (CaptureSink -> MessageCollector or Packer), their state changes,
user-mode buffer packing, the reader's error queue, waiting for captured messages and the books.

A miniport subclasses `MxfMiniport` and implements only its transport: where the render sink's
packets go (`render_out`), how captured bytes come in, and what it keeps pending.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Literal, Self

from host.mxf import KsState, MxfFilter, NtStatus, new_allocator
from host.mxf.capture_sink import CaptureSink
from host.mxf.clock import MasterClock, MonotonicClock
from host.mxf.dmusbuff import pack_records
from host.mxf.packer import Packer, structured_flags
from host.mxf.render_sink import RenderSink
from host.mxf.sequencer import Sequencer
from host.mxf.unpacker import Unpacker
from rig.miniport.capture import CapturedMessage, MessageCollector, raw_events
from rig.miniport.errors import MiniportError, PoolExhausted

DEFAULT_SEND_BATCH = 256
"""Messages per user-mode buffer that `send` packs (the pool must hold a whole buffer's events)."""

_RUN_STATES = (KsState.ACQUIRE, KsState.PAUSE, KsState.RUN)
_STOP_STATES = (KsState.PAUSE, KsState.ACQUIRE, KsState.STOP)


class Deadline:
    """time.monotonic deadline for bounded waits (the master clock may be a manual one)."""

    def __init__(self, timeout_s: float) -> None:
        self._monotonic = time.monotonic
        self.end = time.monotonic() + timeout_s

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.end - self._monotonic())

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return self._monotonic() >= self.end


def _connect(source: MxfFilter, sink: MxfFilter) -> None:
    status = source.connect_output(sink)
    if status != NtStatus.STATUS_SUCCESS:  # pragma: no cover - a fresh filter always connects
        raise MiniportError(f"ConnectOutput {type(source).__name__} -> {type(sink).__name__}: {status!r}")


class MxfMiniport:
    """The render and capture MXF graphs of one MIDI miniport, its error queue and its books; the
    subclass supplies the transport (the render sink's output and the capture input)."""

    def __init__(self, label: str, render_out: Callable[[bytes], None], *, clock: MasterClock | None,
                 schedule_prefetch_100ns: int, pool_size: int, buffer_size: int, buffer_count: int,
                 checked: bool, channel_group: int,
                 capture_to: Literal["messages", "packer"] = "messages") -> None:
        self.clock: MasterClock = clock if clock is not None else MonotonicClock()
        self.channel_group = channel_group
        self.render_allocator = new_allocator(pool_size, buffer_size=buffer_size, buffer_count=buffer_count,
                                             checked=checked, name=f"{label} render allocator")
        self.capture_allocator = new_allocator(pool_size, buffer_size=buffer_size, buffer_count=buffer_count,
                                              checked=checked, name=f"{label} capture allocator")
        self.unpacker = Unpacker(self.render_allocator)
        self.sequencer = Sequencer(self.render_allocator, self.clock, schedule_prefetch_100ns)
        self.render_sink = RenderSink(self.render_allocator, render_out)
        _connect(self.unpacker, self.sequencer)
        _connect(self.sequencer, self.render_sink)
        self.capture_sink = CaptureSink(self.capture_allocator)
        self.collector: MessageCollector | None = None
        self.packer: Packer | None = None
        self._capture_end: MxfFilter
        if capture_to == "packer":
            self.packer = Packer(self.capture_allocator)
            self._capture_end = self.packer
        elif capture_to == "messages":
            self.collector = MessageCollector(self.capture_allocator)
            self._capture_end = self.collector
        else:
            raise ValueError(f"capture_to must be 'messages' or 'packer', not {capture_to!r}")
        _connect(self.capture_sink, self._capture_end)
        self._errors: list[MiniportError] = []
        self._errors_lock = threading.Lock()
        """A leaf lock: taken inside a transport's own locks and inside the collector's condition."""
        self.running = False

    @property
    def where(self) -> str:
        """How messages name this miniport."""
        raise NotImplementedError

    @property
    def messages(self) -> MessageCollector:
        """The collector at the end of the capture graph (MiniportError in Packer mode)."""
        if self.collector is None:
            raise MiniportError(f"{self.where}: capture goes to a Packer; use read_buffer()")
        return self.collector

    # --- state ---

    def _filters(self) -> tuple[MxfFilter, ...]:
        return (self.unpacker, self.sequencer, self.render_sink, self.capture_sink, self._capture_end)

    def _run_filters(self) -> None:
        """Every filter through ACQUIRE and PAUSE to RUN."""
        for flt in self._filters():
            for state in _RUN_STATES:
                flt.set_state(state)

    def _stop_filters(self) -> None:
        """Every filter back to STOP (the sequencer discards what it holds; capture drops partial input)."""
        for flt in self._filters():
            for state in _STOP_STATES:
                flt.set_state(state)

    def _check_running(self) -> None:
        if not self.running:
            raise MiniportError(f"{self.where}: the miniport is not started")

    # --- render ---

    def _unpack(self, buffer: bytes | bytearray | memoryview, start_time_100ns: int | None) -> None:
        """Unpack one user-mode buffer into the render graph; PoolExhausted when the pool cannot hold it."""
        self._check_running()
        start = self.clock.time_100ns() if start_time_100ns is None else start_time_100ns
        if self.unpacker.unpack(buffer, start) == NtStatus.STATUS_INSUFFICIENT_RESOURCES:
            stats = self.render_allocator.stats()
            raise PoolExhausted(f"{self.where}: the render pool cannot hold this buffer's events "
                                f"({stats.free} of {stats.pool_size} events free, {len(self.sequencer)} "
                                f"chains held by the sequencer)")

    def send_buffer(self, buffer: bytes | bytearray | memoryview, start_time_100ns: int | None = None) -> int:
        """Unpack one user-mode DMUS_EVENTHEADER buffer into the render graph and pass on what fell due;
        returns what `_deliver` counts. PoolExhausted when the pool cannot hold the buffer's events."""
        self._unpack(buffer, start_time_100ns)
        return self._deliver()

    def service(self) -> int:
        """Release what the sequencer holds that is now due and pass it on; returns what `_deliver` counts."""
        self.sequencer.service()
        return self._deliver()

    def _deliver(self) -> int:
        """Hand what the render sink produced to the transport: packets written or messages sent."""
        raise NotImplementedError

    def _check_messages(self, datas: list[bytes]) -> None:
        """Refuse messages the transport cannot carry before any is sent (default: all are fine)."""

    def send(self, messages: Iterable[bytes | bytearray], *, time_100ns: int | None = None,
             channel_group: int | None = None, batch: int = DEFAULT_SEND_BATCH) -> int:
        """Send MIDI byte strings (whole messages, running-status data or SysEx of any length), all at
        `time_100ns` (default: now), packed into user-mode buffers of `batch` records; returns what
        `send_buffer` counts (packets written or messages sent)."""
        group = self.channel_group if channel_group is None else channel_group
        when = self.clock.time_100ns() if time_100ns is None else time_100ns
        datas = [bytes(message) for message in messages]
        self._check_messages(datas)
        sent = 0
        records: list[tuple[bytes, int, int, int]] = []
        for data in datas:
            records.append((data, group, 0, structured_flags(data) if data else 0))
            if len(records) >= batch:
                sent += self.send_buffer(pack_records(records), when)
                records.clear()
        if records:
            sent += self.send_buffer(pack_records(records), when)
        return sent

    # --- capture ---

    def _error(self, error: MiniportError) -> None:
        """Queue an error met by the capture side; `receive` raises it."""
        with self._errors_lock:
            self._errors.append(error)

    def _capture_raw(self, data: bytes, now_100ns: int, channel_group: int) -> int:
        """Captured MIDI bytes into the capture graph as one raw chain; returns the bytes lost because
        the capture pool ran dry (also queued as PoolExhausted for `receive`)."""
        chain, lost = raw_events(self.capture_allocator, data, now_100ns, channel_group)
        if lost:
            self._error(PoolExhausted(f"{self.where}: capture pool empty, {lost} received byte(s) lost"))
        if chain is not None:
            self.capture_sink.put_message(chain)
        return lost

    def errors(self) -> list[MiniportError]:
        """Every error the capture side met so far, oldest first."""
        with self._errors_lock:
            return list(self._errors)

    def _raise_error(self) -> None:
        with self._errors_lock:
            if self._errors:
                raise self._errors.pop(0)

    def _wait_for_messages(self, count: int, deadline: Deadline) -> list[CapturedMessage]:
        """Up to `count` captured messages, waiting until `deadline`; raises the first queued error."""
        collector = self.messages
        got: list[CapturedMessage] = []
        with collector.cond:
            while True:
                self._raise_error()
                available = len(collector._queue)
                if available + len(got) >= count or deadline.expired():
                    got.extend(collector._queue.popleft() for _ in range(min(count - len(got), available)))
                    return got
                collector.cond.wait(deadline.remaining())

    # --- lifetime ---

    def start(self) -> None:
        """Filters to RUN and the transport's capture side started."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop; what is still out shows in books()."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
        else:  # the error that ended the block is the one to see, not a second one from closing
            with contextlib.suppress(Exception):
                self.close()

    # --- books ---

    def _books(self, unsent: str | None, lost_bytes: int) -> list[str]:
        """Everything still out: events in either pool, chains in the sequencer, `unsent` (what the
        transport still holds, if anything), captured messages not taken, `lost_bytes`."""
        problems: list[str] = []
        for alloc in (self.render_allocator, self.capture_allocator):
            stats = alloc.stats()
            if stats.outstanding or stats.buffers_out:
                problems.append(f"{alloc.name}: {stats.outstanding} event(s) and {stats.buffers_out} "
                                f"buffer(s) out of the pool")
        if len(self.sequencer):
            problems.append(f"{self.where}: {len(self.sequencer)} chain(s) still held by the sequencer")
        if unsent:
            problems.append(f"{self.where}: {unsent}")
        if self.collector is not None and len(self.collector):
            problems.append(f"{self.where}: {len(self.collector)} captured message(s) not taken")
        if lost_bytes:
            problems.append(f"{self.where}: {lost_bytes} received byte(s) lost")
        return problems


__all__ = ["DEFAULT_SEND_BATCH", "Deadline", "MxfMiniport"]

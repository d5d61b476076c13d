"""The USB-MIDI miniport (driver mode): the MXF graph on the board's raw USB-MIDI endpoints via pyusb.

Render: user-mode buffers (or plain messages, packed for you) -> Unpacker -> Sequencer -> RenderSink,
whose USB-MIDI packets collect in a `PacketWriter` and go to EP_MIDI_OUT in bulk transfers of whole
64-byte USB packets (16 event packets each). A write that times out raises MiniportTimeout naming
board and endpoint; its packets stay pending (nothing is dropped) and go out with the next flush().
Capture: a reader thread reads EP_MIDI_IN, decodes the packets (UsbMidiDecoder), and feeds the raw
bytes as INCOMPLETE events, stamped by the injected master clock, into the capture sink, which hands
one event per message to a MessageCollector (time-stamped messages for the caller) or a Packer
(user-mode buffers). Every event goes back to its allocator; `books()` says what is still out.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self

from host.midi import UsbMidiDecoder
from host.mxf import AllocatorMXF, KsState, MxfFilter, NtStatus
from host.mxf.capture_sink import CaptureSink
from host.mxf.clock import MasterClock, MonotonicClock
from host.mxf.dmusbuff import pack_records
from host.mxf.packer import Packer, structured_flags
from host.mxf.render_sink import RenderSink
from host.mxf.sequencer import Sequencer
from host.mxf.unpacker import Unpacker
from rig import contract as c
from rig.device import Board, DeviceResponseError, TransferError, TransferTimeout
from rig.miniport.capture import CapturedMessage, MessageCollector, raw_events
from rig.miniport.errors import DeviceGarbage, MiniportError, MiniportTimeout, PoolExhausted
from rig.miniport.transfer import endpoint_name

PACKET = 4
"""Bytes per USB-MIDI event packet."""
DEFAULT_SEND_BATCH = 256
"""Messages per user-mode buffer that `send` packs (the pool must hold a whole buffer's events)."""


@dataclass
class WriterCounters:
    """What the PacketWriter did."""

    packets_in: int = 0
    """Event packets the render sink produced."""
    packets_written: int = 0
    """Event packets the device accepted."""
    transfers: int = 0
    """Bulk OUT transfers completed."""
    timeouts: int = 0
    """Transfers that timed out (their packets stayed pending)."""


class PacketWriter:
    """The render sink's writer: collects packets, writes them to EP_MIDI_OUT in whole-USB-packet
    transfers on flush(). Adding never fails (it runs inside RenderSink.put_message); writing may."""

    def __init__(self, board: Board, timeout_ms: int, transfer_bytes: int = c.BULK_PACKET_SIZE) -> None:
        if transfer_bytes < PACKET or transfer_bytes % PACKET:
            raise ValueError(f"transfer_bytes {transfer_bytes} must be a positive multiple of {PACKET}")
        self.board = board
        self.timeout_ms = timeout_ms
        self.transfer_bytes = transfer_bytes
        self._pending = bytearray()
        self.counters = WriterCounters()

    def __call__(self, packets: bytes) -> None:
        self._pending += packets
        self.counters.packets_in += len(packets) // PACKET

    @property
    def pending_packets(self) -> int:
        """Event packets produced and not yet accepted by the device."""
        return len(self._pending) // PACKET

    def flush(self, timeout_ms: int | None = None) -> int:
        """Write every pending packet; returns packets written. On a timeout the unsent packets stay
        pending and MiniportTimeout names board, endpoint and how many are still pending."""
        timeout = self.timeout_ms if timeout_ms is None else timeout_ms
        written = 0
        pending = self._pending
        size = self.transfer_bytes
        while pending:
            chunk = bytes(pending[:size])
            try:
                self.board.write_midi_packets(chunk, timeout)
            except TransferError as exc:
                kind = MiniportTimeout if isinstance(exc, TransferTimeout) else MiniportError
                if isinstance(exc, TransferTimeout):
                    self.counters.timeouts += 1
                raise kind(f"{self.board.name}: bulk write to {endpoint_name(c.EP_MIDI_OUT)} failed ({exc}); "
                           f"{len(pending) // PACKET} packet(s) still pending, kept for the next flush") \
                    from exc
            del pending[:len(chunk)]
            written += len(chunk) // PACKET
            self.counters.transfers += 1
        self.counters.packets_written += written
        return written

    def discard(self) -> int:
        """Throw the pending packets away (close after a dead device); returns how many."""
        count = self.pending_packets
        self._pending.clear()
        return count


@dataclass
class ReaderCounters:
    """What the capture reader did."""

    transfers: int = 0
    packets: int = 0
    midi_bytes: int = 0
    lost_bytes: int = 0
    """Bytes lost because the capture pool had no event left (reported in books())."""
    garbage: int = 0
    """Transfers or packets the device got wrong (reported through receive())."""


class UsbMidiMiniport:
    """The MXF render and capture graphs of one board on its raw USB-MIDI endpoints."""

    def __init__(self, board: Board, *, clock: MasterClock | None = None, schedule_prefetch_100ns: int = 0,
                 pool_size: int = 1024, buffer_size: int = 4096, buffer_count: int = 64,
                 checked: bool = False, timeout_ms: int | None = None, poll_ms: int = 20,
                 transfer_bytes: int = c.BULK_PACKET_SIZE, channel_group: int = 1,
                 capture_to: Literal["messages", "packer"] = "messages") -> None:
        self.board = board
        self.clock: MasterClock = clock if clock is not None else MonotonicClock()
        self.timeout_ms = board.timeout_ms if timeout_ms is None else timeout_ms
        self.poll_ms = poll_ms
        self.channel_group = channel_group
        self.render_allocator = AllocatorMXF(pool_size, buffer_size=buffer_size, buffer_count=buffer_count,
                                             checked=checked, name=f"{board.name} render allocator")
        self.capture_allocator = AllocatorMXF(pool_size, buffer_size=buffer_size, buffer_count=buffer_count,
                                              checked=checked, name=f"{board.name} capture allocator")
        self.writer = PacketWriter(board, self.timeout_ms, transfer_bytes)
        self.unpacker = Unpacker(self.render_allocator)
        self.sequencer = Sequencer(self.render_allocator, self.clock, schedule_prefetch_100ns)
        self.render_sink = RenderSink(self.render_allocator, self.writer)
        self._connect(self.unpacker, self.sequencer)
        self._connect(self.sequencer, self.render_sink)
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
        self._connect(self.capture_sink, self._capture_end)
        self.decoder = UsbMidiDecoder()
        self.reader_counters = ReaderCounters()
        self._errors: list[MiniportError] = []
        self._errors_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.running = False

    @staticmethod
    def _connect(source: MxfFilter, sink: MxfFilter) -> None:
        status = source.connect_output(sink)
        if status != NtStatus.STATUS_SUCCESS:  # pragma: no cover - a fresh filter always connects
            raise MiniportError(f"ConnectOutput {type(source).__name__} -> {type(sink).__name__}: {status!r}")

    @property
    def where(self) -> str:
        """How messages name this miniport's endpoints."""
        return f"{self.board.name} ({endpoint_name(c.EP_MIDI_OUT)} / {endpoint_name(c.EP_MIDI_IN)})"

    # --- state ---

    def _filters(self) -> tuple[MxfFilter, ...]:
        return (self.unpacker, self.sequencer, self.render_sink, self.capture_sink, self._capture_end)

    def start(self) -> None:
        """Every filter to RUN and the capture reader started."""
        if self.running:
            return
        for flt in self._filters():
            for state in (KsState.ACQUIRE, KsState.PAUSE, KsState.RUN):
                flt.set_state(state)
        self._stop.clear()
        self._thread = threading.Thread(target=self._read_loop, name=f"usb-midi reader {self.board.name}",
                                        daemon=True)
        self._thread.start()
        self.running = True

    def stop(self) -> None:
        """Stop the reader, then every filter to STOP (the sequencer discards what it still holds to
        the allocator; capture throws away partial input). Pending packets stay in the writer."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=max(5.0, 5 * self.poll_ms / 1000))
            if thread.is_alive():  # pragma: no cover - read timeouts bound the loop
                raise MiniportError(f"{self.where}: the capture reader did not stop")
        for flt in self._filters():
            for state in (KsState.PAUSE, KsState.ACQUIRE, KsState.STOP):
                flt.set_state(state)
        self.running = False

    # --- render ---

    def send_buffer(self, buffer: bytes | bytearray | memoryview, start_time_100ns: int | None = None) -> int:
        """Unpack one user-mode DMUS_EVENTHEADER buffer into the render graph, then flush what fell due.
        Returns packets written. PoolExhausted when the pool cannot hold the buffer's events."""
        self._check_running()
        start = self.clock.time_100ns() if start_time_100ns is None else start_time_100ns
        status = self.unpacker.unpack(buffer, start)
        if status == NtStatus.STATUS_INSUFFICIENT_RESOURCES:
            stats = self.render_allocator.stats()
            raise PoolExhausted(f"{self.where}: the render pool cannot hold this buffer's events "
                                f"({stats.free} of {stats.pool_size} events free, {len(self.sequencer)} "
                                f"chains held by the sequencer)")
        return self.flush()

    def send(self, messages: Iterable[bytes | bytearray], *, time_100ns: int | None = None,
             channel_group: int | None = None, batch: int = DEFAULT_SEND_BATCH) -> int:
        """Send MIDI byte strings (whole messages, running-status data or SysEx of any length), all at
        `time_100ns` (default: now), packed into user-mode buffers of `batch` records. Returns packets
        written."""
        group = self.channel_group if channel_group is None else channel_group
        when = self.clock.time_100ns() if time_100ns is None else time_100ns
        written = 0
        records: list[tuple[bytes, int, int, int]] = []
        for message in messages:
            data = bytes(message)
            records.append((data, group, 0, structured_flags(data) if data else 0))
            if len(records) >= batch:
                written += self.send_buffer(pack_records(records), when)
                records.clear()
        if records:
            written += self.send_buffer(pack_records(records), when)
        return written

    def service(self) -> int:
        """Release what the sequencer holds that is now due, and write it; returns packets written."""
        self.sequencer.service()
        return self.flush()

    def flush(self, timeout_ms: int | None = None) -> int:
        """Write every pending packet (see PacketWriter.flush)."""
        return self.writer.flush(timeout_ms)

    def _check_running(self) -> None:
        if not self.running:
            raise MiniportError(f"{self.where}: the miniport is not started")

    # --- capture ---

    def _error(self, error: MiniportError) -> None:
        with self._errors_lock:
            self._errors.append(error)
        if self.collector is not None:
            self.collector.put_message(None)

    def _read_loop(self) -> None:
        try:
            self._read_until_stopped()
        except Exception as exc:  # a bug below must not die silently in a thread: report it
            self._error(MiniportError(f"{self.where}: capture reader failed: {exc!r}"))

    def _read_until_stopped(self) -> None:
        board = self.board
        counters = self.reader_counters
        while not self._stop.is_set():
            try:
                data = board.read_midi_packets(self.poll_ms)
            except TransferTimeout:
                continue
            except DeviceResponseError as exc:
                counters.garbage += 1
                self._error(DeviceGarbage(f"{self.where}: garbage from the device: {exc}"))
                continue
            except TransferError as exc:
                self._error(MiniportError(f"{self.where}: capture stopped: {exc}"))
                return
            now = self.clock.time_100ns()
            counters.transfers += 1
            counters.packets += len(data) // PACKET
            problems_before = len(self.decoder.problems)
            decoded = self.decoder.feed(data)
            if len(self.decoder.problems) != problems_before:
                counters.garbage += 1
                self._error(DeviceGarbage(f"{self.where}: garbage from the device: "
                                          f"{self.decoder.problems[-1]}"))
            per_cable: dict[int, bytearray] = {}
            for cable, piece in decoded:
                per_cable.setdefault(cable, bytearray()).extend(piece)
            for cable, joined in per_cable.items():
                counters.midi_bytes += len(joined)
                chain, lost = raw_events(self.capture_allocator, bytes(joined), now, cable + 1)
                if lost:
                    counters.lost_bytes += lost
                    self._error(PoolExhausted(f"{self.where}: capture pool empty, {lost} received byte(s) "
                                              f"lost"))
                if chain is not None:
                    self.capture_sink.put_message(chain)

    def errors(self) -> list[MiniportError]:
        """Every error the reader met so far (garbage, lost bytes, a dead device), oldest first."""
        with self._errors_lock:
            return list(self._errors)

    def _raise_error(self) -> None:
        with self._errors_lock:
            if self._errors:
                raise self._errors.pop(0)

    def receive(self, count: int, timeout_s: float = 5.0) -> list[CapturedMessage]:
        """Wait for `count` captured messages and return them (more may stay queued). Raises the
        reader's first error (DeviceGarbage, PoolExhausted, MiniportError) or MiniportTimeout naming how
        many arrived."""
        collector = self.collector
        if collector is None:
            raise MiniportError(f"{self.where}: capture goes to a Packer; use read_buffer()")
        got: list[CapturedMessage] = []
        deadline = self.clock_deadline(timeout_s)
        with collector.cond:
            while True:
                self._raise_error()
                available = len(collector._queue)
                if available + len(got) >= count or deadline.expired():
                    take = min(count - len(got), available)
                    got.extend(collector._queue.popleft() for _ in range(take))
                    break
                collector.cond.wait(deadline.remaining())
        if len(got) < count:
            raise MiniportTimeout(f"{self.where}: {len(got)} of {count} message(s) arrived within "
                                  f"{timeout_s} s (received: {self.reader_counters.packets} packets)")
        return got

    def take(self) -> list[CapturedMessage]:
        """Every message captured so far, without waiting (raises the reader's first error)."""
        self._raise_error()
        if self.collector is None:
            raise MiniportError(f"{self.where}: capture goes to a Packer; use read_buffer()")
        return self.collector.take()

    def read_buffer(self, max_bytes: int = 4096) -> bytes | None:
        """Packer mode: one user-mode buffer of captured records, or None when nothing is queued."""
        if self.packer is None:
            raise MiniportError(f"{self.where}: capture goes to messages; use receive()")
        self._raise_error()
        packed = self.packer.read(max_bytes)
        return None if packed is None else packed.data

    @staticmethod
    def clock_deadline(timeout_s: float) -> _Deadline:
        """A wall-clock deadline for waits (the master clock may be a manual one)."""
        return _Deadline(timeout_s)

    # --- books ---

    def books(self) -> list[str]:
        """Everything still out: events in either pool, chains in the sequencer, unsent packets,
        captured messages not taken, bytes lost. Empty when balanced."""
        problems: list[str] = []
        for alloc in (self.render_allocator, self.capture_allocator):
            stats = alloc.stats()
            if stats.outstanding or stats.buffers_out:
                problems.append(f"{alloc.name}: {stats.outstanding} event(s) and {stats.buffers_out} "
                                f"buffer(s) out of the pool")
        if len(self.sequencer):
            problems.append(f"{self.where}: {len(self.sequencer)} chain(s) still held by the sequencer")
        if self.writer.pending_packets:
            problems.append(f"{self.where}: {self.writer.pending_packets} packet(s) not yet written")
        if self.collector is not None and len(self.collector):
            problems.append(f"{self.where}: {len(self.collector)} captured message(s) not taken")
        if self.reader_counters.lost_bytes:
            problems.append(f"{self.where}: {self.reader_counters.lost_bytes} received byte(s) lost")
        return problems

    def close(self) -> None:
        """Stop (reader joined, filters to STOP). Unsent packets stay pending and show in books();
        `writer.discard()` drops them deliberately (e.g. after the device vanished)."""
        if self.running:
            self.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
        else:
            with contextlib.suppress(MiniportError):
                self.close()


class _Deadline:
    """time.monotonic deadline for bounded waits."""

    def __init__(self, timeout_s: float) -> None:
        import time

        self._monotonic = time.monotonic
        self.end = time.monotonic() + timeout_s

    def remaining(self) -> float:
        return max(0.0, self.end - self._monotonic())

    def expired(self) -> bool:
        return self._monotonic() >= self.end


__all__ = ["CapturedMessage", "PacketWriter", "ReaderCounters", "UsbMidiMiniport",
           "WriterCounters"]

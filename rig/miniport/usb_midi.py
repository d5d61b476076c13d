"""The USB-MIDI miniport (driver mode): the MXF graph on the board's raw USB-MIDI endpoints via pyusb.

Render: user-mode buffers (or plain messages, packed for you) -> Unpacker -> Sequencer -> RenderSink,
whose USB-MIDI packets collect in a `PacketWriter` and go to EP_MIDI_OUT in bulk transfers of whole
64-byte USB packets (16 event packets each). A write the device NAKs until it times out is tried
again when the host's own reader then brings IN data it had not read (an echo device NAKs until the
host reads its answers: on a loaded machine the delay is the host's, not the device's); when the
reader finds nothing to read, MiniportTimeout names board and endpoint, and the packets stay pending
(nothing is dropped) for the next flush().
Capture: a reader thread reads EP_MIDI_IN, decodes the packets (UsbMidiDecoder), and feeds the raw
bytes as INCOMPLETE events, stamped by the injected master clock, into the capture sink, which hands
one event per message to a MessageCollector (time-stamped messages for the caller) or a Packer
(user-mode buffers). Every event goes back to its allocator; `books()` says what is still out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from host.midi import UsbMidiDecoder
from host.mxf.clock import MasterClock
from rig import contract as c
from rig.client.board import Board
from rig.client.errors import DeviceResponseError, TransferError, TransferTimeout
from rig.miniport.capture import CapturedMessage
from rig.miniport.errors import DeviceGarbage, MiniportError, MiniportTimeout
from rig.miniport.graph import DEFAULT_SEND_BATCH, Deadline, MxfMiniport
from rig.miniport.transfer import endpoint_name

PACKET = 4
"""Bytes per USB-MIDI event packet."""
CANCEL_AGAIN_S = 0.005
"""Stopping: how long to wait for the capture reader to end before cancelling its read again."""
WRITE_PATIENCE_S = 60.0
"""How long one USB packet may wait in all while the device NAKs it and the host's reader is behind
(a device that sends on and never takes OUT data again ends there)."""
READER_POLLS = 2
"""Completed reads of the capture reader that found nothing since a write began that show, after that
write timed out, that the device is not waiting for the host to read (PacketWriter.flush)."""
READER_CHECK_S = 0.002
"""How often a timed-out write looks at the reader's counts while it waits to tell which it was."""


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
    host_waits: int = 0
    """Writes that timed out while the host's reader was behind (it took IN data meanwhile, or did not
    get to read): tried again, not counted in `timeouts`."""


class PacketWriter:
    """The render sink's writer: collects packets, writes them to EP_MIDI_OUT in whole-USB-packet
    transfers on flush(). Adding never fails (it runs inside RenderSink.put_message); writing may."""

    def __init__(self, board: Board, timeout_ms: int, transfer_bytes: int = c.BULK_PACKET_SIZE,
                 host_reads: Callable[[], tuple[int, int] | None] | None = None) -> None:
        if transfer_bytes < PACKET or transfer_bytes % PACKET:
            raise ValueError(f"transfer_bytes {transfer_bytes} must be a positive multiple of {PACKET}")
        self.board = board
        self.timeout_ms = timeout_ms
        self.host_reads = host_reads
        """The host reader's (completed reads, reads that brought data) so far; None (or returning None):
        no reader running, a timed-out write fails at once."""
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
        first_try: float | None = None
        while pending:
            chunk = bytes(pending[:size])
            before = self.host_reads() if self.host_reads is not None else None
            try:
                self.board.write_midi_packets(chunk, timeout)
            except TransferError as exc:
                if isinstance(exc, TransferTimeout):
                    taken = exc.transferred or 0  # acknowledged before the cancel: delivered, not resent
                    del pending[:taken]
                    written += taken // PACKET
                    now = time.monotonic()
                    first_try = now if first_try is None or taken else first_try
                    if before is not None and self._reader_was_behind(before, first_try + WRITE_PATIENCE_S):
                        self.counters.host_waits += 1  # the device waited for the host: so may we
                        continue
                    self.counters.timeouts += 1
                self.counters.packets_written += written
                kind = MiniportTimeout if isinstance(exc, TransferTimeout) else MiniportError
                raise kind(f"{self.board.name}: bulk write to {endpoint_name(c.EP_MIDI_OUT)} failed ({exc}); "
                           f"{len(pending) // PACKET} packet(s) still pending, kept for the next flush") \
                    from exc
            first_try = None
            del pending[:len(chunk)]
            written += len(chunk) // PACKET
            self.counters.transfers += 1
        self.counters.packets_written += written
        return written

    def _reader_was_behind(self, before: tuple[int, int], give_up: float) -> bool:
        """After a timed-out write: True once the host's reader brings data it had not read when the
        write began (the device NAKed waiting for the host), False once it has completed READER_POLLS
        reads since then that found nothing (the device is not waiting for us), or at `give_up`."""
        assert self.host_reads is not None
        while time.monotonic() < give_up:
            now = self.host_reads()
            if now is None:
                return False
            if now[1] != before[1]:
                return True
            if now[0] - before[0] >= READER_POLLS:
                return False
            time.sleep(READER_CHECK_S)
        return False

    def discard(self) -> int:
        """Throw the pending packets away (close after a dead device); returns how many."""
        count = self.pending_packets
        self._pending.clear()
        return count


@dataclass
class ReaderCounters:
    """What the capture reader did."""

    polls: int = 0
    """Reads completed, with data or timed out."""
    transfers: int = 0
    packets: int = 0
    midi_bytes: int = 0
    lost_bytes: int = 0
    """Bytes lost because the capture pool had no event left (reported in books())."""
    garbage: int = 0
    """Transfers or packets the device got wrong (reported through receive())."""


class UsbMidiMiniport(MxfMiniport):
    """The MXF render and capture graphs of one board on its raw USB-MIDI endpoints."""

    def __init__(self, board: Board, *, clock: MasterClock | None = None, schedule_prefetch_100ns: int = 0,
                 pool_size: int = 1024, buffer_size: int = 4096, buffer_count: int = 64,
                 checked: bool = False, timeout_ms: int | None = None, poll_ms: int = 20,
                 transfer_bytes: int = c.BULK_PACKET_SIZE, channel_group: int = 1,
                 capture_to: Literal["messages", "packer"] = "messages") -> None:
        self.board = board
        self.timeout_ms = board.timeout_ms if timeout_ms is None else timeout_ms
        self.poll_ms = poll_ms
        self.reader_counters = ReaderCounters()
        self.writer = PacketWriter(board, self.timeout_ms, transfer_bytes,
                                   host_reads=self._reader_progress)
        super().__init__(board.name, self.writer, clock=clock,
                         schedule_prefetch_100ns=schedule_prefetch_100ns, pool_size=pool_size,
                         buffer_size=buffer_size, buffer_count=buffer_count,
                         checked=checked, channel_group=channel_group, capture_to=capture_to)
        self.decoder = UsbMidiDecoder()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _reader_progress(self) -> tuple[int, int] | None:
        """The capture reader's (completed reads, reads with data) while it runs, else None."""
        if self._thread is None or not self._thread.is_alive():
            return None
        return self.reader_counters.polls, self.reader_counters.transfers

    @property
    def where(self) -> str:
        """How messages name this miniport's endpoints."""
        return f"{self.board.name} ({endpoint_name(c.EP_MIDI_OUT)} / {endpoint_name(c.EP_MIDI_IN)})"

    # --- state ---

    def start(self) -> None:
        """Every filter to RUN and the capture reader started."""
        if self.running:
            return
        self._run_filters()
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
            # Cancel the reader's read rather than wait out its poll timeout (x3 on the emulator); again
            # until it ends, as the read may start just after a cancel. Boards that cannot: wait.
            deadline = time.monotonic() + max(5.0, 5 * self.poll_ms / 1000)
            while thread.is_alive() and time.monotonic() < deadline and self.board.cancel_midi_reads():
                thread.join(CANCEL_AGAIN_S)
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if thread.is_alive():  # pragma: no cover - read timeouts bound the loop
                raise MiniportError(f"{self.where}: the capture reader did not stop")
        self._stop_filters()
        self.running = False

    # --- render ---

    def _deliver(self) -> int:
        """Write the rendered packets; returns packets written."""
        return self.flush()

    def flush(self, timeout_ms: int | None = None) -> int:
        """Write every pending packet (see PacketWriter.flush)."""
        return self.writer.flush(timeout_ms)

    # --- capture ---

    def _error(self, error: MiniportError) -> None:
        super()._error(error)
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
                counters.polls += 1
                continue
            except DeviceResponseError as exc:
                counters.garbage += 1
                self._error(DeviceGarbage(f"{self.where}: garbage from the device: {exc}"))
                continue
            except TransferError as exc:
                self._error(MiniportError(f"{self.where}: capture stopped: {exc}"))
                return
            now = self.clock.time_100ns()
            counters.polls += 1
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
                counters.lost_bytes += self._capture_raw(bytes(joined), now, cable + 1)

    def receive(self, count: int, timeout_s: float = 5.0) -> list[CapturedMessage]:
        """Wait for `count` captured messages and return them (more may stay queued). Raises the
        reader's first error (DeviceGarbage, PoolExhausted, MiniportError) or MiniportTimeout naming how
        many arrived."""
        got = self._wait_for_messages(count, Deadline(timeout_s))
        if len(got) < count:
            raise MiniportTimeout(f"{self.where}: {len(got)} of {count} message(s) arrived within "
                                  f"{timeout_s} s (received: {self.reader_counters.packets} packets)")
        return got

    def take(self) -> list[CapturedMessage]:
        """Every message captured so far, without waiting (raises the reader's first error)."""
        self._raise_error()
        return self.messages.take()

    def read_buffer(self, max_bytes: int = 4096) -> bytes | None:
        """Packer mode: one user-mode buffer of captured records, or None when nothing is queued."""
        if self.packer is None:
            raise MiniportError(f"{self.where}: capture goes to messages; use receive()")
        self._raise_error()
        packed = self.packer.read(max_bytes)
        return None if packed is None else packed.data

    # --- books ---

    def books(self) -> list[str]:
        """Everything still out: events in either pool, chains in the sequencer, unsent packets,
        captured messages not taken, bytes lost. Empty when balanced."""
        pending = self.writer.pending_packets
        return self._books(f"{pending} packet(s) not yet written" if pending else None,
                           self.reader_counters.lost_bytes)

    def close(self) -> None:
        """Stop (reader joined, filters to STOP). Unsent packets stay pending and show in books();
        `writer.discard()` drops them deliberately (e.g. after the device vanished)."""
        if self.running:
            self.stop()


__all__ = ["DEFAULT_SEND_BATCH", "CapturedMessage", "PacketWriter", "ReaderCounters", "UsbMidiMiniport",
           "WriterCounters"]

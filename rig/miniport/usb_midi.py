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

import threading
import time
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
        self.writer = PacketWriter(board, self.timeout_ms, transfer_bytes)
        super().__init__(board.name, self.writer, clock=clock,
                         schedule_prefetch_100ns=schedule_prefetch_100ns, pool_size=pool_size,
                         buffer_size=buffer_size, buffer_count=buffer_count,
                         checked=checked, channel_group=channel_group, capture_to=capture_to)
        self.decoder = UsbMidiDecoder()
        self.reader_counters = ReaderCounters()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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

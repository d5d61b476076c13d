"""MIDI 1.0 byte-stream parser: bytes in any chunking -> complete MidiMessages, every byte accounted.

Handles running status, real-time bytes anywhere (even inside other messages and SysEx), SysEx of
any length (optionally delivered in bounded pieces), and drops/counts what MIDI 1.0 says to ignore.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from host.midi.errors import MidiValueError
from host.midi.scanner import DATA, SYSEX_END, MidiScanner, ScannerCounters, split_channel_run
from host.midi.spec import EOX, LENGTH_BY_STATUS, REALTIME_STATUSES, SPEC_BY_STATUS, SYSEX


@dataclass(frozen=True, slots=True, init=False)
class MidiMessage:
    """One parsed message: its complete bytes, status first (running status already expanded).

    `complete` is False only for a SysEx piece that more pieces continue (`sysex_chunk`); such
    pieces after the first start with data bytes, the last may be just F7. `truncated` marks a SysEx
    (or its last piece) cut short by a new status byte: its data ends without F7.
    """

    data: bytes
    complete: bool
    truncated: bool

    def __init__(
        self, data: bytes | bytearray | memoryview, complete: bool = True, truncated: bool = False
    ) -> None:
        # Slot descriptors set the fields directly: a frozen dataclass's own __init__ goes through
        # object.__setattr__ and is about three times slower, which the parser's hot path feels.
        _set_data(self, bytes(data))
        _set_complete(self, complete)
        _set_truncated(self, truncated)

    @property
    def status(self) -> int:
        """The status byte; 0xF0 for a SysEx continuation piece (which starts with data or F7)."""
        first = self.data[0] if self.data else SYSEX
        return first if first >= 0x80 and first != EOX else SYSEX

    @property
    def kind(self) -> str:
        """Message name from the spec table: "note_on", "sysex", "clock", ..."""
        spec = SPEC_BY_STATUS[self.status]
        return "undefined" if spec is None else spec.name

    @property
    def channel(self) -> int | None:
        """Channel 0..15 of a channel message (80-EF), None for system messages."""
        status = self.status
        return status & 0x0F if status < 0xF0 else None

    @property
    def is_realtime(self) -> bool:
        """True for the single-byte real-time messages F8-FF."""
        return self.status >= 0xF8

    @property
    def is_sysex(self) -> bool:
        """True for a SysEx message or any piece of one."""
        return self.status == SYSEX


_SLOTS: Any = vars(MidiMessage)
_set_data: Callable[[MidiMessage, bytes], None] = _SLOTS["data"].__set__
_set_complete: Callable[[MidiMessage, bool], None] = _SLOTS["complete"].__set__
_set_truncated: Callable[[MidiMessage, bool], None] = _SLOTS["truncated"].__set__
_new_message: Callable[[type[MidiMessage]], MidiMessage] = object.__new__


def _message(data: bytes, complete: bool = True, truncated: bool = False) -> MidiMessage:
    """Build a MidiMessage from bytes already known to be a bytes object (parser hot path)."""
    message = _new_message(MidiMessage)
    _set_data(message, data)
    _set_complete(message, complete)
    _set_truncated(message, truncated)
    return message


_STATUS_BYTE = tuple(bytes((b,)) for b in range(256))
"""Each byte value as a one-byte bytes object (running status puts the status back in front)."""
_REALTIME: dict[int, MidiMessage] = {b: _message(bytes((b,))) for b in REALTIME_STATUSES}
"""Shared, immutable real-time messages by byte (the defined ones only)."""
_DATA_OF = attrgetter("data")


@dataclass(slots=True)
class ParserCounters(ScannerCounters):
    """What a MidiStreamParser did with every byte it was fed (bytes_in, running_status and
    sysex_truncated: ScannerCounters).

    Books balance at every moment:
    bytes_out + dropped_bytes() + parser.pending_bytes == bytes_in + running_status.
    """

    bytes_out: int = 0
    """Bytes in delivered messages (expanded running-status bytes included)."""
    messages: int = 0
    """MidiMessage objects delivered, SysEx pieces and real-time included."""
    realtime: int = 0
    """Real-time messages delivered."""
    sysex: int = 0
    """SysEx messages completed by F7 (counted once however many pieces)."""
    sysex_pieces: int = 0
    """SysEx pieces delivered with complete=False (sysex_chunk)."""
    dropped_undefined: int = 0
    """Undefined status bytes F4, F5, F9, FD dropped."""
    dropped_data: int = 0
    """Data bytes dropped because no status was in force (stray data)."""
    dropped_eox: int = 0
    """F7 bytes dropped because no SysEx was open."""
    dropped_partial: int = 0
    """Bytes of incomplete non-SysEx messages dropped when a new status byte cut them."""

    def dropped_bytes(self) -> int:
        """All bytes dropped, whatever the reason."""
        return self.dropped_undefined + self.dropped_data + self.dropped_eox + self.dropped_partial



class MidiStreamParser(MidiScanner[list[MidiMessage]]):
    """Turns a MIDI 1.0 byte stream, fed in any chunking, into MidiMessages; state spans feeds.

    With `sysex_chunk=N` a SysEx is delivered in pieces of at most N bytes (all but the last with
    complete=False) so a long SysEx never has to be held whole. A piece is delivered once the next
    byte of the SysEx arrives, so the last piece is never empty. The state machine is MidiScanner's;
    this class makes messages of what it finds.
    """

    __slots__ = ("_chunk", "_sysex", "counters")

    def __init__(self, *, sysex_chunk: int | None = None) -> None:
        if sysex_chunk is not None and (
            isinstance(sysex_chunk, bool) or not isinstance(sysex_chunk, int) or sysex_chunk < 1
        ):
            raise MidiValueError(f"sysex_chunk must be None or an int >= 1, got {sysex_chunk!r}")
        super().__init__()
        self._chunk = sysex_chunk
        self.counters = ParserCounters()
        self._sysex = bytearray()
        """The open SysEx's bytes not yet delivered (empty when none is open)."""

    @property
    def sysex_chunk(self) -> int | None:
        """Largest SysEx piece delivered, or None to deliver each SysEx whole."""
        return self._chunk

    @property
    def pending_bytes(self) -> int:
        """Bytes held in an unfinished message (they are in no counter until it ends)."""
        return len(self._pending or b"") + len(self._sysex)

    @property
    def running_status(self) -> int:
        """The channel status in force for running status, 0 if none."""
        return self._running

    def reset(self) -> None:
        """Forget any unfinished message and running status, and zero the counters."""
        self.counters = ParserCounters()
        self._forget()
        self._sysex = bytearray()

    def flush(self) -> list[MidiMessage]:
        """End of stream: deliver an open SysEx as truncated, drop (and count) a partial message and
        forget running status; counters are kept, so the books still balance."""
        out: list[MidiMessage] = []
        counters = self.counters
        if self._in_sysex:
            out.append(_message(bytes(self._sysex), True, True))
            counters.sysex_truncated += 1
            counters.messages += 1
            counters.bytes_out += len(self._sysex)
        counters.dropped_partial += len(self._forget())
        self._sysex = bytearray()
        return out

    def feed(self, data: bytes | bytearray | memoryview) -> list[MidiMessage]:
        """Parse more bytes; return the messages they complete, in stream order."""
        if type(data) is not bytes:
            data = bytes(data)
        out: list[MidiMessage] = []
        if not data:
            return out
        counters = self.counters
        counters.bytes_in += len(data)
        counters.running_status += self._scan(data, out)
        counters.messages += len(out)
        counters.bytes_out += sum(map(len, map(_DATA_OF, out)))
        return out

    # --- what the scanner found, as messages -----------------------------------------------------

    def _on_run(self, out: list[MidiMessage], data: bytes, start: int, end: int) -> None:
        emit = out.append
        new = _new_message
        for whole in split_channel_run(data, start, end):
            # _message() without the call: this is the parser's hot path.
            message = new(MidiMessage)
            _set_data(message, whole)
            _set_complete(message, True)
            _set_truncated(message, False)
            emit(message)

    def _on_running_status(self, out: list[MidiMessage], status: int, data: bytes, start: int,
                           end: int) -> None:
        emit = out.append
        new = _new_message
        prefix = _STATUS_BYTE[status]
        size = LENGTH_BY_STATUS[status] - 1
        for k in range(start, end, size):
            message = new(MidiMessage)
            _set_data(message, prefix + data[k:k + size])
            _set_complete(message, True)
            _set_truncated(message, False)
            emit(message)

    def _on_message(self, out: list[MidiMessage], message: bytes) -> None:
        out.append(_message(message))

    def _on_realtime(self, out: list[MidiMessage], byte: int) -> None:
        out.append(_REALTIME[byte])
        self.counters.realtime += 1

    def _on_stray(self, out: list[MidiMessage], byte: int, kind: int) -> None:
        counters = self.counters
        if kind == DATA:
            counters.dropped_data += 1
        elif kind == SYSEX_END:
            counters.dropped_eox += 1
        else:
            counters.dropped_undefined += 1

    def _on_cut(self, out: list[MidiMessage], held: bytearray) -> None:
        self.counters.dropped_partial += len(held)

    def _on_sysex_start(self, out: list[MidiMessage]) -> None:
        self._sysex = bytearray((SYSEX,))

    def _on_sysex_data(self, out: list[MidiMessage], data: bytes, start: int, end: int) -> None:
        sysex = self._sysex
        sysex += data[start:end]
        chunk = self._chunk
        if chunk is not None and len(sysex) > chunk:
            whole = (len(sysex) - 1) // chunk * chunk
            for p in range(0, whole, chunk):
                out.append(_message(bytes(sysex[p:p + chunk]), False))
            self.counters.sysex_pieces += whole // chunk
            del sysex[:whole]

    def _on_sysex_end(self, out: list[MidiMessage]) -> None:
        sysex = self._sysex
        sysex.append(EOX)
        chunk = self._chunk
        if chunk is not None and len(sysex) > chunk:
            out.append(_message(bytes(sysex[:chunk]), False))
            self.counters.sysex_pieces += 1
            del sysex[:chunk]
        out.append(_message(bytes(sysex)))
        self.counters.sysex += 1
        self._sysex = bytearray()

    def _on_sysex_cut(self, out: list[MidiMessage], status: int) -> None:
        out.append(_message(bytes(self._sysex), True, True))
        self.counters.sysex_truncated += 1
        self._sysex = bytearray()


def parse(data: bytes | bytearray | memoryview, *, sysex_chunk: int | None = None) -> list[MidiMessage]:
    """Parse one whole byte stream with a fresh parser (bytes of an unfinished last message are left)."""
    return MidiStreamParser(sysex_chunk=sysex_chunk).feed(data)


__all__ = ["MidiMessage", "MidiStreamParser", "ParserCounters", "parse"]

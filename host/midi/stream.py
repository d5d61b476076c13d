"""MIDI 1.0 byte-stream parser: bytes in any chunking -> complete MidiMessages, every byte accounted.

Handles running status, real-time bytes anywhere (even inside other messages and SysEx), SysEx of
any length (optionally delivered in bounded pieces), and drops/counts what MIDI 1.0 says to ignore.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from host.midi.errors import MidiValueError
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


_REALTIME: tuple[MidiMessage | None, ...] = tuple(
    _message(bytes((b,))) if b in REALTIME_STATUSES else None for b in range(256)
)
"""Shared, immutable real-time messages indexed by byte (None for undefined F9/FD and the rest)."""
_TUNE_REQUEST = _message(b"\xf6")
_NEXT_STATUS = re.compile(rb"[\x80-\xff]").search
"""Finds the next status byte: SysEx data runs are copied in one slice, not byte by byte."""
_DATA_OF = attrgetter("data")


@dataclass(slots=True)
class ParserCounters:
    """What a MidiStreamParser did with every byte it was fed.

    Books balance at every moment:
    bytes_out + dropped_bytes() + parser.pending_bytes == bytes_in + running_status.
    """

    bytes_in: int = 0
    """Bytes fed."""
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
    sysex_truncated: int = 0
    """SysEx messages cut by a new status byte and delivered with truncated=True."""
    running_status: int = 0
    """Status bytes inserted into delivered or pending messages by running status."""
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



class MidiStreamParser:
    """Turns a MIDI 1.0 byte stream, fed in any chunking, into MidiMessages; state spans feeds.

    With `sysex_chunk=N` a SysEx is delivered in pieces of at most N bytes (all but the last with
    complete=False) so a long SysEx never has to be held whole. A piece is delivered once the next
    byte of the SysEx arrives, so the last piece is never empty.
    """

    __slots__ = ("_chunk", "_need", "_pending", "_running", "_sysex", "counters")

    def __init__(self, *, sysex_chunk: int | None = None) -> None:
        if sysex_chunk is not None and (
            isinstance(sysex_chunk, bool) or not isinstance(sysex_chunk, int) or sysex_chunk < 1
        ):
            raise MidiValueError(f"sysex_chunk must be None or an int >= 1, got {sysex_chunk!r}")
        self._chunk = sysex_chunk
        self.counters = ParserCounters()
        self._running = 0
        self._pending: bytearray | None = None
        self._need = 0
        self._sysex: bytearray | None = None

    @property
    def sysex_chunk(self) -> int | None:
        """Largest SysEx piece delivered, or None to deliver each SysEx whole."""
        return self._chunk

    @property
    def pending_bytes(self) -> int:
        """Bytes held in an unfinished message (they are in no counter until it ends)."""
        return len(self._pending or b"") + len(self._sysex or b"")

    @property
    def running_status(self) -> int:
        """The channel status in force for running status, 0 if none."""
        return self._running

    def reset(self) -> None:
        """Forget any unfinished message and running status, and zero the counters."""
        self.counters = ParserCounters()
        self._running = 0
        self._pending = None
        self._need = 0
        self._sysex = None

    def flush(self) -> list[MidiMessage]:
        """End of stream: deliver an open SysEx as truncated, drop (and count) a partial message and
        forget running status; counters are kept, so the books still balance."""
        out: list[MidiMessage] = []
        counters = self.counters
        if self._sysex is not None:
            out.append(_message(bytes(self._sysex), True, True))
            counters.sysex_truncated += 1
            counters.messages += 1
            counters.bytes_out += len(self._sysex)
        if self._pending is not None:
            counters.dropped_partial += len(self._pending)
        self._sysex = None
        self._pending = None
        self._need = 0
        self._running = 0
        return out

    def feed(self, data: bytes | bytearray | memoryview) -> list[MidiMessage]:
        """Parse more bytes; return the messages they complete, in stream order."""
        if type(data) is not bytes:
            data = bytes(data)
        n = len(data)
        out: list[MidiMessage] = []
        if n == 0:
            return out
        counters = self.counters
        counters.bytes_in += n
        emit = out.append
        make = _message
        new = _new_message
        Msg = MidiMessage
        set_data = _set_data
        set_complete = _set_complete
        set_truncated = _set_truncated
        lengths = LENGTH_BY_STATUS
        running = self._running
        pending = self._pending
        need = self._need
        sysex = self._sysex
        chunk = self._chunk
        expanded = 0
        i = 0
        while i < n:
            if sysex is not None:
                found = _NEXT_STATUS(data, i)
                j = n if found is None else found.start()
                if j > i:
                    sysex += data[i:j]
                    if chunk is not None and len(sysex) > chunk:
                        whole = (len(sysex) - 1) // chunk * chunk
                        for p in range(0, whole, chunk):
                            emit(make(bytes(sysex[p:p + chunk]), False))
                        counters.sysex_pieces += whole // chunk
                        del sysex[:whole]
                    i = j
                    if i == n:
                        break
                b = data[i]
                if b == EOX:
                    i += 1
                    sysex.append(EOX)
                    if chunk is not None and len(sysex) > chunk:
                        emit(make(bytes(sysex[:chunk]), False))
                        counters.sysex_pieces += 1
                        del sysex[:chunk]
                    emit(make(bytes(sysex)))
                    counters.sysex += 1
                    sysex = None
                    continue
                if b < 0xF8:
                    # Another status byte cuts the SysEx short; it is looked at again below.
                    emit(make(bytes(sysex), True, True))
                    counters.sysex_truncated += 1
                    sysex = None
                    continue
                # A real-time byte inside the SysEx: handled below, the SysEx goes on.
            else:
                b = data[i]
                if b < 0x80:
                    if pending is not None:
                        pending.append(b)
                        i += 1
                        if len(pending) == need:
                            emit(make(bytes(pending)))
                            pending = None
                        continue
                    if running:
                        expanded += 1
                        if lengths[running] == 2:
                            emit(make(bytes((running, b))))
                            i += 1
                        elif i + 1 < n and data[i + 1] < 0x80:
                            message = new(Msg)
                            set_data(message, bytes((running, b, data[i + 1])))
                            set_complete(message, True)
                            set_truncated(message, False)
                            emit(message)
                            i += 2
                        else:
                            pending = bytearray((running, b))
                            need = 3
                            i += 1
                        continue
                    counters.dropped_data += 1
                    i += 1
                    continue
            if b >= 0xF8:
                i += 1
                rt = _REALTIME[b]
                if rt is None:
                    counters.dropped_undefined += 1
                else:
                    emit(rt)
                    counters.realtime += 1
                continue
            if pending is not None:
                counters.dropped_partial += len(pending)
                pending = None
            length = lengths[b]
            if b < 0xF0:
                running = b
                if length == 3:
                    if i + 2 < n and data[i + 1] < 0x80 and data[i + 2] < 0x80:
                        # The common case, inlined: _message() without the call.
                        message = new(Msg)
                        set_data(message, data[i:i + 3])
                        set_complete(message, True)
                        set_truncated(message, False)
                        emit(message)
                        i += 3
                        continue
                elif i + 1 < n and data[i + 1] < 0x80:
                    emit(make(data[i:i + 2]))
                    i += 2
                    continue
                pending = bytearray((b,))
                need = length
                i += 1
                continue
            # System common, SysEx start, EOX or undefined F4/F5: all cancel running status.
            running = 0
            i += 1
            if b == SYSEX:
                sysex = bytearray((SYSEX,))
            elif b == EOX:
                counters.dropped_eox += 1
            elif length < 0:
                counters.dropped_undefined += 1
            elif length == 1:
                emit(_TUNE_REQUEST)
            else:
                pending = bytearray((b,))
                need = length
        self._running = running
        self._pending = pending
        self._need = need
        self._sysex = sysex
        counters.running_status += expanded
        counters.messages += len(out)
        counters.bytes_out += sum(map(len, map(_DATA_OF, out)))
        return out


def parse(data: bytes | bytearray | memoryview, *, sysex_chunk: int | None = None) -> list[MidiMessage]:
    """Parse one whole byte stream with a fresh parser (bytes of an unfinished last message are left)."""
    return MidiStreamParser(sysex_chunk=sysex_chunk).feed(data)


__all__ = ["MidiMessage", "MidiStreamParser", "ParserCounters", "parse"]

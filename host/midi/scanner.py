"""The one MIDI 1.0 byte scanner: running status, SysEx, real-time and stray bytes, table driven.

`MidiStreamParser` (messages) and `UsbMidiEncoder` (packets) both subclass `MidiScanner`: the state
machine and its hot loop live here once, and each subclass says what to do with what the scanner
finds through the `_on_*` hooks. Every byte goes to exactly one hook, in stream order.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from host.midi.spec import EOX, LENGTH_BY_STATUS, REALTIME_STATUSES, SYSEX

DATA = 0
"""00-7F."""
CHANNEL = 1
"""80-EF: channel messages of 2 or 3 bytes; they set running status."""
COMMON = 2
"""F1, F2, F3, F6: system common messages of 1-3 bytes; they cancel running status."""
SYSEX_START = 3
"""F0."""
SYSEX_END = 4
"""F7: ends an open SysEx, stray otherwise."""
UNDEFINED = 5
"""F4, F5: undefined system common; dropped, and they cancel running status."""
REALTIME = 6
"""F8, FA, FB, FC, FE, FF: single bytes allowed anywhere, even inside other messages."""
UNDEFINED_REALTIME = 7
"""F9, FD: undefined real-time; dropped anywhere without changing any state."""


def _kind(b: int) -> int:
    if b < 0x80:
        return DATA
    if b < 0xF0:
        return CHANNEL
    if b >= 0xF8:
        return REALTIME if b in REALTIME_STATUSES else UNDEFINED_REALTIME
    return {SYSEX: SYSEX_START, EOX: SYSEX_END}.get(b, UNDEFINED if LENGTH_BY_STATUS[b] < 0 else COMMON)


KIND: bytes = bytes(_kind(b) for b in range(256))
"""The scanner's table: the kind (DATA ... UNDEFINED_REALTIME) of every byte value."""

_CHANNEL_RUN = re.compile(rb"(?:[\x80-\xbf\xe0-\xef][\x00-\x7f][\x00-\x7f]|[\xc0-\xdf][\x00-\x7f])+").match
"""Back-to-back complete channel messages, each with its status byte: the common case, found in C."""
split_channel_run = re.compile(rb"[\x80-\xbf\xe0-\xef][\x00-\x7f][\x00-\x7f]|[\xc0-\xdf][\x00-\x7f]").findall
"""split_channel_run(data, start, end): what `_on_run` is given, one bytes object per message, in C."""
_NEXT_STATUS = re.compile(rb"[\x80-\xff]").search
"""The next status byte: a SysEx's data, or a running-status group, is handed over in one slice."""

Out = TypeVar("Out")


@dataclass(slots=True)
class ScannerCounters:
    """What the scanner finds in the bytes fed, counted alike by every subclass (whose own counters
    add what it makes of them)."""

    bytes_in: int = 0
    """Bytes fed."""
    running_status: int = 0
    """Status bytes inserted by running status (`_scan`'s result): delivered messages and USB-MIDI
    packets always carry their status byte."""
    sysex_truncated: int = 0
    """SysEx messages cut short by a status byte other than F7 or real-time (the parser also counts
    one still open at flush(), which it delivers truncated)."""


class MidiScanner(abc.ABC, Generic[Out]):
    """Splits a MIDI byte stream, fed in any chunking, into what MIDI 1.0 makes of it; state spans feeds.

    The scanner holds running status and the unfinished non-SysEx message; SysEx bytes are passed on
    as they come (a subclass keeps what it needs). `_scan(data, out)` calls the hooks with `out`, the
    subclass's output for this feed, and returns how many status bytes running status inserted.
    """

    __slots__ = ("_in_sysex", "_need", "_pending", "_running")

    def __init__(self) -> None:
        self._running = 0
        self._pending: bytearray | None = None
        self._need = 0
        self._in_sysex = False

    def _forget(self) -> bytes:
        """Back to idle: running status, the open SysEx and the unfinished message (returned) dropped."""
        held = bytes(self._pending or b"")
        self._running = 0
        self._pending = None
        self._need = 0
        self._in_sysex = False
        return held

    # --- hooks: what the subclass makes of each thing found ---------------------------------------

    @abc.abstractmethod
    def _on_run(self, out: Out, data: bytes, start: int, end: int) -> None:
        """data[start:end] is complete channel messages back to back, each with its own status byte."""

    @abc.abstractmethod
    def _on_running_status(self, out: Out, status: int, data: bytes, start: int, end: int) -> None:
        """data[start:end] is the data bytes of whole messages sent with running status `status`
        (1 or 2 bytes each, as `status` says); each message is `status` followed by its data."""

    @abc.abstractmethod
    def _on_message(self, out: Out, message: bytes) -> None:
        """One complete channel or system common message, status first (running status expanded)."""

    @abc.abstractmethod
    def _on_realtime(self, out: Out, byte: int) -> None:
        """A defined real-time byte (wherever it stood)."""

    @abc.abstractmethod
    def _on_stray(self, out: Out, byte: int, kind: int) -> None:
        """A byte that fits no message: DATA without status, SYSEX_END without SysEx, UNDEFINED(_REALTIME)."""

    @abc.abstractmethod
    def _on_cut(self, out: Out, held: bytearray) -> None:
        """An unfinished message (status first) cut short by a status byte, which is scanned next."""

    @abc.abstractmethod
    def _on_sysex_start(self, out: Out) -> None:
        """F0 opened a SysEx."""

    @abc.abstractmethod
    def _on_sysex_data(self, out: Out, data: bytes, start: int, end: int) -> None:
        """data[start:end] are data bytes of the open SysEx."""

    @abc.abstractmethod
    def _on_sysex_end(self, out: Out) -> None:
        """F7 ended the open SysEx."""

    @abc.abstractmethod
    def _on_sysex_cut(self, out: Out, status: int) -> None:
        """`status` (neither F7 nor real-time) ends the open SysEx unfinished; it is scanned next."""

    # --- the loop ---------------------------------------------------------------------------------

    def _scan(self, data: bytes, out: Out) -> int:
        """Scan `data`, calling the hooks in stream order; return the running-status insertions."""
        n = len(data)
        kinds = KIND
        lengths = LENGTH_BY_STATUS
        channel_run = _CHANNEL_RUN
        next_status = _NEXT_STATUS
        on_message = self._on_message
        running = self._running
        pending = self._pending
        need = self._need
        in_sysex = self._in_sysex
        expanded = 0
        i = 0
        while i < n:
            if in_sysex:
                found = next_status(data, i)
                j = n if found is None else found.start()
                if j > i:
                    self._on_sysex_data(out, data, i, j)
                    i = j
                    if i == n:
                        break
                b = data[i]
                kind = kinds[b]
                if kind == SYSEX_END:
                    i += 1
                    in_sysex = False
                    self._on_sysex_end(out)
                    continue
                if kind < REALTIME:
                    in_sysex = False
                    self._on_sysex_cut(out, b)
                # The cutting status (or the real-time byte inside the SysEx) is handled below.
            else:
                b = data[i]
                kind = kinds[b]
            if kind == CHANNEL:
                if pending is not None:
                    self._on_cut(out, pending)
                    pending = None
                running = b
                size = lengths[b] - 1
                found = next_status(data, i + 1)
                j = n if found is None else found.start()
                count = (j - i - 1) // size
                if count == 1 and j - i - 1 == size:
                    # One whole message before the next status: the start of a run of complete
                    # messages that each carry their status, matched as a whole.
                    whole = channel_run(data, i)
                    assert whole is not None  # data[i:j] is one whole message
                    j = whole.end()
                    self._on_run(out, data, i, j)
                    last = data[j - 2]
                    running = last if last >= 0x80 else data[j - 3]
                    i = j
                    continue
                if not count:
                    pending = bytearray(data[i:j])
                    need = size + 1
                    i = j
                    continue
                # Running status follows: this message and the ones after it go as one running-status
                # group below, the first not counted as expanded (it carries its own status byte).
                expanded -= 1
                i += 1
            elif kind == DATA:
                if pending is not None:
                    i += 1
                    pending.append(b)
                    if len(pending) == need:
                        on_message(out, bytes(pending))
                        pending = None
                    continue
                if not running:
                    i += 1
                    self._on_stray(out, b, DATA)
                    continue
                found = next_status(data, i)
                j = n if found is None else found.start()
                size = lengths[running] - 1
            else:
                i += 1
                if kind == REALTIME:
                    self._on_realtime(out, b)
                    continue
                if kind == UNDEFINED_REALTIME:
                    self._on_stray(out, b, kind)
                    continue
                # System common, SysEx start, EOX or undefined F4/F5: all cut a held message and
                # cancel running status.
                if pending is not None:
                    self._on_cut(out, pending)
                    pending = None
                running = 0
                if kind == SYSEX_START:
                    in_sysex = True
                    self._on_sysex_start(out)
                elif kind == COMMON:
                    length = lengths[b]
                    if length == 1:
                        on_message(out, bytes((b,)))
                    else:
                        pending = bytearray((b,))
                        need = length
                else:
                    self._on_stray(out, b, kind)
                continue
            # A running-status group: data[i:j] are data bytes of `running` messages; every whole
            # message at once, then a lone first byte of a 3-byte message held for the second.
            count = (j - i) // size
            if count:
                k = i + count * size
                expanded += count
                self._on_running_status(out, running, data, i, k)
                i = k
            if i < j:
                expanded += 1
                pending = bytearray((running, data[i]))
                need = 3
                i += 1
        self._running = running
        self._pending = pending
        self._need = need
        self._in_sysex = in_sysex
        return expanded


__all__ = [
    "CHANNEL",
    "COMMON",
    "DATA",
    "KIND",
    "REALTIME",
    "SYSEX_END",
    "SYSEX_START",
    "UNDEFINED",
    "UNDEFINED_REALTIME",
    "MidiScanner",
    "ScannerCounters",
    "split_channel_run",
]

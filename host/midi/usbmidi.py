"""USB-MIDI 1.0 event packets (USB Device Class Definition for MIDI Devices 1.0, section 4).

A packet is 4 bytes: cable number (high nibble) and Code Index Number (low nibble), then three
MIDI bytes, unused ones 0. Encoders turn MIDI messages or byte streams into packets; the decoder
turns packets back into MIDI bytes (and, through per-cable parsers, into MidiMessages).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from host.midi.encode import check_message
from host.midi.errors import MidiValueError, UsbMidiPacketError
from host.midi.scanner import KIND, UNDEFINED, MidiScanner, ScannerCounters
from host.midi.spec import EOX, LENGTH_BY_STATUS, SYSEX
from host.midi.stream import MidiMessage, MidiStreamParser

PACKET_SIZE = 4
MAX_CABLE = 15

CIN_MISC = 0x0
"""Miscellaneous function codes, reserved for future extensions (1, 2 or 3 bytes)."""
CIN_CABLE_EVENT = 0x1
"""Cable events, reserved for future expansion (1, 2 or 3 bytes)."""
CIN_SYSCOMMON_2 = 0x2
"""Two-byte system common message (F1 MTC quarter frame, F3 song select)."""
CIN_SYSCOMMON_3 = 0x3
"""Three-byte system common message (F2 song position pointer)."""
CIN_SYSEX_START = 0x4
"""SysEx starts or continues: three bytes."""
CIN_SYSEX_END_1 = 0x5
"""Single-byte system common message (F6), or SysEx ends with the following single byte."""
CIN_SYSEX_END_2 = 0x6
"""SysEx ends with the following two bytes."""
CIN_SYSEX_END_3 = 0x7
"""SysEx ends with the following three bytes."""
CIN_SINGLE_BYTE = 0xF
"""Single byte: real-time messages, or any byte sent unparsed."""
# CIN 0x8..0xE: channel voice messages, CIN = high nibble of the status byte.

CIN_LENGTH: tuple[int, ...] = (3, 3, 2, 3, 3, 1, 2, 3, 3, 3, 3, 3, 2, 2, 3, 1)
"""MIDI bytes a packet of each CIN carries. CIN 0x0/0x1 are reserved with 1, 2 or 3 bytes: all 3
are returned by decode_packet, since the spec does not fix how many are valid."""
_DELIVER_LENGTH: tuple[int, ...] = (0, 0, *CIN_LENGTH[2:])
"""Bytes the decoder delivers per CIN: none for the reserved CINs 0x0 and 0x1."""


def _build_heads() -> tuple[tuple[bytes | None, ...], ...]:
    """Per cable, per status byte: the header byte of the packet carrying that fixed-length message."""
    heads = []
    for cable in range(16):
        row: list[bytes | None] = [None] * 256
        for status in range(0x80, 0x100):
            length = LENGTH_BY_STATUS[status]
            if length <= 0:
                continue
            if status < 0xF0:
                cin = status >> 4
            elif status >= 0xF8:
                cin = CIN_SINGLE_BYTE
            else:
                cin = {1: CIN_SYSEX_END_1, 2: CIN_SYSCOMMON_2, 3: CIN_SYSCOMMON_3}[length]
            row[status] = bytes(((cable << 4) | cin,))
        heads.append(tuple(row))
    return tuple(heads)


_HEADS = _build_heads()
PACKET_HEADS: tuple[tuple[bytes, ...], ...] = tuple(tuple(h or b"" for h in row) for row in _HEADS)
"""PACKET_HEADS[cable][status]: the one-byte packet header (cable and CIN) of the packet carrying the
fixed-length message `status` starts, b"" where none starts: a fixed-length message's packet is
`PACKET_HEADS[cable][msg[0]] + msg + PACKET_PADS[len(msg)]`, for callers that inline the encoding."""
_STATUS_BYTE = tuple(bytes((b,)) for b in range(256))
"""Each byte value as a one-byte bytes object."""
PACKET_PADS = (b"", b"\x00\x00", b"\x00", b"")
"""Zero padding after a fixed-length message of 1, 2 or 3 bytes, indexed by its length."""
_CIN_HEADER = tuple(bytes(((cable << 4) | (b >> 4)) & 0xFF for b in range(256)) for cable in range(16))
"""Per cable, a bytes.translate table: channel status byte -> its packet's header byte (CIN = high nibble)."""
_SPLIT_AFTER_TWO_BYTE = re.compile(rb"(?<=[\xc0-\xdf][\x00-\x7f])").split
"""Splits a run of channel messages right after each 2-byte one (C0-DF and its data byte)."""


def _channel_run_packets(run: bytes, cable: int) -> bytearray:
    """Packets for `run`, complete channel messages back to back, each with its status byte (as the
    scanner's run pattern matches them), built by C-level slicing: 2-byte messages get their pad
    byte, then every 3 bytes are one packet's MIDI bytes and its status gives the header."""
    padded = b"\x00".join(_SPLIT_AFTER_TWO_BYTE(run))
    statuses = padded[0::3]
    packets = bytearray(len(padded) // 3 * PACKET_SIZE)
    packets[0::4] = statuses.translate(_CIN_HEADER[cable])
    packets[1::4] = statuses
    packets[2::4] = padded[1::3]
    packets[3::4] = padded[2::3]
    return packets


_SINGLE = tuple(
    tuple(bytes(((cable << 4) | CIN_SINGLE_BYTE, b, 0, 0)) for b in range(256)) for cable in range(16)
)
"""Per cable, per byte: the CIN 0xF packet carrying that one byte."""


def _check_cable(cable: object) -> int:
    if isinstance(cable, bool) or not isinstance(cable, int) or not 0 <= cable <= MAX_CABLE:
        raise MidiValueError(f"cable must be an int in 0..{MAX_CABLE}, got {cable!r}")
    return cable


def encode_packet(cable: int, cin: int, midi: bytes) -> bytes:
    """One raw packet with any CIN 0x0..0xF; `midi` must have the length the CIN carries (1-3 for
    the reserved CINs 0x0/0x1) and is zero-padded. No check that the bytes suit the CIN."""
    _check_cable(cable)
    if isinstance(cin, bool) or not isinstance(cin, int) or not 0 <= cin <= 0xF:
        raise UsbMidiPacketError(f"cin must be an int in 0..15, got {cin!r}")
    midi = bytes(midi)
    if cin <= CIN_CABLE_EVENT:
        if not 1 <= len(midi) <= 3:
            raise UsbMidiPacketError(f"CIN 0x{cin:X} carries 1..3 MIDI bytes, got {len(midi)}: {midi.hex()}")
    elif len(midi) != CIN_LENGTH[cin]:
        raise UsbMidiPacketError(
            f"CIN 0x{cin:X} carries {CIN_LENGTH[cin]} MIDI bytes, got {len(midi)}: {midi.hex()}")
    return bytes(((cable << 4) | cin,)) + midi + bytes(3 - len(midi))


def decode_packet(packet: bytes | bytearray | memoryview) -> tuple[int, int, bytes]:
    """(cable, cin, the MIDI bytes the CIN says are valid) of one 4-byte packet; all 3 for CIN 0x0/0x1."""
    if len(packet) != PACKET_SIZE:
        raise UsbMidiPacketError(
            f"a USB-MIDI event packet is 4 bytes, got {len(packet)}: {bytes(packet).hex()}")
    head = packet[0]
    cin = head & 0x0F
    return head >> 4, cin, bytes(packet[1:1 + CIN_LENGTH[cin]])


def _sysex_packets(msg: bytes, cable: int, end: bool) -> bytes:
    """Packets for SysEx bytes: CIN 0x4 for every full group of three, and when `end`, the last
    group (1-3 bytes, ending with F7) as CIN 0x5/0x6/0x7. Without `end`, len(msg) % 3 must be 0."""
    length = len(msg)
    count = (length + 2) // 3
    if count == 0:
        return b""
    last = length - 3 * (count - 1)
    start = (cable << 4) | CIN_SYSEX_START
    heads = bytes((start,)) * (count - 1) + bytes(((cable << 4) | (CIN_SYSEX_START + last if end else 4),))
    padded = msg + bytes(3 * count - length)
    out = bytearray(4 * count)
    out[0::4] = heads
    out[1::4] = padded[0::3]
    out[2::4] = padded[1::3]
    out[3::4] = padded[2::3]
    return bytes(out)


def encode_message(msg: bytes | bytearray | memoryview, cable: int = 0) -> bytes:
    """One complete MIDI message (status byte first, no running status) -> its packets, concatenated.

    Channel messages use CIN = status high nibble, F1/F3 CIN 0x2, F2 CIN 0x3, F6 CIN 0x5, real-time
    CIN 0xF; SysEx F0..F7 is split into CIN 0x4 packets and ends with CIN 0x5, 0x6 or 0x7.
    """
    if type(cable) is not int or not 0 <= cable <= MAX_CABLE:
        _check_cable(cable)
    n = len(msg)
    if n:
        status = msg[0]
        head = _HEADS[cable][status]
        if head is not None and n == LENGTH_BY_STATUS[status]:
            if n == 3:
                if (msg[1] | msg[2]) < 0x80:
                    return head + msg
            elif n == 1 or msg[1] < 0x80:
                return head + msg + PACKET_PADS[n]
    return _encode_slow(bytes(msg), _check_cable(cable))


def _encode_slow(msg: bytes, cable: int) -> bytes:
    """encode_message for SysEx, and (through check_message, the one validator) the errors for
    everything that is not one valid message: every valid fixed-length message takes the fast path.
    A valid SysEx is recognised inline, so the SysEx hot path pays no extra call (measured: +4-10 %
    per small SysEx through check_message)."""
    if msg and msg[0] == SYSEX and len(msg) >= 2 and msg[-1] == EOX and msg[1:-1].isascii():
        return _sysex_packets(msg, cable, True)
    check_message(msg)
    raise AssertionError(f"encode_message: check_message accepted {msg.hex()} the encoder refused")


@dataclass(slots=True)
class EncoderCounters(ScannerCounters):
    """What a UsbMidiEncoder did with the bytes it was given (bytes_in, running_status and
    sysex_truncated: ScannerCounters)."""

    packets: int = 0
    """Packets emitted."""
    unparsed: int = 0
    """Bytes sent one by one as CIN 0xF because they fit no message: stray data or F7, undefined
    statuses, the held part of a message cut short, and whatever flush() found unfinished."""


class UsbMidiEncoder(MidiScanner[bytearray]):
    """Stateful MIDI byte stream -> USB-MIDI packets, for input in any chunking (e.g. SysEx fragments
    arriving as separate events). Packets are emitted as soon as they are determined.

    Real-time bytes get their own CIN 0xF packet immediately, even inside a message or SysEx. Bytes
    that fit no message are passed through as CIN 0xF so the receiver sees the same stream and its
    parser drops the same bytes; running status on input is expanded. A status byte that cuts a SysEx
    short goes out at once as CIN 0xF after the SysEx's held bytes, so the receiver ends the SysEx
    where the input did, before any real-time byte that follows (#9); the rest of that message then
    follows as CIN 0xF too. The state machine is MidiScanner's; this class makes packets of it.
    """

    __slots__ = ("_cable", "_heads", "_single", "_status_sent", "_sysex", "counters")

    def __init__(self, cable: int = 0) -> None:
        super().__init__()
        self._cable = _check_cable(cable)
        self._heads = PACKET_HEADS[cable]
        self._single = _SINGLE[cable]
        self.counters = EncoderCounters()
        self._sysex = bytearray()
        """Open SysEx: the 0..2 bytes not yet sent (a full group of three goes out at once)."""
        self._status_sent = False
        """The held message's status byte already went out (it cut a SysEx short)."""

    @property
    def cable(self) -> int:
        """The cable number every packet carries."""
        return self._cable

    def encode(self, data: bytes | bytearray | memoryview) -> bytes:
        """Take more MIDI bytes; return the packets they determine."""
        if type(data) is not bytes:
            data = bytes(data)
        counters = self.counters
        counters.bytes_in += len(data)
        out = bytearray()
        counters.running_status += self._scan(data, out)
        counters.packets += len(out) // PACKET_SIZE
        return bytes(out)

    def flush(self) -> bytes:
        """End of stream: send whatever an unfinished message holds as unparsed CIN 0xF bytes and
        return to the idle state (running status forgotten)."""
        held = self._forget()
        if self._status_sent:
            held = held[1:]
        held += self._sysex
        self._sysex = bytearray()
        self._status_sent = False
        self.counters.unparsed += len(held)
        self.counters.packets += len(held)
        return b"".join(self._single[b] for b in held)

    @property
    def pending_bytes(self) -> int:
        """MIDI bytes held until the packet that carries them is determined."""
        return len(self._pending or b"") - self._status_sent + len(self._sysex)

    def reset(self) -> None:
        """Drop anything held, forget running status and zero the counters (flush() sends instead)."""
        self.counters = EncoderCounters()
        self._forget()
        self._sysex = bytearray()
        self._status_sent = False

    # --- what the scanner found, as packets ------------------------------------------------------

    def _send_status_sent_rest(self, out: bytearray, message: bytes | bytearray) -> None:
        """The held message whose status already went out ends: its other bytes go out as CIN 0xF."""
        self._status_sent = False
        single = self._single
        for b in message[1:]:
            out += single[b]

    def _on_run(self, out: bytearray, data: bytes, start: int, end: int) -> None:
        if self._status_sent:
            first = 2 if 0xC0 <= data[start] < 0xE0 else 3
            self._send_status_sent_rest(out, data[start:start + first])
            start += first
        out += _channel_run_packets(data[start:end], self._cable)

    def _on_running_status(self, out: bytearray, status: int, data: bytes, start: int, end: int) -> None:
        # Every packet at once with strided slices: head, status, then the 1 or 2 data bytes (or 0).
        size = LENGTH_BY_STATUS[status] - 1
        if self._status_sent:
            self._send_status_sent_rest(out, data[start - 1:start + size])
            start += size
        count = (end - start) // size
        packets = bytearray(PACKET_SIZE * count)
        packets[0::4] = self._heads[status] * count
        packets[1::4] = _STATUS_BYTE[status] * count
        packets[2::4] = data[start:end:size]
        if size == 2:
            packets[3::4] = data[start + 1:end:size]
        out += packets

    def _on_message(self, out: bytearray, message: bytes) -> None:
        if self._status_sent:
            self._send_status_sent_rest(out, message)
            return
        out += self._heads[message[0]]
        out += message
        out += PACKET_PADS[len(message)]

    def _on_realtime(self, out: bytearray, byte: int) -> None:
        out += self._single[byte]

    def _on_stray(self, out: bytearray, byte: int, kind: int) -> None:
        out += self._single[byte]
        self.counters.unparsed += 1

    def _on_cut(self, out: bytearray, held: bytearray) -> None:
        # Sent unparsed, so the receiver sees the same cut and drops the same bytes.
        single = self._single
        for b in held[1:] if self._status_sent else held:
            out += single[b]
        self._status_sent = False
        self.counters.unparsed += len(held)

    def _on_sysex_start(self, out: bytearray) -> None:
        self._sysex = bytearray() if self._status_sent else bytearray((SYSEX,))
        self._status_sent = False

    def _on_sysex_data(self, out: bytearray, data: bytes, start: int, end: int) -> None:
        sysex = self._sysex
        sysex += data[start:end]
        whole = len(sysex) // 3 * 3
        if whole:
            out += _sysex_packets(bytes(sysex[:whole]), self._cable, False)
            del sysex[:whole]

    def _on_sysex_end(self, out: bytearray) -> None:
        sysex = self._sysex
        sysex.append(EOX)
        out += _sysex_packets(bytes(sysex), self._cable, True)
        self._sysex = bytearray()

    def _on_sysex_cut(self, out: bytearray, status: int) -> None:
        # Cut short: send the held bytes unparsed so the receiver sees the same cut; a status that
        # starts a held message goes out with them, so the cut is not moved after later bytes.
        single = self._single
        held = self._sysex
        for b in held:
            out += single[b]
        self.counters.unparsed += len(held)
        self.counters.sysex_truncated += 1
        self._sysex = bytearray()
        if LENGTH_BY_STATUS[status] != 1 and KIND[status] != UNDEFINED:
            out += single[status]
            self._status_sent = True


@dataclass(slots=True)
class DecoderCounters:
    """What a UsbMidiDecoder did with every byte it was fed.

    Books balance: bytes_in == 4 * packets + trailing_bytes and
    packets == delivered + padding + reserved_misc + reserved_cable.
    """

    bytes_in: int = 0
    packets: int = 0
    """Whole 4-byte packets seen."""
    delivered: int = 0
    """Packets whose MIDI bytes were delivered."""
    midi_bytes: int = 0
    """MIDI bytes delivered."""
    padding: int = 0
    """All-zero packets (CIN 0x0, cable 0, no data): padding, ignored."""
    reserved_misc: int = 0
    """Other CIN 0x0 packets (miscellaneous, reserved): ignored and reported."""
    reserved_cable: int = 0
    """CIN 0x1 packets (cable events, reserved): ignored and reported."""
    bad_length: int = 0
    """feed() calls whose length was not a multiple of 4: the trailing bytes were dropped, reported."""
    trailing_bytes: int = 0
    """Bytes dropped from the ends of such transfers."""


class UsbMidiDecoder:
    """USB-MIDI packets -> (cable, MIDI bytes), and through per-cable parsers -> MidiMessages.

    Each feed() is one transfer: a length that is not a multiple of 4 is reported and the trailing
    bytes are dropped. Reserved CIN 0x0/0x1 packets are ignored and reported; problems are kept in
    `problems` (the last `max_problems`), or raised as UsbMidiPacketError when `strict`.
    """

    __slots__ = ("_parsers", "_sysex_chunk", "counters", "problems", "strict")

    def __init__(
        self, *, strict: bool = False, sysex_chunk: int | None = None, max_problems: int = 64
    ) -> None:
        self.strict = strict
        self._sysex_chunk = sysex_chunk
        self.counters = DecoderCounters()
        self.problems: deque[UsbMidiPacketError] = deque(maxlen=max_problems)
        self._parsers: dict[int, MidiStreamParser] = {}
        MidiStreamParser(sysex_chunk=sysex_chunk)  # validates sysex_chunk now, not at first use

    def _report(self, problem: UsbMidiPacketError) -> None:
        if self.strict:
            raise problem
        self.problems.append(problem)

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
        """Decode one transfer of packets; return (cable, MIDI bytes) per delivered packet, in order."""
        if type(data) is not bytes:
            data = bytes(data)
        n = len(data)
        counters = self.counters
        counters.bytes_in += n
        whole = n - n % PACKET_SIZE
        out: list[tuple[int, bytes]] = []
        emit = out.append
        deliver = _DELIVER_LENGTH
        midi_bytes = 0
        for i in range(0, whole, PACKET_SIZE):
            head = data[i]
            length = deliver[head & 0x0F]
            if length:
                emit((head >> 4, data[i + 1:i + 1 + length]))
                midi_bytes += length
            elif head & 0x0F == CIN_MISC and not (head or data[i + 1] or data[i + 2] or data[i + 3]):
                counters.padding += 1
            else:
                cin = head & 0x0F
                if cin == CIN_MISC:
                    counters.reserved_misc += 1
                    what = "CIN 0x0 (miscellaneous, reserved)"
                else:
                    counters.reserved_cable += 1
                    what = "CIN 0x1 (cable event, reserved)"
                self._report(UsbMidiPacketError(
                    f"packet {data[i:i + 4].hex()} at offset {i} has {what}; ignored"))
        counters.packets += whole // PACKET_SIZE
        counters.delivered += len(out)
        counters.midi_bytes += midi_bytes
        if whole != n:
            counters.bad_length += 1
            counters.trailing_bytes += n - whole
            self._report(UsbMidiPacketError(
                f"transfer of {n} bytes is not a multiple of 4; dropped trailing {data[whole:].hex()}"))
        return out

    def reset(self) -> None:
        """Zero the counters, clear the problems and forget every cable's parser state."""
        self.counters = DecoderCounters()
        self.problems.clear()
        self._parsers.clear()

    def parser(self, cable: int) -> MidiStreamParser:
        """The MidiStreamParser that messages() uses for `cable` (created on first use)."""
        parser = self._parsers.get(cable)
        if parser is None:
            parser = self._parsers[_check_cable(cable)] = MidiStreamParser(sysex_chunk=self._sysex_chunk)
        return parser

    @property
    def cables(self) -> tuple[int, ...]:
        """Cables that messages() has seen so far, in ascending order."""
        return tuple(sorted(self._parsers))

    def messages(self, data: bytes | bytearray | memoryview) -> list[tuple[int, MidiMessage]]:
        """Decode a transfer and parse each cable's bytes into MidiMessages: (cable, message) in order."""
        out: list[tuple[int, MidiMessage]] = []
        run: list[bytes] = []
        run_cable = -1
        for cable, midi in self.feed(data):
            if cable != run_cable and run:
                out.extend((run_cable, m) for m in self.parser(run_cable).feed(b"".join(run)))
                run.clear()
            run_cable = cable
            run.append(midi)
        if run:
            out.extend((run_cable, m) for m in self.parser(run_cable).feed(b"".join(run)))
        return out


def encode_messages(messages: Iterable[bytes | bytearray | memoryview], cable: int = 0) -> bytes:
    """Several complete messages -> their packets, concatenated: what encode_message gives for each,
    with the 2- and 3-byte messages (the common case) checked and packed inline, so the batch costs
    less per message than calling encode_message in a loop. Raises MidiValueError as it would."""
    if type(cable) is not int or not 0 <= cable <= MAX_CABLE:
        _check_cable(cable)
    heads = PACKET_HEADS[cable]
    lengths = LENGTH_BY_STATUS
    out: list[bytes] = []
    append = out.append
    for msg in messages:
        n = len(msg)
        if n == 3:
            status = msg[0]
            if lengths[status] == 3 and (msg[1] | msg[2]) < 0x80:
                append(heads[status] + msg)
                continue
        elif n == 2:
            status = msg[0]
            if lengths[status] == 2 and msg[1] < 0x80:
                append(heads[status] + msg + b"\x00")
                continue
        append(encode_message(msg, cable))
    return b"".join(out)


__all__ = [
    "CIN_LENGTH",
    "PACKET_HEADS",
    "PACKET_PADS",
    "DecoderCounters",
    "EncoderCounters",
    "UsbMidiDecoder",
    "UsbMidiEncoder",
    "decode_packet",
    "encode_message",
    "encode_messages",
    "encode_packet",
]

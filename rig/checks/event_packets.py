"""USB-MIDI 1.0 event packet stream checks (section 4, table 4-1): every packet's Code Index Number
agrees with its bytes, SysEx is split legally (CIN 4 starts/continues, 5/6/7 end it with 1/2/3 bytes,
F7 last), cable numbers are ones the endpoint's descriptor declares, unused bytes are zero; all-zero
padding packets are allowed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rig.checks.findings import Finding, error, warning

CLAUSE = "USB-MIDI 1.0 4"
TABLE = "USB-MIDI 1.0 4 (table 4-1)"
SYSEX_START, SYSEX_END = 0xF0, 0xF7
CHANNEL_CINS = range(0x8, 0xF)
CIN_SIZES = {0x2: 2, 0x3: 3, 0x4: 3, 0x5: 1, 0x6: 2, 0x7: 3, 0x8: 3, 0x9: 3, 0xA: 3, 0xB: 3, 0xC: 2,
             0xD: 2, 0xE: 3, 0xF: 1}
"""MIDI bytes each CIN carries (table 4-1); the rest of the packet is zero."""
TWO_BYTE_COMMON = (0xF1, 0xF3)
"""MTC quarter frame, song select: CIN 2."""
THREE_BYTE_COMMON = (0xF2,)
"""Song position pointer: CIN 3."""
ONE_BYTE_COMMON = (0xF6,)
"""Tune request: CIN 5 outside SysEx."""


@dataclass
class EventStreamChecker:
    """Checks packets as they arrive, keeping each cable's SysEx state across transfers.

    `cables`: how many cables the endpoint declares (its bNumEmbMIDIJack); packets naming a cable
    number >= cables are errors. `where` prefixes every message (e.g. "EP 0x81")."""

    cables: int
    where: str = "stream"
    in_sysex: set[int] = field(default_factory=set)
    packets: int = 0

    def feed(self, data: bytes) -> list[Finding]:
        """Check one transfer's bytes (whole packets; a trailing partial packet is an error)."""
        out: list[Finding] = []
        if len(data) % 4:
            out.append(error(CLAUSE, f"{self.where}: transfer of {len(data)} bytes is not whole 4-byte "
                                     f"event packets"))
        for pos in range(0, len(data) - 3, 4):
            out += self.packet(bytes(data[pos:pos + 4]))
        return out

    def finish(self) -> list[Finding]:
        """At the end of a stream that should be complete: a SysEx still open is reported."""
        return [warning(CLAUSE, f"{self.where}: cable {cable}: SysEx started but never ended")
                for cable in sorted(self.in_sysex)]

    def packet(self, packet: bytes) -> list[Finding]:
        """Check one 4-byte event packet."""
        index = self.packets
        self.packets += 1
        cable, cin = packet[0] >> 4, packet[0] & 0x0F
        midi = packet[1:4]
        where = f"{self.where} packet {index} ({packet.hex(' ')}): cable {cable} CIN 0x{cin:X}"
        if cin in (0x0, 0x1):
            if cin == 0 and not any(midi):
                return []  # padding
            return [warning(TABLE, f"{where}: reserved CIN (miscellaneous / cable event) with data")]
        out: list[Finding] = []
        if cable >= self.cables:
            out.append(error(CLAUSE, f"{where}: cable number {cable}, but the endpoint declares "
                                     f"{self.cables} cable(s) (bNumEmbMIDIJack)"))
        size = CIN_SIZES[cin]
        if any(midi[size:]):
            out.append(error(TABLE, f"{where}: bytes after the CIN's {size} MIDI byte(s) must be zero"))
        out += self._content(cable, cin, midi[:size], where)
        return out

    def _content(self, cable: int, cin: int, body: bytes, where: str) -> list[Finding]:
        status = body[0]
        sysex = cable in self.in_sysex
        if cin == 0xF:
            return []  # single byte: real-time (legal inside SysEx) or an unparsed byte
        if cin in CHANNEL_CINS:
            return self._channel(cable, cin, body, where, sysex)
        if cin == 0x4:
            return self._sysex_part(cable, body, where, sysex, ends=False)
        if cin in (0x5, 0x6, 0x7):
            if cin == 0x5 and status in ONE_BYTE_COMMON and not sysex:
                return []
            return self._sysex_part(cable, body, where, sysex, ends=True)
        wanted = TWO_BYTE_COMMON if cin == 0x2 else THREE_BYTE_COMMON
        out = [] if status in wanted else [error(TABLE, f"{where}: status 0x{status:02X}, CIN 0x{cin:X} "
                                                        f"carries {'/'.join(f'0x{s:02X}' for s in wanted)}")]
        out += _data_bytes(body[1:], where)
        if sysex:
            out.append(error(CLAUSE, f"{where}: system common message inside an unfinished SysEx"))
            self.in_sysex.discard(cable)
        return out

    def _channel(self, cable: int, cin: int, body: bytes, where: str, sysex: bool) -> list[Finding]:
        status = body[0]
        out: list[Finding] = []
        if status >> 4 != cin:
            out.append(error(TABLE, f"{where}: status byte 0x{status:02X} does not match the CIN (a channel "
                                    f"message's CIN is its status byte's high nibble)"))
        out += _data_bytes(body[1:], where)
        if sysex:
            out.append(error(CLAUSE, f"{where}: channel message inside an unfinished SysEx"))
            self.in_sysex.discard(cable)
        return out

    def _sysex_part(self, cable: int, body: bytes, where: str, sysex: bool, ends: bool) -> list[Finding]:
        out: list[Finding] = []
        first = 0
        if not sysex:
            if body[0] != SYSEX_START:
                out.append(error(TABLE, f"{where}: 0x{body[0]:02X} outside a SysEx; a SysEx packet starts "
                                        f"with 0xF0" + (" (or CIN 5 carries 0xF6)" if ends and len(body) == 1
                                                        else "")))
            first = 1
        payload = body[first:len(body) - 1] if ends else body[first:]
        out += _data_bytes(payload, where)
        if ends:
            if body[-1] != SYSEX_END:
                out.append(error(TABLE, f"{where}: a SysEx-end CIN's last byte is 0x{body[-1]:02X}, "
                                        f"expected 0xF7"))
            self.in_sysex.discard(cable)
        else:
            self.in_sysex.add(cable)
        return out


def _data_bytes(data: bytes, where: str) -> list[Finding]:
    bad = [b for b in data if b & 0x80]
    if not bad:
        return []
    return [error(TABLE, f"{where}: data byte(s) {' '.join(f'0x{b:02X}' for b in bad)} have bit 7 set "
                         f"(status bytes where data belongs)")]


def check_event_packets(transfers: Iterable[bytes], cables: int, where: str = "stream",
                        complete: bool = True) -> list[Finding]:
    """Check a whole stream (one bytes object per transfer); `complete`: it should end outside SysEx."""
    checker = EventStreamChecker(cables, where)
    out: list[Finding] = []
    for data in transfers:
        out += checker.feed(data)
    if complete:
        out += checker.finish()
    return out

"""The board's MIDI function, as firmware/src/midi.c and midi_core.c: what ECHO / TRANSFORM / SOURCE /
SINK do to USB-MIDI 1.0 event packets, and the EP_MIDI_OUT / EP_MIDI_IN endpoints with their queue.

The USB endpoints and the OS MIDI ports run packets through the same engine, so both paths behave
as the firmware does. Converting MIDI messages to and from packets (the OS-port side) is host.midi's
job (encode_message, UsbMidiDecoder): there is one codec.
"""

from __future__ import annotations

import threading
from collections import deque

from host.midi.usbmidi import CIN_CABLE_EVENT, CIN_MISC, PACKET_SIZE
from rig import contract as c
from rig.contract.modes import MidiModeConfig
from rig.loopback.usbd import BoardCore, NoClassRequests, PacketIn, wait_to_take

MIDI_IN_CAPACITY = 256
"""Event packets the EP_MIDI_IN queue holds (the firmware's QUEUE_SLOTS)."""
EVENTS_PER_PACKET = c.BULK_PACKET_SIZE // PACKET_SIZE
"""Event packets in one full USB packet: the room EP_MIDI_OUT needs to be armed."""
SOURCE_THREAD = "midi source"

NOTE_CINS = frozenset((0x8, 0x9, 0xA))
"""Code index numbers whose second MIDI byte is a note number (note off, note on, poly pressure)."""


def is_padding(packet: bytes | memoryview) -> bool:
    """CIN 0 packets pad a transfer and are not events."""
    return packet[0] & 0x0F == CIN_MISC


def is_bad(packet: bytes | memoryview) -> bool:
    """Reserved CIN 1, or a cable number the board does not have."""
    return packet[0] & 0x0F == CIN_CABLE_EVENT or packet[0] >> 4 >= c.MIDI_CABLES


def respond(config: MidiModeConfig, packet: bytes) -> bytes | None:
    """The packet the board sends back for one good received packet, or None (SOURCE, SINK)."""
    if config.mode is c.MidiMode.ECHO:
        return packet
    if config.mode is c.MidiMode.TRANSFORM:
        if packet[0] & 0x0F in NOTE_CINS:
            return bytes((packet[0], packet[1], (packet[2] + config.transpose) % 128, packet[3]))
        return packet
    return None


def source_pair(cable: int, seq: int) -> tuple[bytes, bytes]:
    """SOURCE's note-on / note-off packets for sequence number `seq` (channel 1, note-off velocity 0)."""
    note = seq & 0x7F
    velocity = 1 + ((seq >> 7) % 127)
    head = cable << 4
    return bytes((head | 0x9, 0x90, note, velocity)), bytes((head | 0x8, 0x80, note, 0))


def source_seq(packet: bytes) -> int | None:
    """Inverse of source_pair for a note-on (seq modulo 127 * 128), or None for anything else."""
    if packet[0] & 0x0F != 0x9:
        return None
    return ((packet[3] - 1) << 7) | packet[2]


class MidiFunction(NoClassRequests):
    """The audio control and MIDI streaming interfaces: the mode, the EP_MIDI_IN queue (NAKing
    EP_MIDI_OUT when full) and the SOURCE thread. An entry of the usbd class table."""

    itf_first = c.IF_AUDIO_CONTROL
    itf_count = 2
    endpoints: tuple[int, ...] = (c.EP_MIDI_OUT, c.EP_MIDI_IN)

    def __init__(self, core: BoardCore) -> None:
        self._core = core
        self.config = MidiModeConfig(c.MidiMode.ECHO)
        self.queue: deque[bytes] = deque()
        self.out_blocked = False
        """EP_MIDI_OUT is left unarmed (NAKs) until a read makes room for a packet's replies."""
        self.ep_in = PacketIn(core, "EP_MIDI_IN", EVENTS_PER_PACKET, lambda: len(self.queue), self._take)
        """EP_MIDI_IN: a packet holds the replies queued (up to 16) when the endpoint was idle."""

    def power_on(self) -> None:
        """Default mode, nothing queued."""
        self.config = MidiModeConfig(c.MidiMode.ECHO)
        self.queue = deque()
        self.out_blocked = False
        self.ep_in.reset()

    # --- the class table entry ---------------------------------------------------------------

    def reset(self, was_configured: bool) -> None:
        """Queued replies dropped, SOURCE stopped (it starts again at open)."""
        self.queue.clear()
        self.out_blocked = False
        self.ep_in.reset()
        self._core.cancel(SOURCE_THREAD)
        self._core.cv.notify_all()

    def open(self) -> None:
        """SOURCE starts again from its first event."""
        if self.config.mode is c.MidiMode.SOURCE:
            config = self.config
            self._core.start(SOURCE_THREAD, lambda stop: self._source(config, stop))


    # --- the mode ----------------------------------------------------------------------------

    def set_mode(self, config: MidiModeConfig, *, log: bool = False) -> None:
        """SET_MIDI_MODE after its status stage: stop SOURCE, take the mode, empty the IN queue (the
        armed packet and an owed ZLP too, as midi.c takes them back), start SOURCE; no lock."""
        core = self._core
        core.stop_source(SOURCE_THREAD)
        with core.cv:
            self.config = config
            self.queue.clear()
            self.ep_in.reset()
            self.out_blocked = False
            core.cv.notify_all()
            if log:
                core.log("midi_mode", int(config.mode))
            if config.mode is c.MidiMode.SOURCE and core.configured:
                core.start(SOURCE_THREAD, lambda stop: self._source(config, stop))

    # --- endpoints ---------------------------------------------------------------------------

    def write(self, data: memoryview, deadline: float | None) -> None:
        """EP_MIDI_OUT: each 64-byte USB packet through the engine. A packet is taken only while the
        queue has room for a whole packet's replies (the firmware arms OUT only then): otherwise it
        is NAKed, the write times out and the packet is neither received nor dropped; the packets
        taken before it are delivered, and the timeout says how many bytes (protocol.md, *Timed-out
        writes*)."""
        for start in range(0, len(data), c.BULK_PACKET_SIZE):
            wait_to_take(self._core, self._has_room, deadline, "EP_MIDI_OUT (IN queue full)", start)
            self.queue.extend(self._receive(data[start:start + c.BULK_PACKET_SIZE]))
            self.ep_in.arm()
            self._check_room()
            self._core.cv.notify_all()

    def _has_room(self) -> bool:
        return MIDI_IN_CAPACITY - len(self.queue) >= EVENTS_PER_PACKET

    def _check_room(self) -> None:
        """After an OUT packet: EP_MIDI_OUT stays unarmed while a packet's replies might not fit,
        counted once each time it becomes so (midi_tx_overflow)."""
        if self._has_room():
            self.out_blocked = False
        elif not self.out_blocked:
            self.out_blocked = True
            self._core.counters["midi_tx_overflow"] += 1

    def _receive(self, data: memoryview) -> list[bytes]:
        """Count and run received packets through the engine; returns the replies."""
        stats = self._core.counters
        replies = []
        for pos in range(0, len(data), PACKET_SIZE):
            packet = bytes(data[pos:pos + PACKET_SIZE])
            if len(packet) < PACKET_SIZE:
                stats["midi_rx_packets"] += 1
                stats["midi_rx_bad"] += 1
                continue
            if is_padding(packet):
                continue
            stats["midi_rx_packets"] += 1
            if is_bad(packet):
                stats["midi_rx_bad"] += 1
                continue
            reply = respond(self.config, packet)
            if reply is not None:
                replies.append(reply)
        return replies

    def _take(self, count: int) -> bytes:
        """The next `count` queued events, sent: counted, and room made for EP_MIDI_OUT."""
        packet = b"".join(self.queue.popleft() for _ in range(count))
        self._core.counters["midi_tx_packets"] += count
        if self.out_blocked and self._has_room():
            self.out_blocked = False
        return packet

    def read(self, length: int, deadline: float | None) -> bytes:
        """EP_MIDI_IN, as midi.c arms it (see PacketIn)."""
        return self.ep_in.read(length, deadline)

    def _source(self, config: MidiModeConfig, stop: threading.Event) -> None:
        core = self._core
        period_us = 1_000_000 / config.rate_hz
        start = core.clock.now_us()
        event = 0
        seq = 0
        while not stop.is_set() and (config.count == 0 or seq < config.count):
            for packet in source_pair(config.cable, seq):
                if not core.clock.wait_until(start + round(event * period_us), stop):
                    return
                event += 1
                with core.cv:
                    if core.closed or stop.is_set():
                        return
                    if len(self.queue) >= MIDI_IN_CAPACITY:
                        core.counters["midi_tx_overflow"] += 1
                        while len(self.queue) >= MIDI_IN_CAPACITY and not (stop.is_set() or core.closed):
                            core.cv.wait(0.5)
                        if stop.is_set() or core.closed:
                            return
                    self.queue.append(packet)
                    self.ep_in.arm()
                    core.cv.notify_all()
            seq += 1


__all__ = ["MIDI_IN_CAPACITY", "NOTE_CINS", "PACKET_SIZE", "MidiFunction", "is_bad",
           "is_padding", "respond", "source_pair", "source_seq"]

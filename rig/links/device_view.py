"""The emulator's device-side view of USB traffic (what the firmware armed, and when, in emulated time)
as a second interface of a capture.

The bridge (firmware/emulator/device_events.js) sends one event per buffer the firmware arms, packet
that completes, STALL it sets, SETUP it receives and bus reset it takes, stamped with the emulated
clock. `DeviceView` writes each as a pcapng packet on its own interface, link type
LINKTYPE_WIRESHARK_UPPER_PDU (252): the exported-PDU tags name the "data" dissector and put
"rp2040js" in the protocol column, so Wireshark and tshark open it with no dissector of ours and no
error; the payload is the bridge's record unchanged (`RECORD`, then the data), and the packet
comment says in words what the firmware did ("EP2 IN armed 64 bytes DATA1"). Time stamps are
emulated nanoseconds since the chip's reset, written from the epoch (1970-01-01) so they are not
mistaken for wall time; the interface's comment says so.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from rig.links.capture import SNAPLEN, UsbCapture

LINKTYPE_WIRESHARK_UPPER_PDU = 252
EXP_PDU_TAG_PROTO_NAME = 12
EXP_PDU_TAG_COL_PROT_TEXT = 33
PROTOCOL_COLUMN = "rp2040js"

ARM = 1
COMPLETE = 2
STALL = 3
SETUP = 4
BUS_RESET = 5
EVENT_NAMES = {ARM: "arm", COMPLETE: "complete", STALL: "stall", SETUP: "setup", BUS_RESET: "bus reset"}
RECORD_VERSION = 1
NO_PID = 0xFF

STAMP = struct.Struct("<Q")
RECORD = struct.Struct("<BBBBHHI")
"""version, event, endpoint address (0x80 = IN), DATA PID (0/1, 0xFF none), length, reserved, buffer
control word: the record the bridge sends after the time stamp, and the packet's payload after the tags."""

INTERFACE_NAME = "rp2040js-device"
INTERFACE_DESCRIPTION = "rp2040js device side (emulated time)"
INTERFACE_COMMENT = (
    "What the firmware in rp2040js armed and when, seen from the device: buffer arms (AVAILABLE with "
    "length and DATA PID), completions, STALLs, SETUPs and bus resets. TIME STAMPS ARE EMULATED TIME "
    "(the chip's clock, from its reset at 1970-01-01 00:00:00), not wall time: they do not line up "
    "with the usbmon interface's. Payload: exported-PDU tags, then the bridge's record (little-endian "
    "u8 version=1, u8 event 1 arm/2 complete/3 stall/4 setup/5 bus reset, u8 endpoint address, u8 DATA "
    "PID or 0xff, u16 length, u16 0, u32 buffer control word) and the data; see rig/links/device_view.py.")


class DeviceEventError(ValueError):
    """A device-side event from the bridge that does not parse (wrong version, short, unknown event)."""


@dataclass(frozen=True)
class DeviceEvent:
    """One device-side event: emulated time, what happened, on which endpoint, with what."""

    emulated_ns: int
    event: int
    endpoint: int
    pid: int
    length: int
    word: int
    data: bytes

    @classmethod
    def parse(cls, payload: bytes) -> DeviceEvent:
        """An event from the bridge's EVENT message payload; DeviceEventError when it is not one."""
        if len(payload) < STAMP.size + RECORD.size:
            raise DeviceEventError(f"device event of {len(payload)} bytes is shorter than its header")
        (stamp,) = STAMP.unpack_from(payload)
        version, event, endpoint, pid, length, _, word = RECORD.unpack_from(payload, STAMP.size)
        if version != RECORD_VERSION or event not in EVENT_NAMES:
            raise DeviceEventError(f"device event version {version} event {event} is not one this rig reads")
        return cls(stamp, event, endpoint, pid, length, word, payload[STAMP.size + RECORD.size:])

    def record(self) -> bytes:
        """The record and data, as the bridge sent them (the pcapng payload after the tags)."""
        return RECORD.pack(RECORD_VERSION, self.event, self.endpoint, self.pid, self.length, 0,
                           self.word) + self.data

    def describe(self) -> str:
        """What the firmware did, in words: "EP2 IN armed 64 bytes DATA1"."""
        where = f"EP{self.endpoint & 0x0F} {'IN' if self.endpoint & 0x80 else 'OUT'}"
        pid = "" if self.pid == NO_PID else f" DATA{self.pid}"
        if self.event == ARM:
            return f"{where} armed {self.length} bytes{pid}"
        if self.event == COMPLETE:
            done = "taken by the host" if self.endpoint & 0x80 else "received"
            return f"{where} {done}: {self.length} bytes{pid}"
        if self.event == STALL:
            return f"{where} STALL set by the firmware"
        if self.event == SETUP:
            return f"EP0 SETUP received: {self.data.hex(' ')}"
        return "bus reset taken by the device"


class DeviceEventSource(Protocol):
    """What hands out device-side events (rig.links.emulator.EmulatorLink): a sink is called with each."""

    def add_event_sink(self, sink: Callable[[DeviceEvent], None]) -> None:
        """Call `sink` with every event from now on."""

    def remove_event_sink(self, sink: Callable[[DeviceEvent], None]) -> None:
        """Stop calling `sink`."""


def _tag(code: int, text: str) -> bytes:
    value = text.encode()
    value += b"\0" * (-len(value) % 4)  # Wireshark reads the padding as part of the tag's length
    return struct.pack(">HH", code, len(value)) + value


_TAGS = _tag(EXP_PDU_TAG_PROTO_NAME, "data") + _tag(EXP_PDU_TAG_COL_PROT_TEXT, PROTOCOL_COLUMN) + bytes(4)
"""The exported-PDU tags every packet starts with (big-endian, ending with the end-of-options tag)."""
TAGS_SIZE = len(_TAGS)


class DeviceView:
    """The device-side interface of one capture: adds it, then writes each event given to it."""

    def __init__(self, capture: UsbCapture) -> None:
        self.capture = capture
        self.interface = capture.writer.add_interface(
            LINKTYPE_WIRESHARK_UPPER_PDU, snaplen=SNAPLEN, name=INTERFACE_NAME,
            description=INTERFACE_DESCRIPTION, comment=INTERFACE_COMMENT)
        self.events = 0

    def __call__(self, event: DeviceEvent) -> None:
        """Write `event` (called on the link's reader thread); nothing once the file is closed."""
        writer = self.capture.writer
        if writer.closed:
            return
        try:
            writer.write_packet(self.interface, event.emulated_ns, _TAGS + event.record(),
                                comment=event.describe())
        except ValueError:
            return  # closed meanwhile by another thread
        self.events += 1

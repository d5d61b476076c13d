"""The board's USB contract, written once.

Everything that both sides of the wire must agree on lives here: IDs, strings, interfaces,
endpoints, vendor requests, mode numbers and the binary layouts of every structure that crosses
the wire. The firmware's C header (`firmware/include/rig_contract.h`) is generated from this module
by `rig.contract.c_header`; the software-loopback board implements it; `docs/protocol.md` describes it.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

CONTRACT_VERSION = 1
"""Bumped whenever anything in this module changes what crosses the wire."""

# --- identity -------------------------------------------------------------------------------

VID = 0x1209
"""pid.codes vendor ID."""
PID = 0x0001
"""pid.codes test PID; a board flashed with other IDs is found by setting RIG_VID / RIG_PID (hex)."""
BCD_USB = 0x0200
FIRMWARE_VERSION = (0, 1, 0)
"""major, minor, patch; also reported as bcdDevice = 0xMMmp (minor and patch one nibble each)."""

MANUFACTURER = "rig project"
PRODUCT = "rig RP2040 test board"
SERIAL_NUMBER_HEX_DIGITS = 16
"""iSerialNumber is the flash chip's 64-bit unique ID as 16 upper-case hex digits."""

STRING_INDEX_MANUFACTURER = 1
STRING_INDEX_PRODUCT = 2
STRING_INDEX_SERIAL = 3
STRING_INDEX_MIDI = 4
STRING_INDEX_VENDOR = 5
STRING_INDEX_CDC = 6
STRINGS: dict[int, str] = {
    STRING_INDEX_MANUFACTURER: MANUFACTURER,
    STRING_INDEX_PRODUCT: PRODUCT,
    STRING_INDEX_MIDI: "rig MIDI",
    STRING_INDEX_VENDOR: "rig frames",
    STRING_INDEX_CDC: "rig console",
}
"""Fixed strings; the serial-number string is the board's unique ID and is not fixed."""
LANGID_EN_US = 0x0409

# --- interfaces and endpoints --------------------------------------------------------------

EP0_SIZE = 64
BULK_PACKET_SIZE = 64
"""Full-speed bulk max packet size for every bulk endpoint."""

IF_AUDIO_CONTROL = 0
IF_MIDI_STREAMING = 1
IF_VENDOR = 2
IF_CDC_COMM = 3
IF_CDC_DATA = 4
NUM_INTERFACES = 5

EP_MIDI_OUT = 0x01
EP_MIDI_IN = 0x81
EP_FRAME_OUT = 0x02
EP_FRAME_IN = 0x82
EP_CDC_NOTIFY = 0x83
EP_CDC_OUT = 0x04
EP_CDC_IN = 0x84
CDC_NOTIFY_PACKET_SIZE = 8
CDC_NOTIFY_INTERVAL_MS = 16
MIDI_CABLES = 1
CONFIG_VALUE = 1
MAX_POWER_MA = 100

# USB class codes used by the descriptors.
CLASS_AUDIO = 0x01
SUBCLASS_AUDIO_CONTROL = 0x01
SUBCLASS_MIDI_STREAMING = 0x03
CLASS_CDC = 0x02
SUBCLASS_CDC_ACM = 0x02
CLASS_CDC_DATA = 0x0A
CLASS_VENDOR = 0xFF
CLASS_MISC = 0xEF
"""Device class for an Interface Association Descriptor device (CDC needs an IAD)."""

# --- vendor control requests ----------------------------------------------------------------

VENDOR_REQUEST_TYPE_IN = 0xC0
"""bmRequestType: device-to-host, vendor, recipient device."""
VENDOR_REQUEST_TYPE_OUT = 0x40
"""bmRequestType: host-to-device, vendor, recipient device."""


class Request(enum.IntEnum):
    """bRequest codes of the vendor control requests (recipient device, wIndex 0)."""

    GET_INFO = 0x01
    """IN, Info: firmware version, capabilities, frame limits, unique ID."""
    GET_FRAMING = 0x02
    """IN, KSALLOCATOR_FRAMING_EX bytes (one item) describing the frame ring."""
    SET_MIDI_MODE = 0x03
    """OUT with a MidiModeConfig data stage."""
    GET_MIDI_MODE = 0x04
    """IN, MidiModeConfig."""
    SET_FRAME_MODE = 0x05
    """OUT with a FrameModeConfig data stage."""
    GET_FRAME_MODE = 0x06
    """IN, FrameModeConfig."""
    GET_TIME = 0x07
    """IN, u64 little-endian: device time in microseconds since boot."""
    GET_STATS = 0x08
    """IN, Stats."""
    RESET_STATS = 0x09
    """OUT, no data: zero every counter in Stats (high-water marks included)."""
    REBOOT_BOOTLOADER = 0x0A
    """OUT, no data: reboot into the RP2040 ROM's USB bootloader (BOOTSEL) after the status stage."""


class MidiMode(enum.IntEnum):
    """What the board does with USB-MIDI packets it receives on EP_MIDI_OUT."""

    ECHO = 0
    """Send every received packet back unchanged."""
    TRANSFORM = 1
    """Send back with note numbers (note on/off, poly pressure) moved by `transpose` (mod 128)
    and every other message unchanged, so a host-side loop cannot pass for the device."""
    SOURCE = 2
    """Ignore input; generate `count` note-on/note-off pairs at `rate_hz` events per second.
    Each note-on carries a sequence number: note = seq & 0x7F, velocity = 1 + ((seq >> 7) % 127)."""
    SINK = 3
    """Consume and count everything, send nothing."""


class FrameMode(enum.IntEnum):
    """What the board does with frames it receives on EP_FRAME_OUT."""

    ECHO = 0
    """Check each frame, stamp device receive/transmit times and send it back."""
    SOURCE = 1
    """Ignore input; send `count` frames of `payload_len` bytes every `interval_us`."""
    SINK = 2
    """Check and count each frame, send nothing."""


class Capability(enum.IntFlag):
    """Bits of Info.capabilities."""

    MIDI = 0x01
    """The USB-MIDI function: MIDI streaming interface, its jacks and EP_MIDI_OUT/EP_MIDI_IN."""
    FRAMES = 0x02
    """Frames on the vendor interface's EP_FRAME_OUT/EP_FRAME_IN."""
    CONSOLE = 0x04
    """The CDC ACM console."""
    DMA = 0x08
    """Frames move between USB buffers and the ring by DMA."""
    BOOTLOADER = 0x10
    """REBOOT_BOOTLOADER and the 1200-baud touch work."""
    TIMESTAMPS = 0x20
    """Frames carry device receive/transmit times."""


# --- binary layouts ----------------------------------------------------------------------

_C_TYPES = {
    "B": "uint8_t", "b": "int8_t", "H": "uint16_t", "h": "int16_t",
    "I": "uint32_t", "i": "int32_t", "Q": "uint64_t", "q": "int64_t",
}


@dataclass(frozen=True)
class Layout:
    """A little-endian packed wire structure: (field name, struct code, doc) triples.

    A code may carry an array length, as in "8B". The same table drives Python packing and the
    generated C struct, so the two cannot drift.
    """

    name: str
    doc: str
    fields: tuple[tuple[str, str, str], ...]

    @property
    def format(self) -> str:
        return "<" + "".join(code for _, code, _ in self.fields)

    @property
    def size(self) -> int:
        return struct.calcsize(self.format)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _, _ in self.fields)

    def pack(self, **values: int | bytes) -> bytes:
        """Pack fields by name; missing fields are zero; array fields take bytes."""
        unknown = set(values) - set(self.names)
        if unknown:
            raise ValueError(f"{self.name}: unknown field(s) {sorted(unknown)}")
        flat: list[int | bytes] = []
        for name, code, _ in self.fields:
            value = values.get(name, 0)
            if code[:-1]:  # array
                count = int(code[:-1])
                data = bytes(value) if not isinstance(value, int) else bytes(count)
                if len(data) != count:
                    raise ValueError(f"{self.name}.{name}: need {count} bytes, got {len(data)}")
                flat.extend(data)
            else:
                flat.append(value)
        return struct.pack(self.format, *flat)

    def unpack(self, data: bytes | bytearray | memoryview) -> dict[str, int | bytes]:
        """Unpack exactly `size` bytes into a dict; array fields come back as bytes."""
        if len(data) != self.size:
            raise ValueError(f"{self.name}: need {self.size} bytes, got {len(data)}")
        raw = struct.unpack(self.format, bytes(data))
        out: dict[str, int | bytes] = {}
        pos = 0
        for name, code, _ in self.fields:
            if code[:-1]:
                count = int(code[:-1])
                out[name] = bytes(raw[pos:pos + count])
                pos += count
            else:
                out[name] = raw[pos]
                pos += 1
        return out

    def c_fields(self) -> list[tuple[str, str, int | None, str]]:
        """(C type, field name, array length or None, doc) for the C generator."""
        result: list[tuple[str, str, int | None, str]] = []
        for name, code, doc in self.fields:
            count = int(code[:-1]) if code[:-1] else None
            result.append((_C_TYPES[code[-1]], name, count, doc))
        return result


INFO = Layout("info", "GET_INFO response.", (
    ("contract_version", "H", "CONTRACT_VERSION the firmware was built against"),
    ("fw_major", "B", "firmware version, major"),
    ("fw_minor", "B", "firmware version, minor"),
    ("fw_patch", "B", "firmware version, patch"),
    ("midi_cables", "B", "USB-MIDI cables (jacks pairs)"),
    ("ring_slots", "H", "frames the device's ring holds"),
    ("capabilities", "I", "Capability bits"),
    ("max_payload", "I", "largest frame payload in bytes"),
    ("clock_hz", "I", "system clock in Hz"),
    ("unique_id", "8B", "flash unique ID, as in iSerialNumber"),
))

MIDI_MODE_CONFIG = Layout("midi_mode_config", "SET_MIDI_MODE data stage and GET_MIDI_MODE response.", (
    ("mode", "B", "MidiMode"),
    ("cable", "B", "cable number used by SOURCE"),
    ("transpose", "b", "TRANSFORM: semitones added to note numbers, mod 128"),
    ("reserved", "B", "0"),
    ("rate_hz", "I", "SOURCE: events per second (1..100000)"),
    ("count", "I", "SOURCE: note-on/off pairs to send; 0 = until the mode changes"),
))

FRAME_MODE_CONFIG = Layout("frame_mode_config", "SET_FRAME_MODE data stage and GET_FRAME_MODE response.", (
    ("mode", "B", "FrameMode"),
    ("reserved0", "B", "0"),
    ("reserved1", "H", "0"),
    ("payload_len", "I", "SOURCE: payload bytes per frame (0..max_payload)"),
    ("count", "I", "SOURCE: frames to send; 0 = until the mode changes"),
    ("interval_us", "I", "SOURCE: microseconds between frames; 0 = as fast as the host reads"),
))

STATS = Layout("stats", "GET_STATS response: every counter the device keeps; RESET_STATS zeroes them.", (
    ("midi_rx_packets", "I", "USB-MIDI event packets received (CIN 0 padding excluded)"),
    ("midi_tx_packets", "I", "USB-MIDI event packets sent"),
    ("midi_rx_bad", "I", "received packets with a reserved CIN or a cable number out of range"),
    ("midi_tx_overflow", "I", "times EP_MIDI_OUT was NAKed, or a SOURCE event waited, for IN queue room"),
    ("frames_rx", "I", "frames received with a good header and CRC"),
    ("frames_tx", "I", "frames sent"),
    ("frame_bytes_rx", "I", "payload bytes received in good frames"),
    ("frame_bytes_tx", "I", "payload bytes sent"),
    ("frames_bad_header", "I", "frames received with a bad magic, version or length"),
    ("frames_bad_crc", "I", "frames received whose payload CRC-32 did not match"),
    ("frames_seq_gap", "I", "frames received whose sequence number skipped or repeated"),
    ("ring_full_naks", "I", "times the OUT endpoint was left unarmed because the ring was full"),
    ("ring_high_water", "I", "most frames ever held in the ring"),
    ("control_requests", "I", "SETUP packets handled"),
    ("control_stalls", "I", "control requests answered with STALL"),
    ("usb_resets", "I", "bus resets seen"),
    ("cdc_rx_bytes", "I", "console bytes received"),
    ("cdc_tx_bytes", "I", "console bytes sent (counted when the host has read them)"),
))

TIME = Layout("time", "GET_TIME response.", (("time_us", "Q", "microseconds since boot"),))

FRAME_MAGIC = 0x52464752
"""'RGFR' little-endian: the first four bytes of every frame."""
FRAME_VERSION = 1


class FrameFlag(enum.IntFlag):
    """Bits of FrameHeader.flags."""

    FROM_HOST = 0x01
    """Written by the host."""
    ECHOED = 0x02
    """Sent back by the device in ECHO mode."""
    SOURCED = 0x04
    """Generated by the device in SOURCE mode."""


FRAME_HEADER = Layout("frame_header", "Header that starts every frame on the vendor bulk endpoints.", (
    ("magic", "I", "FRAME_MAGIC"),
    ("version", "B", "FRAME_VERSION"),
    ("flags", "B", "FrameFlag bits"),
    ("header_len", "H", "size of this header in bytes"),
    ("seq", "I", "sequence number: per direction, starting at 0 after reset, +1 per frame"),
    ("payload_len", "I", "payload bytes that follow the header"),
    ("payload_crc", "I", "CRC-32 (IEEE 802.3, as zlib.crc32) of the payload"),
    ("reserved", "I", "0 in a frame made; a receiver ignores it (an echoed frame keeps it)"),
    ("rx_time_us", "Q", "device time the frame's last byte arrived (0 for SOURCE frames)"),
    ("tx_time_us", "Q", "device time the device queued the frame for sending"),
))

FRAME_MAX_PAYLOAD = 16384
"""Largest payload: a ring slot holds FRAME_HEADER.size + FRAME_MAX_PAYLOAD bytes."""
FRAME_RING_SLOTS = 8
"""Frames the device's ring holds; when all are used the device stops arming EP_FRAME_OUT."""
FRAME_ALIGNMENT_MASK = 3
"""FileAlignment the device reports: FILE_LONG_ALIGNMENT (4-byte)."""

# A frame is one bulk transfer: header then payload, ended by a short packet (a zero-length packet
# when the length is a multiple of BULK_PACKET_SIZE), as USB bulk transfers are delimited.

CONSOLE_BAUD_BOOTSEL = 1200
"""Setting the CDC line coding to this rate (the '1200-baud touch') reboots into BOOTSEL."""
CONSOLE_COMMANDS: dict[str, str] = {
    "help": "list commands",
    "version": "print firmware and contract version",
    "stats": "print every Stats counter as name=value",
    "time": "print device time in microseconds",
    "reset-stats": "zero the counters",
    "log": "log [on|off]: event log lines ('# ' first) on or off (off at power-on); print the state",
}
CONSOLE_PROMPT = "> "
CONSOLE_LOG_PREFIX = "# "
"""Event log lines start with this, so a reply parser can tell them from replies."""


def bcd_device() -> int:
    """bcdDevice from FIRMWARE_VERSION: 0xMMmp."""
    major, minor, patch = FIRMWARE_VERSION
    return (major << 8) | ((minor & 0xF) << 4) | (patch & 0xF)


LAYOUTS: tuple[Layout, ...] = (INFO, MIDI_MODE_CONFIG, FRAME_MODE_CONFIG, STATS, TIME, FRAME_HEADER)

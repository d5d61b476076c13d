"""The board's USB descriptors as bytes, built from `rig.contract`.

The loopback board answers GET_DESCRIPTOR with these bytes and the firmware compiles the same bytes
from the generated header, so host tests and the real board see one descriptor set.
Layouts: USB 2.0 ch. 9, USB-MIDI 1.0 (appendix B), CDC 1.2 / PSTN 1.2 and the IAD ECN.
"""

from __future__ import annotations

import struct

from rig import contract as c
from rig.contract.ch9 import (
    DT_CONFIGURATION,
    DT_DEVICE,
    DT_ENDPOINT,
    DT_INTERFACE,
    DT_STRING,
)

# Descriptor types beyond USB 2.0 table 9-5 (rig.contract.ch9): IAD ECN, audio class.
DT_INTERFACE_ASSOCIATION = 0x0B
DT_CS_INTERFACE = 0x24
DT_CS_ENDPOINT = 0x25

# Audio / MIDI class-specific subtypes (USB-MIDI 1.0 appendix A).
AC_HEADER = 0x01
MS_HEADER = 0x01
MS_MIDI_IN_JACK = 0x02
MS_MIDI_OUT_JACK = 0x03
MS_GENERAL = 0x01
JACK_EMBEDDED = 0x01
JACK_EXTERNAL = 0x02

# Jack IDs: host->device data enters the embedded IN jack and leaves by the external OUT jack;
# device->host data enters the external IN jack and leaves by the embedded OUT jack.
JACK_ID_EMBEDDED_IN = 1
JACK_ID_EXTERNAL_IN = 2
JACK_ID_EMBEDDED_OUT = 3
JACK_ID_EXTERNAL_OUT = 4

# CDC functional descriptor subtypes (CDC 1.2 table 13) and versions.
CDC_HEADER = 0x00
CDC_CALL_MANAGEMENT = 0x01
CDC_ACM = 0x02
CDC_UNION = 0x06
BCD_CDC = 0x0120
BCD_ADC = 0x0100
BCD_MSC = 0x0100
CDC_ACM_CAPABILITIES = 0x02
"""bmCapabilities of the ACM descriptor: line coding, control line state and serial state."""

EP_BULK = 0x02
EP_INTERRUPT = 0x03
CONFIG_ATTRIBUTES = 0x80
"""bmAttributes: bus powered (bit 7 must be one), no remote wakeup."""


def device_descriptor() -> bytes:
    """The 18-byte device descriptor: IAD device class, EP0 size, IDs, bcdDevice, string indexes."""
    return struct.pack(
        "<BBHBBBBHHHBBBB", 18, DT_DEVICE, c.BCD_USB, c.CLASS_MISC, 0x02, 0x01, c.EP0_SIZE,
        c.VID, c.PID, c.bcd_device(), c.STRING_INDEX_MANUFACTURER, c.STRING_INDEX_PRODUCT,
        c.STRING_INDEX_SERIAL, 1,
    )


def _interface(number: int, endpoints: int, cls: int, subclass: int, protocol: int, string: int) -> bytes:
    return struct.pack("<BBBBBBBBB", 9, DT_INTERFACE, number, 0, endpoints, cls, subclass, protocol, string)


def _endpoint(address: int, attributes: int, size: int, interval: int) -> bytes:
    return struct.pack("<BBBBHB", 7, DT_ENDPOINT, address, attributes, size, interval)


def _audio_endpoint(address: int) -> bytes:
    """The 9-byte audio-class standard endpoint descriptor (adds bRefresh and bSynchAddress)."""
    return struct.pack("<BBBBHBBB", 9, DT_ENDPOINT, address, EP_BULK, c.BULK_PACKET_SIZE, 0, 0, 0)


def _midi_streaming() -> bytes:
    """MS interface body: MS header, four jacks and the two bulk endpoints with their CS descriptors."""
    jacks = (
        struct.pack("<BBBBBB", 6, DT_CS_INTERFACE, MS_MIDI_IN_JACK, JACK_EMBEDDED, JACK_ID_EMBEDDED_IN, 0)
        + struct.pack("<BBBBBB", 6, DT_CS_INTERFACE, MS_MIDI_IN_JACK, JACK_EXTERNAL, JACK_ID_EXTERNAL_IN, 0)
        + struct.pack("<BBBBBBBBB", 9, DT_CS_INTERFACE, MS_MIDI_OUT_JACK, JACK_EMBEDDED,
                      JACK_ID_EMBEDDED_OUT, 1, JACK_ID_EXTERNAL_IN, 1, 0)
        + struct.pack("<BBBBBBBBB", 9, DT_CS_INTERFACE, MS_MIDI_OUT_JACK, JACK_EXTERNAL,
                      JACK_ID_EXTERNAL_OUT, 1, JACK_ID_EMBEDDED_IN, 1, 0)
    )
    endpoints = (
        _audio_endpoint(c.EP_MIDI_OUT)
        + struct.pack("<BBBBB", 5, DT_CS_ENDPOINT, MS_GENERAL, 1, JACK_ID_EMBEDDED_IN)
        + _audio_endpoint(c.EP_MIDI_IN)
        + struct.pack("<BBBBB", 5, DT_CS_ENDPOINT, MS_GENERAL, 1, JACK_ID_EMBEDDED_OUT)
    )
    total = 7 + len(jacks) + len(endpoints)
    header = struct.pack("<BBBHH", 7, DT_CS_INTERFACE, MS_HEADER, BCD_MSC, total)
    return header + jacks + endpoints


def _cdc() -> bytes:
    """IAD, CDC communication interface with its functional descriptors, and the data interface."""
    iad = struct.pack("<BBBBBBBB", 8, DT_INTERFACE_ASSOCIATION, c.IF_CDC_COMM, 2, c.CLASS_CDC,
                      c.SUBCLASS_CDC_ACM, 0, c.STRING_INDEX_CDC)
    comm = (
        _interface(c.IF_CDC_COMM, 1, c.CLASS_CDC, c.SUBCLASS_CDC_ACM, 0, c.STRING_INDEX_CDC)
        + struct.pack("<BBBH", 5, DT_CS_INTERFACE, CDC_HEADER, BCD_CDC)
        + struct.pack("<BBBBB", 5, DT_CS_INTERFACE, CDC_CALL_MANAGEMENT, 0, c.IF_CDC_DATA)
        + struct.pack("<BBBB", 4, DT_CS_INTERFACE, CDC_ACM, CDC_ACM_CAPABILITIES)
        + struct.pack("<BBBBB", 5, DT_CS_INTERFACE, CDC_UNION, c.IF_CDC_COMM, c.IF_CDC_DATA)
        + _endpoint(c.EP_CDC_NOTIFY, EP_INTERRUPT, c.CDC_NOTIFY_PACKET_SIZE, c.CDC_NOTIFY_INTERVAL_MS)
    )
    data = (
        _interface(c.IF_CDC_DATA, 2, c.CLASS_CDC_DATA, 0, 0, 0)
        + _endpoint(c.EP_CDC_OUT, EP_BULK, c.BULK_PACKET_SIZE, 0)
        + _endpoint(c.EP_CDC_IN, EP_BULK, c.BULK_PACKET_SIZE, 0)
    )
    return iad + comm + data


def config_descriptor() -> bytes:
    """The full configuration descriptor (wTotalLength bytes) for configuration CONFIG_VALUE."""
    ac_header = struct.pack("<BBBHHBB", 9, DT_CS_INTERFACE, AC_HEADER, BCD_ADC, 9, 1, c.IF_MIDI_STREAMING)
    body = (
        _interface(c.IF_AUDIO_CONTROL, 0, c.CLASS_AUDIO, c.SUBCLASS_AUDIO_CONTROL, 0, 0)
        + ac_header
        + _interface(c.IF_MIDI_STREAMING, 2, c.CLASS_AUDIO, c.SUBCLASS_MIDI_STREAMING, 0, c.STRING_INDEX_MIDI)
        + _midi_streaming()
        + _interface(c.IF_VENDOR, 2, c.CLASS_VENDOR, 0, 0, c.STRING_INDEX_VENDOR)
        + _endpoint(c.EP_FRAME_OUT, EP_BULK, c.BULK_PACKET_SIZE, 0)
        + _endpoint(c.EP_FRAME_IN, EP_BULK, c.BULK_PACKET_SIZE, 0)
        + _cdc()
    )
    total = 9 + len(body)
    header = struct.pack("<BBHBBBBB", 9, DT_CONFIGURATION, total, c.NUM_INTERFACES, c.CONFIG_VALUE, 0,
                         CONFIG_ATTRIBUTES, c.MAX_POWER_MA // 2)
    return header + body


def serial_number(unique_id: bytes) -> str:
    """iSerialNumber text: the 8-byte unique ID as upper-case hex, first byte first."""
    if len(unique_id) != 8:
        raise ValueError(f"unique ID must be 8 bytes, got {len(unique_id)}")
    return unique_id.hex().upper()


def string_text(index: int, unique_id: bytes) -> str:
    """The text of string descriptor `index` (>= 1); KeyError names an index the board lacks."""
    if index == c.STRING_INDEX_SERIAL:
        return serial_number(unique_id)
    try:
        return c.STRINGS[index]
    except KeyError:
        raise KeyError(f"no string descriptor with index {index}") from None


def string_descriptor(index: int, unique_id: bytes, langid: int = c.LANGID_EN_US) -> bytes:
    """String descriptor `index`: index 0 is the LANGID list, others UTF-16LE text in `langid`."""
    if index == 0:
        return struct.pack("<BBH", 4, DT_STRING, c.LANGID_EN_US)
    if langid != c.LANGID_EN_US:
        raise KeyError(f"no strings in language 0x{langid:04X}; only 0x{c.LANGID_EN_US:04X}")
    encoded = string_text(index, unique_id).encode("utf-16-le")
    return bytes((2 + len(encoded), DT_STRING)) + encoded


def framing_ex() -> bytes:
    """KSALLOCATOR_FRAMING_EX (one item) the board reports by GET_FRAMING: kernel non-paged memory on
    the USB bus, FRAME_RING_SLOTS frames, FRAME_ALIGNMENT_MASK alignment, header .. header + max payload."""
    import dataclasses

    from host.avstream import framing, guids

    header = c.FRAME_HEADER.size
    simple = framing.simple_framing(guids.KSMEMORY_TYPE_KERNEL_NONPAGED, 0, c.FRAME_RING_SLOTS,
                                    c.FRAME_ALIGNMENT_MASK, header, header + c.FRAME_MAX_PAYLOAD)
    item = dataclasses.replace(simple.items[0], bus_type=guids.GUID_BUS_TYPE_USB)
    return framing.AllocatorFramingEx((item,)).validate().to_bytes()

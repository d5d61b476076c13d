"""USB 2.0 chapter 9 numbers, once: standard request codes (table 9-4), descriptor types (table 9-5)
and feature selectors (table 9-6), with the bmRequestType fields (table 9-2) the rig decodes.

Every module that builds or answers a standard request imports these names from here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Standard request codes (table 9-4).
GET_STATUS = 0
CLEAR_FEATURE = 1
SET_FEATURE = 3
SET_ADDRESS = 5
GET_DESCRIPTOR = 6
SET_DESCRIPTOR = 7
GET_CONFIGURATION = 8
SET_CONFIGURATION = 9
GET_INTERFACE = 10
SET_INTERFACE = 11
SYNCH_FRAME = 12

# Descriptor types (table 9-5).
DT_DEVICE = 0x01
DT_CONFIGURATION = 0x02
DT_STRING = 0x03
DT_INTERFACE = 0x04
DT_ENDPOINT = 0x05
DT_DEVICE_QUALIFIER = 0x06
DT_OTHER_SPEED_CONFIGURATION = 0x07
DT_INTERFACE_POWER = 0x08
DT_INTERFACE_ASSOCIATION = 0x0B
"""IAD ECN."""
DT_CS_INTERFACE = 0x24
DT_CS_ENDPOINT = 0x25
"""Class-specific descriptors (USB Audio 1.0 table A-4, which USB-MIDI 1.0 uses)."""

# Feature selectors (table 9-6).
ENDPOINT_HALT = 0
DEVICE_REMOTE_WAKEUP = 1
TEST_MODE = 2

# bmRequestType fields (table 9-2).
DIR_IN = 0x80
TYPE_MASK = 0x60
TYPE_STANDARD = 0x00
TYPE_CLASS = 0x20
TYPE_VENDOR = 0x40
RECIPIENT_MASK = 0x1F
RECIPIENT_DEVICE = 0
RECIPIENT_INTERFACE = 1
RECIPIENT_ENDPOINT = 2


# The standard descriptors' fields (tables 9-8, 9-10, 9-12, 9-13), little-endian as on the wire, and
# their layouts: the descriptor models of rig.checks and of the pyusb backend both build on these.
DEVICE_DESCRIPTOR = struct.Struct("<BBHBBBBHHHBBBB")
CONFIGURATION_DESCRIPTOR = struct.Struct("<BBHBBBBB")
INTERFACE_DESCRIPTOR = struct.Struct("<BBBBBBBBB")
ENDPOINT_DESCRIPTOR = struct.Struct("<BBBBHB")
"""The 7-byte form; the audio-class 9-byte form adds bRefresh and bSynchAddress."""


@dataclass
class DeviceFields:
    """The standard device descriptor's fields (table 9-8), in DEVICE_DESCRIPTOR order."""

    bLength: int
    bDescriptorType: int
    bcdUSB: int
    bDeviceClass: int
    bDeviceSubClass: int
    bDeviceProtocol: int
    bMaxPacketSize0: int
    idVendor: int
    idProduct: int
    bcdDevice: int
    iManufacturer: int
    iProduct: int
    iSerialNumber: int
    bNumConfigurations: int


@dataclass
class ConfigurationFields:
    """The standard configuration descriptor's fields (table 9-10), in CONFIGURATION_DESCRIPTOR order."""

    bLength: int
    bDescriptorType: int
    wTotalLength: int
    bNumInterfaces: int
    bConfigurationValue: int
    iConfiguration: int
    bmAttributes: int
    bMaxPower: int


@dataclass
class InterfaceFields:
    """The standard interface descriptor's fields (table 9-12), in INTERFACE_DESCRIPTOR order."""

    bLength: int
    bDescriptorType: int
    bInterfaceNumber: int
    bAlternateSetting: int
    bNumEndpoints: int
    bInterfaceClass: int
    bInterfaceSubClass: int
    bInterfaceProtocol: int
    iInterface: int


@dataclass
class EndpointFields:
    """The standard endpoint descriptor's fields (table 9-13), in ENDPOINT_DESCRIPTOR order."""

    bLength: int
    bDescriptorType: int
    bEndpointAddress: int
    bmAttributes: int
    wMaxPacketSize: int
    bInterval: int

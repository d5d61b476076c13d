"""Descriptor bytes -> the model in rig.checks.model (USB 2.0 9.5, 9.6): walk by bLength, attach
class-specific descriptors to the interface or endpoint they follow.

The walk is lenient about meaning (wrong counts and values are for the checks to report) and strict
only about what makes walking impossible; those cases raise DescriptorParseError naming the offset.
"""

from __future__ import annotations

import struct

from rig.checks.errors import DescriptorParseError
from rig.checks.model import (
    DT_CONFIGURATION,
    DT_DEVICE,
    DT_ENDPOINT,
    DT_INTERFACE,
    DT_INTERFACE_ASSOCIATION,
    AltSetting,
    Configuration,
    DeviceDescriptor,
    Endpoint,
    InterfaceAssociation,
    RawDescriptor,
)
from rig.contract.ch9 import (
    CONFIGURATION_DESCRIPTOR,
    DEVICE_DESCRIPTOR,
    ENDPOINT_DESCRIPTOR,
    INTERFACE_DESCRIPTOR,
)

IAD_DESCRIPTOR = struct.Struct("<BBBBBBBB")
"""Interface Association Descriptor (IAD ECN table 9-Z): bLength, bDescriptorType, bFirstInterface,
bInterfaceCount, bFunctionClass, bFunctionSubClass, bFunctionProtocol, iFunction."""

# The bytes a descriptor's fields need: what the struct that reads them takes (USB 2.0 9.6).
DEVICE_LENGTH = DEVICE_DESCRIPTOR.size
CONFIGURATION_LENGTH = CONFIGURATION_DESCRIPTOR.size
INTERFACE_LENGTH = INTERFACE_DESCRIPTOR.size
ENDPOINT_LENGTH = ENDPOINT_DESCRIPTOR.size
IAD_LENGTH = IAD_DESCRIPTOR.size


def parse_device(data: bytes) -> DeviceDescriptor:
    """The device descriptor from its 18 bytes (bLength and type are left for the checks)."""
    if len(data) < DEVICE_LENGTH:
        raise DescriptorParseError(f"device descriptor: {len(data)} bytes returned, need {DEVICE_LENGTH}")
    return DeviceDescriptor(bytes(data), *DEVICE_DESCRIPTOR.unpack_from(data))


def walk(data: bytes, start: int = 0) -> list[RawDescriptor]:
    """Split concatenated descriptors by bLength; a bLength below 2 or running past the end raises."""
    out: list[RawDescriptor] = []
    pos = start
    while pos < len(data):
        if len(data) - pos < 2:
            raise DescriptorParseError(f"descriptor at offset {pos}: 1 trailing byte, no "
                                       f"bDescriptorType", pos)
        length = data[pos]
        if length < 2:
            raise DescriptorParseError(f"descriptor at offset {pos}: bLength {length} (< 2)", pos)
        if pos + length > len(data):
            raise DescriptorParseError(f"descriptor at offset {pos} (type 0x{data[pos + 1]:02X}): bLength "
                                       f"{length} runs past the {len(data)} bytes returned", pos)
        out.append(RawDescriptor(pos, bytes(data[pos:pos + length])))
        pos += length
    return out


def _need(desc: RawDescriptor, minimum: int, what: str) -> None:
    if desc.length < minimum:
        raise DescriptorParseError(f"{what} at offset {desc.offset}: bLength {desc.length}, its fields "
                                   f"need {minimum}", desc.offset)


def parse_configuration(data: bytes) -> Configuration:
    """A configuration descriptor and everything after it in `data` (all the bytes the device returned)."""
    if len(data) < CONFIGURATION_LENGTH:
        raise DescriptorParseError(f"configuration descriptor: {len(data)} bytes returned, need "
                                   f"{CONFIGURATION_LENGTH}")
    if data[1] != DT_CONFIGURATION:
        raise DescriptorParseError(f"configuration descriptor: bDescriptorType 0x{data[1]:02X}, expected "
                                   f"0x{DT_CONFIGURATION:02X}")
    if data[0] < CONFIGURATION_LENGTH:
        raise DescriptorParseError(f"configuration descriptor: bLength {data[0]}, its fields need "
                                   f"{CONFIGURATION_LENGTH}")
    cfg = Configuration(bytes(data), *CONFIGURATION_DESCRIPTOR.unpack_from(data))
    owner: list[RawDescriptor] = cfg.extra
    alt: AltSetting | None = None
    for desc in walk(data, cfg.bLength):
        cfg.order.append(desc)
        if desc.dtype == DT_INTERFACE:
            _need(desc, INTERFACE_LENGTH, "interface descriptor")
            alt = AltSetting(desc.offset, *INTERFACE_DESCRIPTOR.unpack_from(desc.data))
            cfg.alt_settings.append(alt)
            owner = alt.extra
        elif desc.dtype == DT_ENDPOINT:
            _need(desc, ENDPOINT_LENGTH, "endpoint descriptor")
            if alt is None:
                cfg.stray.append(desc)
                continue
            endpoint = Endpoint(desc.offset, *ENDPOINT_DESCRIPTOR.unpack_from(desc.data))
            alt.endpoints.append(endpoint)
            owner = endpoint.extra
        elif desc.dtype == DT_INTERFACE_ASSOCIATION:
            _need(desc, IAD_LENGTH, "interface association descriptor")
            cfg.iads.append(InterfaceAssociation(desc.offset, desc.length,
                                                  *IAD_DESCRIPTOR.unpack_from(desc.data)[2:]))
        elif desc.dtype in (DT_DEVICE, DT_CONFIGURATION):
            cfg.stray.append(desc)
        else:
            owner.append(desc)
    return cfg

"""Descriptor bytes rebuilt from what a pyusb backend parsed (any IBackend: libusb1's, the link
backend's), so a capture that starts after enumeration can replay the exchanges a decoder needs.

The configuration is laid out as the device sends it: the configuration, its class descriptors,
then each interface (alternate settings in order) with its class descriptors and endpoints, each
endpoint followed by its own class descriptors (USB-MIDI's 9-byte endpoints keep bRefresh and
bSynchAddress).
"""

from __future__ import annotations

import struct
from typing import Any


def device_descriptor_bytes(desc: Any) -> bytes:
    """The 18-byte device descriptor from a backend's device descriptor object."""
    return struct.pack("<BBHBBBBHHHBBBB", 18, 1, desc.bcdUSB, desc.bDeviceClass, desc.bDeviceSubClass,
                       desc.bDeviceProtocol, desc.bMaxPacketSize0, desc.idVendor, desc.idProduct,
                       desc.bcdDevice, desc.iManufacturer, desc.iProduct, desc.iSerialNumber,
                       desc.bNumConfigurations)


def _extra(desc: Any) -> bytes:
    return bytes(getattr(desc, "extra_descriptors", None) or b"")


def _endpoint_bytes(ep: Any) -> bytes:
    head = struct.pack("<BBBBHB", 9 if ep.bLength >= 9 else 7, 5, ep.bEndpointAddress, ep.bmAttributes,
                       ep.wMaxPacketSize, ep.bInterval)
    if ep.bLength >= 9:
        head += bytes([ep.bRefresh, ep.bSynchAddress])
    return head + _extra(ep)


def _alternates(backend: Any, dev: Any, intf: int, config: int) -> list[Any]:
    alts: list[Any] = []
    while True:
        try:
            alts.append(backend.get_interface_descriptor(dev, intf, len(alts), config))
        except (IndexError, LookupError):
            return alts


def configuration_bytes(backend: Any, dev: Any, config: int = 0) -> bytes:
    """Configuration `config` (an index) with everything under it, wTotalLength set to the total."""
    cfg = backend.get_configuration_descriptor(dev, config)
    body = bytearray(_extra(cfg))
    for intf in range(cfg.bNumInterfaces):
        for index, alt in enumerate(_alternates(backend, dev, intf, config)):
            body += struct.pack("<BBBBBBBBB", 9, 4, alt.bInterfaceNumber, alt.bAlternateSetting,
                                alt.bNumEndpoints, alt.bInterfaceClass, alt.bInterfaceSubClass,
                                alt.bInterfaceProtocol, alt.iInterface) + _extra(alt)
            for ep in range(alt.bNumEndpoints):
                body += _endpoint_bytes(backend.get_endpoint_descriptor(dev, ep, intf, index, config))
    head = struct.pack("<BBHBBBBB", 9, 2, 9 + len(body), cfg.bNumInterfaces, cfg.bConfigurationValue,
                       cfg.iConfiguration, cfg.bmAttributes, cfg.bMaxPower)
    return head + bytes(body)


def endpoint_intervals(backend: Any, dev: Any, config: int = 0) -> dict[int, int]:
    """bInterval of every endpoint in configuration `config`, by address (for interrupt URBs)."""
    cfg = backend.get_configuration_descriptor(dev, config)
    found: dict[int, int] = {}
    for intf in range(cfg.bNumInterfaces):
        for index, alt in enumerate(_alternates(backend, dev, intf, config)):
            for ep in range(alt.bNumEndpoints):
                desc = backend.get_endpoint_descriptor(dev, ep, intf, index, config)
                found[desc.bEndpointAddress] = desc.bInterval
    return found

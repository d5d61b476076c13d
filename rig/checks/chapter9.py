"""USB 2.0 chapter 9 checks of the device and configuration descriptors (9.6.1, 9.6.3, 9.6.5, 9.6.6,
the IAD ECN), with the full-speed packet size limits of chapter 5 — judged for a full-speed device."""

from __future__ import annotations

from collections import Counter

from rig.checks.errors import DescriptorParseError
from rig.checks.findings import Finding, error, warning
from rig.checks.model import (
    DT_CONFIGURATION,
    DT_DEVICE,
    DT_ENDPOINT,
    DT_INTERFACE,
    TT_BULK,
    TT_CONTROL,
    TT_INTERRUPT,
    TT_ISOCHRONOUS,
    Configuration,
    DeviceDescriptor,
)
from rig.checks.parse import DEVICE_LENGTH, parse_configuration

EP0_SIZES = (8, 16, 32, 64)
"""bMaxPacketSize0 values allowed (USB 2.0 9.6.1; full speed, 5.5.3)."""
FULL_SPEED_LIMITS: dict[int, tuple[str, tuple[int, ...] | int]] = {
    TT_CONTROL: ("USB 2.0 5.5.3", EP0_SIZES),
    TT_BULK: ("USB 2.0 5.8.3", (8, 16, 32, 64)),
    TT_INTERRUPT: ("USB 2.0 5.7.3", 64),
    TT_ISOCHRONOUS: ("USB 2.0 5.6.3", 1023),
}
"""Per transfer type: the clause and the legal sizes (a tuple) or the largest legal size (an int)."""
IAD_CLASS = (0xEF, 0x02, 0x01)
"""Device class/subclass/protocol a device with IADs reports (IAD ECN: Multi-interface Function)."""


def check_device(dev: DeviceDescriptor) -> list[Finding]:
    """Device descriptor (USB 2.0 9.6.1): length, type, bMaxPacketSize0, bNumConfigurations."""
    out: list[Finding] = []
    if dev.bLength != DEVICE_LENGTH:
        out.append(error("USB 2.0 9.6.1", f"device descriptor bLength {dev.bLength}, expected 18"))
    if dev.bDescriptorType != DT_DEVICE:
        out.append(error("USB 2.0 9.6.1", f"device descriptor bDescriptorType 0x{dev.bDescriptorType:02X}, "
                                          f"expected 0x01"))
    if dev.bMaxPacketSize0 not in EP0_SIZES:
        out.append(error("USB 2.0 9.6.1", f"bMaxPacketSize0 {dev.bMaxPacketSize0}, expected one of "
                                          f"{', '.join(map(str, EP0_SIZES))}"))
    if dev.bNumConfigurations < 1:
        out.append(error("USB 2.0 9.6.1", "bNumConfigurations 0: a device has at least one configuration"))
    if dev.bcdUSB < 0x0100:
        out.append(error("USB 2.0 9.6.1", f"bcdUSB 0x{dev.bcdUSB:04X} names no USB release"))
    return out


def check_configuration_bytes(data: bytes, dev: DeviceDescriptor | None = None) -> list[Finding]:
    """Parse and check in one: a walk that fails becomes an ERROR finding (USB 2.0 9.5), not an exception."""
    try:
        cfg = parse_configuration(data)
    except DescriptorParseError as exc:
        return [error("USB 2.0 9.5", f"configuration descriptor does not parse: {exc}")]
    return check_configuration(cfg, dev)


def check_configuration(cfg: Configuration, dev: DeviceDescriptor | None = None) -> list[Finding]:
    """Everything chapter 9 says of a configuration: header, interfaces, endpoints and IADs."""
    out = _header(cfg)
    out += _interfaces(cfg)
    out += _endpoints(cfg)
    out += check_iads(cfg, dev)
    return out


def _header(cfg: Configuration) -> list[Finding]:
    out: list[Finding] = []
    if cfg.bLength != 9:
        out.append(error("USB 2.0 9.6.3", f"configuration bLength {cfg.bLength}, expected 9"))
    if cfg.bDescriptorType != DT_CONFIGURATION:
        out.append(error("USB 2.0 9.6.3", f"configuration bDescriptorType 0x{cfg.bDescriptorType:02X}"))
    if cfg.wTotalLength != cfg.returned:
        out.append(error("USB 2.0 9.6.3", f"wTotalLength {cfg.wTotalLength}, but the configuration's "
                                          f"descriptors returned are {cfg.returned} bytes"))
    numbers = cfg.interface_numbers()
    if cfg.bNumInterfaces != len(numbers):
        out.append(error("USB 2.0 9.6.3", f"bNumInterfaces {cfg.bNumInterfaces}, but {len(numbers)} distinct "
                                          f"interface numbers {numbers} are described"))
    if cfg.bConfigurationValue == 0:
        out.append(error("USB 2.0 9.4.7", "bConfigurationValue 0 is the unconfigured state's value"))
    if not cfg.bmAttributes & 0x80 or cfg.bmAttributes & 0x1F:
        out.append(error("USB 2.0 9.6.3", f"bmAttributes 0x{cfg.bmAttributes:02X}: D7 must be one and "
                                          f"D4..D0 zero"))
    for desc in cfg.stray:
        out.append(error("USB 2.0 9.6.3", f"descriptor of type 0x{desc.dtype:02X} at offset {desc.offset} "
                                          f"belongs to no interface"))
    return out


def _interfaces(cfg: Configuration) -> list[Finding]:
    out: list[Finding] = []
    seen = Counter((a.bInterfaceNumber, a.bAlternateSetting) for a in cfg.alt_settings)
    for (number, setting), count in sorted(seen.items()):
        if count > 1:
            out.append(error("USB 2.0 9.6.5", f"interface {number} alt {setting} is described {count} times"))
    for number in cfg.interface_numbers():
        alts = sorted(a.bAlternateSetting for a in cfg.alt_settings if a.bInterfaceNumber == number)
        if alts[0] != 0:
            out.append(error("USB 2.0 9.6.5", f"interface {number} has no alternate setting 0 "
                                              f"(bAlternateSetting values {alts})"))
    for alt in cfg.alt_settings:
        if alt.bLength != 9:
            out.append(error("USB 2.0 9.6.5", f"{alt.name}: bLength {alt.bLength}, expected 9"))
        if alt.bNumEndpoints != len(alt.endpoints):
            out.append(error("USB 2.0 9.6.5", f"{alt.name}: bNumEndpoints {alt.bNumEndpoints}, "
                                              f"{len(alt.endpoints)} endpoint descriptors follow"))
    if cfg.alt_settings and cfg.order and cfg.order[0].dtype == DT_ENDPOINT:
        out.append(error("USB 2.0 9.6.3", "an endpoint descriptor comes before any interface"))
    return out


def _size_problem(transfer_type: int, size: int) -> str | None:
    legal = FULL_SPEED_LIMITS[transfer_type][1]
    if isinstance(legal, tuple):
        return None if size in legal else f"legal: {', '.join(map(str, legal))}"
    return None if size <= legal else f"at most {legal}"


def _endpoints(cfg: Configuration) -> list[Finding]:
    out: list[Finding] = []
    for alt in cfg.alt_settings:
        for ep in alt.endpoints:
            where = f"{alt.name} endpoint 0x{ep.bEndpointAddress:02X}"
            if ep.bLength not in (7, 9):
                out.append(error("USB 2.0 9.6.6", f"{where}: bLength {ep.bLength}, expected 7 "
                                                  f"(9 in the audio-class form)"))
            if ep.bEndpointAddress & 0x0F == 0:
                out.append(error("USB 2.0 9.6.6", f"{where}: endpoint number 0 is the default pipe"))
            if ep.bEndpointAddress & 0x70:
                out.append(error("USB 2.0 9.6.6", f"{where}: bEndpointAddress bits 6..4 are reserved, "
                                                  f"must be zero"))
            if ep.transfer_type == TT_CONTROL:
                out.append(warning("USB 2.0 9.6.6", f"{where}: a control endpoint besides endpoint 0"))
            if ep.wMaxPacketSize & 0xF800:
                out.append(error("USB 2.0 9.6.6", f"{where}: wMaxPacketSize 0x{ep.wMaxPacketSize:04X} sets "
                                                  f"bits 15..11 (reserved, or high-speed only)"))
            size = ep.wMaxPacketSize & 0x07FF
            problem = _size_problem(ep.transfer_type, size)
            if problem:
                clause = FULL_SPEED_LIMITS[ep.transfer_type][0]
                out.append(error(clause, f"{where}: wMaxPacketSize {size} is not a legal full-speed "
                                         f"{ep.type_name} size ({problem})"))
            if ep.transfer_type in (TT_INTERRUPT, TT_ISOCHRONOUS) and ep.bInterval == 0:
                out.append(error("USB 2.0 9.6.6", f"{where}: bInterval 0 for a {ep.type_name} endpoint"))
            if ep.transfer_type == TT_ISOCHRONOUS and ep.bInterval > 16:
                out.append(error("USB 2.0 9.6.6", f"{where}: isochronous bInterval {ep.bInterval} > 16"))
    seen: dict[int, str] = {}
    for alt in cfg.alt_zero():
        for ep in alt.endpoints:
            other = seen.get(ep.bEndpointAddress)
            if other is not None and other != alt.name:
                out.append(error("USB 2.0 9.6.6", f"endpoint address 0x{ep.bEndpointAddress:02X} is used by "
                                                  f"both {other} and {alt.name}: the alternate-setting-0s "
                                                  f"of one configuration are active together"))
            elif other is not None:
                out.append(error("USB 2.0 9.6.6", f"endpoint address 0x{ep.bEndpointAddress:02X} appears "
                                                  f"twice in {alt.name}"))
            seen[ep.bEndpointAddress] = alt.name
    return out


def check_iads(cfg: Configuration, dev: DeviceDescriptor | None = None) -> list[Finding]:
    """Interface association descriptors (IAD ECN): length, the interfaces each covers exist and are
    contiguous, none is covered twice, each IAD comes right before its first interface, and a device
    with IADs uses the Multi-interface Function class codes."""
    clause = "USB 2.0 IAD ECN"
    out: list[Finding] = []
    numbers = set(cfg.interface_numbers())
    owner: dict[int, int] = {}
    for iad in cfg.iads:
        where = f"IAD at offset {iad.offset}"
        if iad.bLength != 8:
            out.append(error(clause, f"{where}: bLength {iad.bLength}, expected 8"))
        if iad.bInterfaceCount < 1:
            out.append(error(clause, f"{where}: bInterfaceCount 0 associates nothing"))
        covered = range(iad.bFirstInterface, iad.bFirstInterface + iad.bInterfaceCount)
        missing = [n for n in covered if n not in numbers]
        if missing:
            out.append(error(clause, f"{where}: bFirstInterface {iad.bFirstInterface} bInterfaceCount "
                                     f"{iad.bInterfaceCount} covers interfaces {missing} that do not exist"))
        for n in covered:
            if n in owner:
                out.append(error(clause, f"{where}: interface {n} is also covered by the IAD at offset "
                                         f"{owner[n]}"))
            owner.setdefault(n, iad.offset)
        index = next((i for i, d in enumerate(cfg.order) if d.offset == iad.offset), None)
        after = cfg.order[index + 1] if index is not None and index + 1 < len(cfg.order) else None
        if after is None or after.dtype != DT_INTERFACE or after.data[2] != iad.bFirstInterface:
            out.append(error(clause, f"{where}: not immediately followed by interface "
                                     f"{iad.bFirstInterface}'s descriptor"))
        if missing:
            continue
        first = next((a for a in cfg.alt_settings if a.bInterfaceNumber == iad.bFirstInterface), None)
        if first is not None and iad.bFunctionClass != first.bInterfaceClass:
            out.append(warning(clause, f"{where}: bFunctionClass 0x{iad.bFunctionClass:02X} differs from "
                                       f"interface {iad.bFirstInterface}'s class "
                                       f"0x{first.bInterfaceClass:02X}"))
    if cfg.iads and dev is not None:
        codes = (dev.bDeviceClass, dev.bDeviceSubClass, dev.bDeviceProtocol)
        if codes != IAD_CLASS:
            out.append(error(clause, f"device class/subclass/protocol {codes}: a device with IADs reports "
                                     f"0xEF/0x02/0x01 (Multi-interface Function)"))
    return out

"""USB 2.0 chapter 9 conformance of a device's descriptors, fetched with standard GET_DESCRIPTOR only
and judged by rig.checks: nothing here knows our board, so it judges any full-speed device."""

from __future__ import annotations

import pytest
import usb.core

from rig.checks.chapter9 import check_configuration, check_device
from rig.checks.findings import Finding, errors
from rig.checks.parse import parse_configuration
from rig.checks.strings import check_strings, langids, string_references

from .standard_device import (
    DT_CONFIGURATION,
    DT_DEVICE,
    DT_DEVICE_QUALIFIER,
    DT_STRING,
    get_descriptor,
    read_configuration,
    read_device,
    stalled,
)

pytestmark = pytest.mark.needs("usb")

DT_OTHER_SPEED_CONFIGURATION = 7


def report(findings: list[Finding]) -> str:
    """Findings one per line, for an assertion message."""
    return "\n".join(map(str, findings))


def test_device_descriptor_is_well_formed(std_device: usb.core.Device) -> None:
    """USB 2.0 9.6.1: bLength 18, type DEVICE, legal bMaxPacketSize0, at least one configuration."""
    found = errors(check_device(read_device(std_device)))
    assert not found, report(found)


def test_every_configuration_is_well_formed(std_device: usb.core.Device) -> None:
    """USB 2.0 9.6.3, 9.6.5, 9.6.6 and the IAD ECN: wTotalLength equals the bytes returned,
    bNumInterfaces the distinct interfaces, unique endpoint addresses, legal full-speed packet sizes,
    IADs covering existing interfaces."""
    dev = read_device(std_device)
    for index in range(dev.bNumConfigurations):
        cfg = read_configuration(std_device, index)
        found = errors(check_configuration(cfg, dev))
        assert not found, f"configuration {index}:\n{report(found)}"


def test_configuration_is_returned_whole_when_asked_for_more(std_device: usb.core.Device) -> None:
    """USB 2.0 9.4.3: asked for more than the descriptor, a device returns it all and no more — the
    wTotalLength bytes the header promised."""
    whole = get_descriptor(std_device, DT_CONFIGURATION, 0)
    assert len(whole) == parse_configuration(whole).wTotalLength


@pytest.mark.parametrize("length", [1, 2, 8, 9, 17])
def test_short_wlength_returns_the_device_descriptor_prefix(std_device: usb.core.Device, length: int) -> None:
    """USB 2.0 9.4.3: with wLength shorter than the descriptor, the first wLength bytes come back."""
    whole = get_descriptor(std_device, DT_DEVICE, 0, 18)
    assert get_descriptor(std_device, DT_DEVICE, 0, length) == whole[:length]


@pytest.mark.parametrize("length", [1, 4, 9, 10, 64, 65])
def test_short_wlength_returns_the_configuration_prefix(std_device: usb.core.Device, length: int) -> None:
    """USB 2.0 9.4.3, for a descriptor set longer than one packet (65 bytes crosses a 64-byte packet)."""
    whole = get_descriptor(std_device, DT_CONFIGURATION, 0)
    assert get_descriptor(std_device, DT_CONFIGURATION, 0, length) == whole[:length]


def test_strings_are_well_formed_and_every_index_exists(std_device: usb.core.Device) -> None:
    """USB 2.0 9.6.7: string 0 is a LANGID table; every string a descriptor names exists in the first
    language, is UTF-16LE with an even bLength equal to the bytes returned."""
    dev = read_device(std_device)
    cfg = read_configuration(std_device, 0)
    refs = string_references(dev, cfg)
    try:
        string0: bytes | None = get_descriptor(std_device, DT_STRING, 0, 255)
    except usb.core.USBError as exc:
        if not stalled(exc):
            raise
        string0 = None
    langid = (langids(string0) or [0])[0] if string0 else 0
    strings: dict[int, bytes | None] = {}
    for index in sorted({r.index for r in refs}):
        try:
            strings[index] = get_descriptor(std_device, DT_STRING, index, 255, langid)
        except usb.core.USBError as exc:
            if not stalled(exc):
                raise
            strings[index] = None
    found = errors(check_strings(string0, strings, refs))
    assert not found, report(found)


def test_device_qualifier_stalls_on_a_full_speed_only_device(std_device: usb.core.Device) -> None:
    """USB 2.0 9.6.2: a full-speed-only device answers GET_DESCRIPTOR(DEVICE_QUALIFIER) with a Request
    Error. A device that answers claims high-speed ability: its qualifier must then be well formed
    and its other-speed configuration (9.6.4) must exist too."""
    try:
        qualifier = get_descriptor(std_device, DT_DEVICE_QUALIFIER, 0, 10)
    except usb.core.USBError as exc:
        assert stalled(exc), f"GET_DESCRIPTOR(DEVICE_QUALIFIER) failed without a STALL: {exc}"
        read_device(std_device)  # and the next request is answered (9.2.7)
        return
    assert len(qualifier) == 10 and qualifier[:2] == bytes((10, DT_DEVICE_QUALIFIER)), (
        f"device qualifier answered but malformed: {qualifier.hex(' ')}")
    assert int.from_bytes(qualifier[2:4], "little") >= 0x0200, "a qualifier from a pre-2.0 device"
    other = get_descriptor(std_device, DT_OTHER_SPEED_CONFIGURATION, 0, 9)
    assert other[1] == DT_OTHER_SPEED_CONFIGURATION

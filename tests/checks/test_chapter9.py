"""USB 2.0 chapter 9 checks: our good descriptors pass; each broken variant (one field changed)
fails the check for that field, citing its clause."""

from __future__ import annotations

import pytest

from rig.checks.chapter9 import check_configuration, check_configuration_bytes, check_device
from rig.checks.findings import Finding
from rig.checks.parse import parse_configuration, parse_device

from .variants import cfg, endpoint_of, error_list, flagged, good_config, good_device, put


def findings_for(config: bytes) -> list[Finding]:
    """Chapter 9 findings for configuration bytes, judged with our good device descriptor."""
    return check_configuration_bytes(config, parse_device(good_device()))


def test_good_descriptors_pass() -> None:
    dev = parse_device(good_device())
    assert error_list(check_device(dev)) == []
    assert error_list(check_configuration(parse_configuration(good_config()), dev)) == []


@pytest.mark.parametrize("delta", [1, -1])
def test_wrong_wtotallength_fails(delta: int) -> None:
    """USB 2.0 9.6.3: wTotalLength equals the bytes of the configuration's descriptors."""
    data = good_config()
    broken = put(data, 2, "<H", len(data) + delta)
    assert flagged(findings_for(broken), "USB 2.0 9.6.3", "wTotalLength", str(len(data) + delta))


def test_returned_bytes_short_of_wtotallength_fail() -> None:
    """USB 2.0 9.6.3: a device returning fewer bytes than it claims (a truncated configuration)."""
    data = good_config()
    cut = data[:endpoint_of(0x84).offset]  # the last descriptor (CDC data IN endpoint) is missing
    findings = check_configuration_bytes(cut)
    assert flagged(findings, "USB 2.0 9.6.3", "wTotalLength", str(len(data)), str(len(cut)))
    assert flagged(findings, "USB 2.0 9.6.5", "bNumEndpoints 2")


@pytest.mark.parametrize("delta", [1, -1])
def test_wrong_bnuminterfaces_fails(delta: int) -> None:
    """USB 2.0 9.6.3: bNumInterfaces counts the distinct interface numbers."""
    data = good_config()
    broken = put(data, 4, "<B", data[4] + delta)
    assert flagged(findings_for(broken), "USB 2.0 9.6.3", "bNumInterfaces", str(data[4] + delta))


def test_duplicate_endpoint_address_fails() -> None:
    """USB 2.0 9.6.6: endpoint addresses are unique among the active (alt 0) interfaces."""
    frame_out = endpoint_of(0x02)
    broken = put(good_config(), frame_out.offset + 2, "<B", 0x01)  # the frame OUT endpoint takes MIDI OUT's
    assert flagged(findings_for(broken), "USB 2.0 9.6.6", "0x01", "interface 1 alt 0", "interface 2 alt 0")


@pytest.mark.parametrize(("address", "size", "clause"), [
    (0x02, 63, "USB 2.0 5.8.3"),    # bulk: only 8/16/32/64
    (0x02, 512, "USB 2.0 5.8.3"),   # bulk: 512 is high-speed only
    (0x83, 65, "USB 2.0 5.7.3"),    # interrupt: at most 64
])
def test_illegal_max_packet_size_fails(address: int, size: int, clause: str) -> None:
    """USB 2.0 chapter 5 full-speed limits on wMaxPacketSize."""
    ep = endpoint_of(address)
    broken = put(good_config(), ep.offset + 4, "<H", size)
    assert flagged(findings_for(broken), clause, "wMaxPacketSize", str(size))


def test_illegal_ep0_size_fails() -> None:
    """USB 2.0 9.6.1: bMaxPacketSize0 is 8, 16, 32 or 64."""
    dev = parse_device(put(good_device(), 7, "<B", 12))
    assert flagged(check_device(dev), "USB 2.0 9.6.1", "bMaxPacketSize0", "12")


def test_wrong_device_blength_fails() -> None:
    dev = parse_device(put(good_device(), 0, "<B", 17))
    assert flagged(check_device(dev), "USB 2.0 9.6.1", "bLength", "17")


def test_bnumendpoints_disagreeing_fails() -> None:
    """USB 2.0 9.6.5: bNumEndpoints counts the endpoint descriptors that follow."""
    vendor = next(a for a in cfg().alt_settings if a.bInterfaceClass == 0xFF)
    broken = put(good_config(), vendor.offset + 4, "<B", 3)
    assert flagged(findings_for(broken), "USB 2.0 9.6.5", "bNumEndpoints 3")


def test_configuration_attributes_without_d7_fail() -> None:
    broken = put(good_config(), 7, "<B", 0x00)
    assert flagged(findings_for(broken), "USB 2.0 9.6.3", "bmAttributes")


def test_iad_covering_a_missing_interface_fails() -> None:
    """IAD ECN: the interfaces an IAD associates exist."""
    (iad,) = cfg().iads
    broken = put(good_config(), iad.offset + 3, "<B", 3)  # bInterfaceCount 3 from interface 3: 3, 4, 5
    assert flagged(findings_for(broken), "USB 2.0 IAD ECN", "bInterfaceCount 3", "[5]")


def test_iad_not_before_its_first_interface_fails() -> None:
    (iad,) = cfg().iads
    broken = put(good_config(), iad.offset + 2, "<B", 4)  # names interface 4; interface 3 follows it
    assert flagged(findings_for(broken), "USB 2.0 IAD ECN", "not immediately followed")


def test_iad_without_multi_interface_class_fails() -> None:
    dev = parse_device(put(good_device(), 4, "<B", 0x00))
    findings = check_configuration(parse_configuration(good_config()), dev)
    assert flagged(findings, "USB 2.0 IAD ECN", "0xEF/0x02/0x01")


def test_overrunning_descriptor_is_a_finding_not_an_exception() -> None:
    """USB 2.0 9.5: a bLength running past the end is reported as a finding."""
    data = good_config()
    broken = put(data, cfg().alt_settings[-1].offset, "<B", 200)
    findings = check_configuration_bytes(broken)
    assert flagged(findings, "USB 2.0 9.5", "runs past")

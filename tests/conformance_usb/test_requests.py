"""USB 2.0 chapter 9 standard requests, device-agnostic: configuration cycling, GET_STATUS, request
errors and recovery, and endpoint halt set and cleared — plain pyusb standard requests only."""

from __future__ import annotations

import array
import errno

import pytest
import usb.core

from rig.checks.model import TT_BULK, Configuration, Endpoint

from .standard_device import (
    CLEAR_FEATURE,
    GET_STATUS,
    SET_FEATURE,
    TIMEOUT_MS,
    StandardOnly,
    VendorRequestSent,
    endpoint_feature,
    get_configuration,
    get_status,
    read_configuration,
    read_device,
    set_configuration,
    stalled,
)

pytestmark = pytest.mark.needs("usb")

CONFIG_CYCLES = 100
HALT_READ_TIMEOUT_MS = 200
RECIPIENT_DEVICE, RECIPIENT_INTERFACE, RECIPIENT_ENDPOINT = 0, 1, 2


def active_bulk_endpoints(cfg: Configuration) -> list[Endpoint]:
    """The bulk endpoints of every interface's alternate setting 0 (active after SET_CONFIGURATION)."""
    return [ep for alt in cfg.alt_zero() for ep in alt.endpoints if ep.transfer_type == TT_BULK]


def test_set_configuration_cycles_and_get_configuration_agrees(std_device: usb.core.Device) -> None:
    """USB 2.0 9.4.7 and 9.4.2: SET_CONFIGURATION 0 returns the device to the Address state
    (GET_CONFIGURATION answers 0), SET_CONFIGURATION with the configuration's value configures it
    again; 100 times over."""
    value = read_configuration(std_device).bConfigurationValue
    for cycle in range(CONFIG_CYCLES):
        set_configuration(std_device, 0)
        assert get_configuration(std_device) == 0, f"cycle {cycle}: configured after SET_CONFIGURATION 0"
        set_configuration(std_device, value)
        assert get_configuration(std_device) == value, f"cycle {cycle}: not configuration {value}"


def test_get_status_of_device_interfaces_and_endpoints(std_device: usb.core.Device) -> None:
    """USB 2.0 9.4.5: two bytes each; the device's reserved bits D15..D2 zero and Self Powered only
    when bmAttributes allows it; interfaces all zero; endpoints only D0 (Halt), clear after
    SET_CONFIGURATION."""
    cfg = read_configuration(std_device)
    set_configuration(std_device, cfg.bConfigurationValue)
    status = get_status(std_device, RECIPIENT_DEVICE)
    assert status & ~0x0003 == 0, f"device status 0x{status:04X} sets reserved bits"
    if not cfg.bmAttributes & 0x40:
        assert not status & 0x0001, "Self Powered set, but bmAttributes says bus-powered only"
    if not cfg.bmAttributes & 0x20:
        assert not status & 0x0002, "Remote Wakeup set, but bmAttributes does not support it"
    for number in cfg.interface_numbers():
        assert get_status(std_device, RECIPIENT_INTERFACE, number) == 0, f"interface {number}"
    assert get_status(std_device, RECIPIENT_ENDPOINT, 0) == 0, "endpoint 0"
    for alt in cfg.alt_zero():
        for ep in alt.endpoints:
            assert get_status(std_device, RECIPIENT_ENDPOINT, ep.bEndpointAddress) == 0, (
                f"endpoint 0x{ep.bEndpointAddress:02X} of {alt.name} not 0 after SET_CONFIGURATION")


def expect_stall(dev: usb.core.Device, bm: int, request: int, value: int, index: int,
                 length: int | None) -> None:
    """The request must end in a STALL (a Request Error, USB 2.0 9.2.7)."""
    with pytest.raises(usb.core.USBError) as info:
        dev.ctrl_transfer(bm, request, value, index, length, TIMEOUT_MS)
    assert stalled(info.value), f"request 0x{request:02X} failed without a STALL: {info.value}"


@pytest.mark.parametrize(("bm", "code", "length"), [
    (0x80, 2, 2),     # reserved standard request code 2 (table 9-4), device-to-host
    (0x00, 4, None),  # reserved standard request code 4, host-to-device
    (0x80, 0xFF, 1),  # a standard request code no USB release defines
])
def test_unsupported_request_stalls_and_the_next_is_answered(std_device: usb.core.Device, bm: int,
                                                             code: int, length: int | None) -> None:
    """USB 2.0 9.2.7 and 9.4: a request the device does not support gets a Request Error (STALL on
    EP0); the STALL clears at the next SETUP, which is answered normally."""
    expect_stall(std_device, bm, code, 0, 0, length)
    assert read_device(std_device).bLength == 18
    assert get_status(std_device, RECIPIENT_DEVICE) & ~0x0003 == 0


def test_status_of_a_missing_interface_or_endpoint_stalls(std_device: usb.core.Device) -> None:
    """USB 2.0 9.4.5: GET_STATUS naming an interface or endpoint that does not exist is a Request Error."""
    cfg = read_configuration(std_device)
    set_configuration(std_device, cfg.bConfigurationValue)
    used = {ep.bEndpointAddress for alt in cfg.alt_settings for ep in alt.endpoints}
    missing_ep = next(a for a in range(0x8F, 0x80, -1) if a not in used)
    missing_if = max(cfg.interface_numbers()) + 1
    for bm, index in ((0x82, missing_ep), (0x81, missing_if)):
        # Through the backend: pyusb's Device.ctrl_transfer first claims an interface recipient, which
        # libusb refuses (NOT_FOUND) for a missing interface before anything reaches the device.
        std_device._ctx.managed_open()
        with pytest.raises(usb.core.USBError) as info:
            std_device._ctx.backend.ctrl_transfer(std_device._ctx.handle, bm, GET_STATUS, 0, index,
                                                  array.array("B", bytes(2)), TIMEOUT_MS)
        if info.value.errno == errno.ENOENT:  # Linux usbfs checks the recipient exists: never sent
            pytest.skip(f"the host's USB stack refused to send GET_STATUS to missing recipient 0x{index:02X} "
                        f"(bmRequestType 0x{bm:02X}): the device cannot be judged on it through this host")
        assert stalled(info.value), f"GET_STATUS (bmRequestType 0x{bm:02X}, wIndex 0x{index:02X}) failed " \
                                    f"without a STALL: {info.value}"
    assert get_status(std_device, RECIPIENT_DEVICE) & ~0x0003 == 0


@pytest.mark.parametrize("via", ["device", "backend"])
def test_the_vendor_guard_refuses_vendor_requests(std_guard: StandardOnly, via: str) -> None:
    """The suites' own guard: a vendor-type request (bmRequestType type bits = 2) never reaches the
    device, whichever pyusb layer sends it. The fixture would fail the test for it, so this test
    empties the record once it has seen the refusal."""
    dev = std_guard.device
    with pytest.raises(VendorRequestSent):
        if via == "device":
            dev.ctrl_transfer(0xC0, 0x01, 0, 0, 8, TIMEOUT_MS)
        else:
            dev._ctx.managed_open()
            dev._ctx.backend.ctrl_transfer(dev._ctx.handle, 0x40, 0x02, 0, 0, array.array("B"), TIMEOUT_MS)
    assert len(std_guard.violations) == 1 and "vendor request" in std_guard.violations[0]
    std_guard.violations.clear()


def test_every_bulk_endpoint_halts_and_clears(std_device: usb.core.Device) -> None:
    """USB 2.0 9.4.9, 9.4.5, 9.4.1: SET_FEATURE(ENDPOINT_HALT) halts a bulk endpoint (GET_STATUS D0 = 1)
    until CLEAR_FEATURE(ENDPOINT_HALT) clears it (GET_STATUS 0), for every bulk endpoint of the
    active interfaces."""
    cfg = read_configuration(std_device)
    set_configuration(std_device, cfg.bConfigurationValue)
    problems: list[str] = []
    for ep in active_bulk_endpoints(cfg):
        address = ep.bEndpointAddress
        endpoint_feature(std_device, SET_FEATURE, address)
        halted = get_status(std_device, RECIPIENT_ENDPOINT, address)
        endpoint_feature(std_device, CLEAR_FEATURE, address)
        cleared = get_status(std_device, RECIPIENT_ENDPOINT, address)
        if halted != 1:
            problems.append(f"0x{address:02X}: GET_STATUS 0x{halted:04X} after SET_FEATURE(ENDPOINT_HALT)")
        if cleared != 0:
            problems.append(f"0x{address:02X}: GET_STATUS 0x{cleared:04X} after CLEAR_FEATURE(ENDPOINT_HALT)")
    assert not problems, "\n".join(problems)


def test_a_halted_bulk_in_endpoint_stalls_reads_until_cleared(std_device: usb.core.Device) -> None:
    """USB 2.0 9.4.5 (and 8.4.5): while halted, an endpoint answers every transaction with STALL — a
    read attempt does not clear the halt — until CLEAR_FEATURE(ENDPOINT_HALT)."""
    cfg = read_configuration(std_device)
    set_configuration(std_device, cfg.bConfigurationValue)
    problems: list[str] = []
    for ep in active_bulk_endpoints(cfg):
        if not ep.is_in:
            continue
        address = ep.bEndpointAddress
        endpoint_feature(std_device, SET_FEATURE, address)
        try:
            std_device.read(address, ep.wMaxPacketSize, HALT_READ_TIMEOUT_MS)
        except usb.core.USBError as exc:
            if exc.errno != errno.EPIPE:
                problems.append(f"0x{address:02X}: read while halted ended with {exc}, not a STALL")
        else:
            problems.append(f"0x{address:02X}: read while halted returned data, not a STALL")
        still = get_status(std_device, RECIPIENT_ENDPOINT, address)
        endpoint_feature(std_device, CLEAR_FEATURE, address)
        if still != 1:
            problems.append(f"0x{address:02X}: GET_STATUS 0x{still:04X} after a read on the halted endpoint")
        if get_status(std_device, RECIPIENT_ENDPOINT, address) != 0:
            problems.append(f"0x{address:02X}: still halted after CLEAR_FEATURE(ENDPOINT_HALT)")
    assert not problems, "\n".join(problems)

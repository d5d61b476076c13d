"""USB 2.0 chapter 9: what clears an endpoint halt besides CLEAR_FEATURE (SET_CONFIGURATION and
SET_INTERFACE, 9.4.5), which requests the Address state refuses (9.4.5, 9.4.9), and that setting a
halt on endpoint 0 never leaves the device unable to answer (8.5.3.4)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import usb.core

from rig.checks.model import TT_BULK, Configuration

from .standard_device import (
    CLEAR_FEATURE,
    GET_STATUS,
    SET_FEATURE,
    TIMEOUT_MS,
    endpoint_feature,
    get_configuration,
    get_status,
    read_configuration,
    set_configuration,
    stalled,
)

pytestmark = pytest.mark.needs("usb")

RECIPIENT_DEVICE, RECIPIENT_INTERFACE, RECIPIENT_ENDPOINT = 0, 1, 2


@pytest.fixture
def configured(std_device: usb.core.Device) -> Iterator[Configuration]:
    """The device in its first configuration (set afresh, so no halt is left from before)."""
    cfg = read_configuration(std_device)
    set_configuration(std_device, cfg.bConfigurationValue)
    yield cfg
    set_configuration(std_device, cfg.bConfigurationValue)


def bulk_by_interface(cfg: Configuration) -> dict[int, list[int]]:
    """Interface number -> the bulk endpoint addresses of its alternate setting 0."""
    return {alt.bInterfaceNumber: [ep.bEndpointAddress for ep in alt.endpoints if ep.transfer_type == TT_BULK]
            for alt in cfg.alt_zero()}


def halted_after(dev: usb.core.Device, addresses: list[int]) -> list[str]:
    """The endpoints among `addresses` that GET_STATUS still reports halted."""
    return [f"0x{a:02X}" for a in addresses if get_status(dev, RECIPIENT_ENDPOINT, a) & 1]


def test_set_configuration_clears_every_halt(std_device: usb.core.Device, configured: Configuration) -> None:
    """USB 2.0 9.4.5: the Halt feature is reset after SET_CONFIGURATION, even to the same configuration."""
    addresses = [a for eps in bulk_by_interface(configured).values() for a in eps]
    for address in addresses:
        endpoint_feature(std_device, SET_FEATURE, address)
    assert halted_after(std_device, addresses) == [f"0x{a:02X}" for a in addresses]
    set_configuration(std_device, configured.bConfigurationValue)
    assert halted_after(std_device, addresses) == [], "halted after SET_CONFIGURATION"


def test_set_interface_clears_its_endpoints_halts(std_device: usb.core.Device,
                                                  configured: Configuration) -> None:
    """USB 2.0 9.4.5 and 9.4.10: SET_INTERFACE resets the Halt feature of the interface's endpoints,
    even for the alternate setting already selected. (A device may STALL SET_INTERFACE for an
    interface with only a default setting, 9.4.10; such interfaces are left out.)"""
    problems: list[str] = []
    tried = 0
    for number, addresses in bulk_by_interface(configured).items():
        if not addresses:
            continue
        for address in addresses:
            endpoint_feature(std_device, SET_FEATURE, address)
        try:
            std_device.set_interface_altsetting(interface=number, alternate_setting=0)
        except usb.core.USBError as exc:
            assert stalled(exc), f"SET_INTERFACE({number}, 0) failed without a STALL: {exc}"
            for address in addresses:
                endpoint_feature(std_device, CLEAR_FEATURE, address)
            continue
        tried += 1
        still = halted_after(std_device, addresses)
        if still:
            problems.append(f"interface {number}: {', '.join(still)} still halted after SET_INTERFACE")
        for address in addresses:
            endpoint_feature(std_device, CLEAR_FEATURE, address)
    if not tried:
        pytest.skip("the device STALLs SET_INTERFACE on every interface with bulk endpoints "
                    "(9.4.10 allows it)")
    assert not problems, "\n".join(problems)


def expect_request_error(dev: usb.core.Device, bm: int, request: int, value: int, index: int,
                         length: int | None, what: str) -> str | None:
    """None when the request STALLs (a Request Error), else what went wrong."""
    try:
        dev.ctrl_transfer(bm, request, value, index, length, TIMEOUT_MS)
    except usb.core.USBError as exc:
        return None if stalled(exc) else f"{what}: failed without a STALL ({exc})"
    return f"{what}: answered in the Address state"


def test_address_state_refuses_interface_and_endpoint_requests(std_device: usb.core.Device,
                                                               configured: Configuration) -> None:
    """USB 2.0 9.4.5 and 9.4.9 (Address state): GET_STATUS naming an interface or an endpoint other
    than 0, and SET_FEATURE/CLEAR_FEATURE(ENDPOINT_HALT) on such an endpoint, are Request Errors;
    device and endpoint 0 requests are answered."""
    set_configuration(std_device, 0)
    problems: list[str] = []
    number = configured.interface_numbers()[0]
    problems.append(expect_request_error(std_device, 0x81, GET_STATUS, 0, number, 2,
                                         f"GET_STATUS(interface {number})") or "")
    for addresses in bulk_by_interface(configured).values():
        for address in addresses:
            for bm, request, length, what in (
                (0x82, GET_STATUS, 2, "GET_STATUS"),
                (0x02, SET_FEATURE, None, "SET_FEATURE(ENDPOINT_HALT)"),
                (0x02, CLEAR_FEATURE, None, "CLEAR_FEATURE(ENDPOINT_HALT)"),
            ):
                problems.append(expect_request_error(std_device, bm, request, 0, address, length,
                                                      f"{what} on endpoint 0x{address:02X}") or "")
    assert get_configuration(std_device) == 0
    assert get_status(std_device, RECIPIENT_DEVICE) & ~0x0003 == 0
    assert get_status(std_device, RECIPIENT_ENDPOINT, 0) == 0
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)


def test_endpoint_zero_halt_leaves_the_device_answering(std_device: usb.core.Device,
                                                        configured: Configuration) -> None:
    """USB 2.0 9.4.5 and 8.5.3.4: a Halt feature on the default control pipe is neither required nor
    recommended; whether SET_FEATURE(ENDPOINT_HALT, 0) is refused or taken, the next SETUP is
    answered, and endpoint 0 does not stay halted after CLEAR_FEATURE."""
    for request in (SET_FEATURE, CLEAR_FEATURE):
        try:
            endpoint_feature(std_device, request, 0x00)
        except usb.core.USBError as exc:
            assert stalled(exc), f"feature request {request} on endpoint 0 failed without a STALL: {exc}"
        assert get_status(std_device, RECIPIENT_DEVICE) & ~0x0003 == 0
    assert get_status(std_device, RECIPIENT_ENDPOINT, 0) == 0, "endpoint 0 halted after CLEAR_FEATURE"
    assert get_configuration(std_device) == configured.bConfigurationValue

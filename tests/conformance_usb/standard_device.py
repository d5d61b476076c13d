"""A target's USB device as a device-agnostic suite may use it: standard (and class) requests only.

`StandardOnly` wraps the pyusb device's ctrl_transfer and its backend's: a vendor-type request
(bmRequestType bits 6..5 = 2) raises VendorRequestSent before it reaches the device, and is remembered
so the fixture fails the test even when the exception was swallowed. The fixture also detaches every
OS driver (so nothing else touches the endpoints while a test halts them or unconfigures the
device), and afterwards leaves the device freshly configured and the drivers attached again.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import usb.core
import usb.util

from rig.checks.errors import DescriptorParseError
from rig.checks.model import Configuration
from rig.targets.probe import DESCRIPTOR_READ, get_descriptor, read_configuration, read_device

__all__ = ["DESCRIPTOR_READ", "get_descriptor", "read_configuration", "read_device"]

REQUEST_TYPE_VENDOR = 2
TIMEOUT_MS = 1000
GET_STATUS, CLEAR_FEATURE, SET_FEATURE = 0, 1, 3
GET_DESCRIPTOR, GET_CONFIGURATION, SET_CONFIGURATION = 6, 8, 9
ENDPOINT_HALT = 0
DT_DEVICE, DT_CONFIGURATION, DT_STRING, DT_DEVICE_QUALIFIER = 1, 2, 3, 6


class VendorRequestSent(AssertionError):
    """A device-agnostic test sent a vendor request: it would judge only devices that know it."""


def request_type_kind(bm_request_type: int) -> int:
    """bmRequestType bits 6..5: 0 standard, 1 class, 2 vendor, 3 reserved (USB 2.0 table 9-2)."""
    return (bm_request_type >> 5) & 0x03


class StandardOnly:
    """Refuses vendor requests on one device while installed; `violations` lists those attempted."""

    def __init__(self, device: usb.core.Device) -> None:
        self.device = device
        self.violations: list[str] = []
        self._undo: list[Callable[[], None]] = []

    def _guard(self, original: Callable[..., Any], via: str, request_index: int) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            bm = int(args[request_index] if len(args) > request_index else kwargs["bmRequestType"])
            if request_type_kind(bm) == REQUEST_TYPE_VENDOR:
                request = args[request_index + 1] if len(args) > request_index + 1 else kwargs.get("bRequest")
                what = f"vendor request 0x{int(request or 0):02X} (bmRequestType 0x{bm:02X}) via {via}"
                self.violations.append(what)
                raise VendorRequestSent(f"a device-agnostic test sent a {what}")
            return original(*args, **kwargs)
        return guarded

    def install(self) -> None:
        """Wrap Device.ctrl_transfer (bmRequestType is its first argument) and the backend's
        ctrl_transfer (its second, after the handle), which every pyusb control request goes through."""
        dev = self.device
        backend = dev._ctx.backend
        dev.ctrl_transfer = self._guard(dev.ctrl_transfer, "Device.ctrl_transfer", 0)
        backend.ctrl_transfer = self._guard(backend.ctrl_transfer, "the pyusb backend", 1)
        self._undo += [lambda: vars(dev).pop("ctrl_transfer", None),
                       lambda: vars(backend).pop("ctrl_transfer", None)]

    def remove(self) -> None:
        """Unwrap both."""
        while self._undo:
            self._undo.pop()()


def get_configuration(dev: usb.core.Device) -> int:
    """GET_CONFIGURATION (USB 2.0 9.4.2) sent to the device (not libusb's cached value)."""
    data = bytes(dev.ctrl_transfer(0x80, GET_CONFIGURATION, 0, 0, 1, TIMEOUT_MS))
    assert len(data) == 1, f"GET_CONFIGURATION returned {len(data)} bytes, expected 1"
    return data[0]


def get_status(dev: usb.core.Device, recipient: int, index: int = 0) -> int:
    """GET_STATUS (USB 2.0 9.4.5) to the device (0), an interface (1) or an endpoint (2): the 16-bit word."""
    data = bytes(dev.ctrl_transfer(0x80 | recipient, GET_STATUS, 0, index, 2, TIMEOUT_MS))
    assert len(data) == 2, f"GET_STATUS (recipient {recipient}, wIndex {index}) returned {len(data)} bytes"
    return int.from_bytes(data, "little")


def endpoint_feature(dev: usb.core.Device, request: int, endpoint: int) -> None:
    """SET_FEATURE or CLEAR_FEATURE(ENDPOINT_HALT) on `endpoint` (USB 2.0 9.4.9, 9.4.1)."""
    dev.ctrl_transfer(0x02, request, ENDPOINT_HALT, endpoint, None, TIMEOUT_MS)


def stalled(exc: usb.core.USBError) -> bool:
    """True when a transfer ended in a STALL (libusb reports EPIPE)."""
    return bool(exc.errno == errno.EPIPE)


def _first_configuration(dev: usb.core.Device) -> Configuration | None:
    """Configuration 0 by our own parser, so a device whose descriptors pyusb cannot parse still gets
    its descriptor tests run (and failed by findings) rather than erroring here; None if even ours fails."""
    try:
        return read_configuration(dev, 0)
    except (DescriptorParseError, usb.core.USBError):
        return None


def set_configuration(dev: usb.core.Device, value: int) -> None:
    """SET_CONFIGURATION(`value`) through pyusb. pyusb looks the value up in descriptors it parses
    itself; when those do not parse (a device the descriptor tests fail) the request goes through
    the backend directly, so every other verdict is still reached."""
    try:
        dev.set_configuration(value)
    except usb.core.USBError:
        if value == 0:
            raise
        dev._ctx.managed_open()
        dev._ctx.backend.set_configuration(dev._ctx.handle, value)


@contextmanager
def standard_only(dev: usb.core.Device) -> Iterator[StandardOnly]:
    """The device with OS drivers detached and vendor requests refused; afterwards: SET_CONFIGURATION
    of the first configuration (clearing any halt a failed test left), handle released, drivers
    attached again."""
    cfg = _first_configuration(dev)
    detached = []
    for number in cfg.interface_numbers() if cfg else []:
        try:
            if dev.is_kernel_driver_active(number):
                dev.detach_kernel_driver(number)
                detached.append(number)
        except (NotImplementedError, usb.core.USBError):
            continue
    guard = StandardOnly(dev)
    guard.install()
    try:
        yield guard
    finally:
        guard.remove()
        try:  # configured afresh: no halt or unconfigured state left to a later test, even after a failure
            if cfg is None:
                dev.set_configuration()
            else:
                set_configuration(dev, cfg.bConfigurationValue)
        finally:
            usb.util.dispose_resources(dev)
            attach_all(dev, detached)


def attach_all(dev: usb.core.Device, interfaces: list[int]) -> None:
    """Give each of `interfaces` back to its OS driver, every one tried even when one fails (a device
    is not left without drivers for the first error); the first error is raised once all were tried."""
    first: Exception | None = None
    for number in interfaces:
        try:
            dev.attach_kernel_driver(number)
        except Exception as exc:  # whatever it is, the others still get their drivers back
            first = first or exc
    if first is not None:
        raise first

"""A pyusb backend over any `rig.links.usb_link.UsbLink` (the loopback board, the emulator bridge).

Descriptors are read from the device by GET_DESCRIPTOR control transfers and parsed here; link
failures become the exceptions pyusb's libusb1 backend raises (timeout, EPIPE for a stall, ENODEV
for a vanished device), so code written against a real board behaves the same on a link.
"""

from __future__ import annotations

import array
import errno
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import usb.backend
import usb.core
import usb.util

from rig.contract.ch9 import (
    CONFIGURATION_DESCRIPTOR,
    DEVICE_DESCRIPTOR,
    DT_CONFIGURATION,
    DT_DEVICE,
    DT_ENDPOINT,
    DT_INTERFACE,
    ENDPOINT_DESCRIPTOR,
    GET_CONFIGURATION,
    GET_DESCRIPTOR,
    INTERFACE_DESCRIPTOR,
    SET_CONFIGURATION,
    SET_INTERFACE,
    ConfigurationFields,
    DeviceFields,
    EndpointFields,
    InterfaceFields,
)
from rig.errors import RigError
from rig.links.usb_link import LinkGone, LinkStall, LinkTimeout, UsbLink, UsbLinkError

_T = TypeVar("_T")

# libusb error codes and messages, as usb.backend.libusb1 reports them.
_LIBUSB_ERRORS: dict[int, tuple[int, str]] = {
    errno.ETIMEDOUT: (-7, "Operation timed out"),
    errno.EPIPE: (-9, "Pipe error"),
    errno.ENODEV: (-4, "No such device (it may have been disconnected)"),
    errno.EOVERFLOW: (-8, "Overflow"),
    errno.EIO: (-1, "Input/Output Error"),
    errno.EINVAL: (-2, "Invalid parameter"),
    errno.ENOENT: (-5, "Entity not found"),
    errno.EBUSY: (-6, "Resource busy"),
}

DESCRIPTOR_TIMEOUT_MS = 1000


class DescriptorError(RigError, usb.core.USBError):  # type: ignore[misc]
    """The device returned descriptor bytes that do not parse (lengths, counts, overruns); a pyusb
    USBError too, since it surfaces through pyusb's calls."""

    def __init__(self, message: str) -> None:
        super().__init__(message, -1, errno.EIO)


def usb_error(exc: UsbLinkError) -> usb.core.USBError:
    """The pyusb exception libusb1's backend would raise for this link failure."""
    if isinstance(exc, LinkTimeout):
        code = errno.ETIMEDOUT
    elif isinstance(exc, LinkStall):
        code = errno.EPIPE
    elif isinstance(exc, LinkGone):
        code = errno.ENODEV
    else:
        code = exc.errno if exc.errno in _LIBUSB_ERRORS else errno.EIO
    libusb_code, text = _LIBUSB_ERRORS[code]
    detail = str(exc.strerror or exc.args[0] if exc.args else "")
    message = f"{text} ({detail})" if detail and detail != text else text
    cls = usb.core.USBTimeoutError if code == errno.ETIMEDOUT else usb.core.USBError
    error: usb.core.USBError = cls(message, libusb_code, code)
    if isinstance(exc, LinkTimeout) and exc.transferred is not None:
        # what libusb reports in `transferred` for a timed-out transfer, and pyusb drops: kept here
        error.transferred = exc.transferred
    return error


def _call(fn: Callable[[], _T]) -> _T:
    try:
        return fn()
    except UsbLinkError as exc:
        raise usb_error(exc) from exc


# --- descriptor objects, with the attribute names usb.core reads --------------------------------


@dataclass
class DeviceDescriptor(DeviceFields):
    """The device descriptor plus the bus facts libusb adds (bus, address, ports, speed)."""

    bus: int = 1
    address: int = 1
    port_number: int = 1
    port_numbers: tuple[int, ...] = (1,)
    speed: int = usb.util.SPEED_FULL


@dataclass
class EndpointDescriptor(EndpointFields):
    """A standard endpoint descriptor (7 or 9 bytes) and the class descriptors that follow it."""

    bRefresh: int = 0
    bSynchAddress: int = 0
    extra_descriptors: list[int] = field(default_factory=list)


@dataclass
class InterfaceDescriptor(InterfaceFields):
    """One alternate setting of an interface, its endpoints and its class descriptors."""

    extra_descriptors: list[int] = field(default_factory=list)
    endpoints: list[EndpointDescriptor] = field(default_factory=list)


@dataclass
class ConfigurationDescriptor(ConfigurationFields):
    """A configuration; interfaces[i] lists interface i's alternate settings in order."""

    extra_descriptors: list[int] = field(default_factory=list)
    interfaces: list[list[InterfaceDescriptor]] = field(default_factory=list)


def parse_device_descriptor(data: bytes) -> DeviceDescriptor:
    """Parse the 18-byte device descriptor; DescriptorError names what is wrong."""
    if len(data) < 18 or data[0] != 18 or data[1] != DT_DEVICE:
        raise DescriptorError(f"device descriptor: expected 18 bytes of type 1, got {bytes(data[:2]).hex()} "
                              f"({len(data)} bytes)")
    return DeviceDescriptor(*DEVICE_DESCRIPTOR.unpack(data[:18]))


def parse_configuration(data: bytes) -> ConfigurationDescriptor:
    """Parse a full configuration descriptor the way libusb does: class-specific descriptors become
    the extra bytes of the configuration, interface or endpoint they follow."""
    if len(data) < 9 or data[1] != DT_CONFIGURATION:
        raise DescriptorError(f"configuration descriptor: expected type 2 and >= 9 bytes, got {len(data)}")
    cfg = ConfigurationDescriptor(*CONFIGURATION_DESCRIPTOR.unpack(data[:9]))
    if cfg.wTotalLength != len(data):
        raise DescriptorError(f"configuration descriptor: wTotalLength {cfg.wTotalLength}, "
                              f"received {len(data)} bytes")
    by_number: dict[int, list[InterfaceDescriptor]] = {}
    extra = cfg.extra_descriptors
    current: InterfaceDescriptor | None = None
    pos = cfg.bLength
    while pos < len(data):
        length = data[pos]
        if length < 2 or pos + length > len(data):
            raise DescriptorError(f"configuration descriptor: bLength {length} at offset {pos} "
                                  f"(total {len(data)})")
        dtype = data[pos + 1]
        chunk = data[pos:pos + length]
        if dtype == DT_INTERFACE and length >= 9:
            current = InterfaceDescriptor(*INTERFACE_DESCRIPTOR.unpack(chunk[:9]))
            by_number.setdefault(current.bInterfaceNumber, []).append(current)
            extra = current.extra_descriptors
        elif dtype == DT_ENDPOINT and length >= 7:
            if current is None:
                raise DescriptorError(f"configuration descriptor: endpoint at offset {pos} before "
                                      f"any interface")
            values = ENDPOINT_DESCRIPTOR.unpack(chunk[:7]) + (tuple(chunk[7:9]) if length >= 9 else ())
            endpoint = EndpointDescriptor(*values)
            current.endpoints.append(endpoint)
            extra = endpoint.extra_descriptors
        else:
            extra.extend(chunk)
        pos += length
    numbers = sorted(by_number)
    if numbers != list(range(cfg.bNumInterfaces)):
        raise DescriptorError(f"configuration descriptor: bNumInterfaces {cfg.bNumInterfaces}, "
                              f"interface numbers found {numbers}")
    for alts in by_number.values():
        for alt in alts:
            if len(alt.endpoints) != alt.bNumEndpoints:
                raise DescriptorError(f"interface {alt.bInterfaceNumber}: bNumEndpoints "
                                      f"{alt.bNumEndpoints}, {len(alt.endpoints)} endpoint descriptors")
    cfg.interfaces = [by_number[n] for n in numbers]
    return cfg


# --- the backend ------------------------------------------------------------------------------


class LinkDevice:
    """pyusb's opaque device id: one link, its place on the virtual bus, its cached descriptors."""

    def __init__(self, link: UsbLink, bus: int, address: int, port: int) -> None:
        self.link = link
        self.bus = bus
        self.address = address
        self.port = port
        self._lock = threading.Lock()
        self._device: DeviceDescriptor | None = None
        self._configs: dict[int, ConfigurationDescriptor] = {}

    def _get(self, dtype: int, index: int, length: int) -> bytes:
        data = _call(lambda: self.link.control(0x80, GET_DESCRIPTOR, (dtype << 8) | index, 0, length,
                                               DESCRIPTOR_TIMEOUT_MS))
        assert isinstance(data, bytes | bytearray)
        return bytes(data)

    def device_descriptor(self, refresh: bool = False) -> DeviceDescriptor:
        """GET_DESCRIPTOR(DEVICE), fetched at enumeration (`refresh`) and cached, as the OS does."""
        with self._lock:
            if self._device is None or refresh:
                desc = parse_device_descriptor(self._get(DT_DEVICE, 0, 18))
                desc.bus, desc.address = self.bus, self.address
                desc.port_number, desc.port_numbers = self.port, (self.port,)
                self._device = desc
            return self._device

    def configuration(self, index: int) -> ConfigurationDescriptor:
        """GET_DESCRIPTOR(CONFIGURATION, index): the 9-byte header, then wTotalLength bytes."""
        with self._lock:
            if index not in self._configs:
                head = self._get(DT_CONFIGURATION, index, 9)
                if len(head) < 4:
                    raise DescriptorError(f"configuration {index}: only {len(head)} bytes")
                (total,) = struct.unpack_from("<H", head, 2)
                self._configs[index] = parse_configuration(self._get(DT_CONFIGURATION, index, total))
            return self._configs[index]


class LinkHandle:
    """An open device: what pyusb passes back to every transfer call."""

    def __init__(self, device: LinkDevice) -> None:
        self.device = device
        self.link = device.link
        self.claimed: set[int] = set()


class LinkBackend(usb.backend.IBackend):  # type: ignore[misc]
    """pyusb backend whose devices are `UsbLink`s: pass as `usb.core.find(backend=...)`."""

    def __init__(self, links: Sequence[UsbLink] | Callable[[], Sequence[UsbLink]], bus: int = 1) -> None:
        """`links` is the devices on this virtual bus, or a callable returning the ones present now."""
        super().__init__()
        self._links = links
        self._bus = bus
        self._devices: dict[int, LinkDevice] = {}

    def _present(self) -> Sequence[UsbLink]:
        return self._links() if callable(self._links) else self._links

    def enumerate_devices(self) -> Iterator[LinkDevice]:
        """Every link that still answers GET_DESCRIPTOR(DEVICE); gone ones are skipped, as by libusb."""
        for position, link in enumerate(self._present()):
            device = self._devices.get(id(link))
            if device is None or device.link is not link:
                device = LinkDevice(link, self._bus, position + 1, position + 1)
                self._devices[id(link)] = device
            try:
                device.device_descriptor(refresh=True)
            except usb.core.USBError:
                continue
            yield device

    def get_parent(self, dev: LinkDevice) -> None:
        """Links hang off a root hub pyusb does not see."""
        return None

    def get_device_descriptor(self, dev: LinkDevice) -> DeviceDescriptor:
        """The cached device descriptor with bus, address, port numbers and speed."""
        return dev.device_descriptor()

    def get_configuration_descriptor(self, dev: LinkDevice, config: int) -> ConfigurationDescriptor:
        """Configuration by index; IndexError past bNumConfigurations, as libusb's NOT_FOUND."""
        if not 0 <= config < dev.device_descriptor().bNumConfigurations:
            raise IndexError(f"configuration index {config} out of range")
        return dev.configuration(config)

    def get_interface_descriptor(self, dev: LinkDevice, intf: int, alt: int,
                                 config: int) -> InterfaceDescriptor:
        """Interface `intf` (index), alternate setting `alt` (index); IndexError when absent."""
        cfg = self.get_configuration_descriptor(dev, config)
        if not 0 <= intf < len(cfg.interfaces):
            raise IndexError(f"interface index {intf} out of range")
        alts = cfg.interfaces[intf]
        if not 0 <= alt < len(alts):
            raise IndexError(f"alternate setting index {alt} out of range")
        return alts[alt]

    def get_endpoint_descriptor(self, dev: LinkDevice, ep: int, intf: int, alt: int,
                                config: int) -> EndpointDescriptor:
        """Endpoint `ep` (index) of an interface's alternate setting; IndexError when absent."""
        endpoints = self.get_interface_descriptor(dev, intf, alt, config).endpoints
        if not 0 <= ep < len(endpoints):
            raise IndexError(f"endpoint index {ep} out of range")
        return endpoints[ep]

    def open_device(self, dev: LinkDevice) -> LinkHandle:
        """A handle; fails with ENODEV when the link is gone."""
        dev.device_descriptor()
        return LinkHandle(dev)

    def close_device(self, dev_handle: LinkHandle) -> None:
        """Nothing to release on the link itself (the link's owner closes it)."""
        dev_handle.claimed.clear()

    def set_configuration(self, dev_handle: LinkHandle, config_value: int) -> None:
        """SET_CONFIGURATION as a standard control request."""
        _call(lambda: dev_handle.link.control(0x00, SET_CONFIGURATION, config_value, 0, b"",
                                              DESCRIPTOR_TIMEOUT_MS))

    def get_configuration(self, dev_handle: LinkHandle) -> int:
        """GET_CONFIGURATION as a standard control request."""
        data = _call(lambda: dev_handle.link.control(0x80, GET_CONFIGURATION, 0, 0, 1, DESCRIPTOR_TIMEOUT_MS))
        assert isinstance(data, bytes | bytearray)
        if len(data) != 1:
            raise usb.core.USBError(f"GET_CONFIGURATION returned {len(data)} bytes", -1, errno.EIO)
        return data[0]

    def set_interface_altsetting(self, dev_handle: LinkHandle, intf: int, altsetting: int) -> None:
        """SET_INTERFACE as a standard control request (recipient interface)."""
        _call(lambda: dev_handle.link.control(0x01, SET_INTERFACE, altsetting, intf, b"",
                                              DESCRIPTOR_TIMEOUT_MS))

    def claim_interface(self, dev_handle: LinkHandle, intf: int) -> None:
        """Host-side bookkeeping; fails with EBUSY, as libusb does, while an OS driver holds `intf`."""
        if self.is_kernel_driver_active(dev_handle, intf):
            raise usb_error(UsbLinkError(errno.EBUSY, f"interface {intf} is held by an OS driver; "
                                                      f"detach_kernel_driver({intf}) first"))
        dev_handle.claimed.add(intf)

    def release_interface(self, dev_handle: LinkHandle, intf: int) -> None:
        """Host-side bookkeeping, as claim_interface."""
        dev_handle.claimed.discard(intf)

    @staticmethod
    def send(dev_handle: LinkHandle, ep: int, payload: bytes, timeout: int) -> int:
        """Bulk or interrupt OUT of `payload` through the link; USBTimeoutError while the device NAKs
        past `timeout` ms. (The recording backend calls this with the bytes it logs, copied once.)"""
        return int(_call(lambda: dev_handle.link.write(ep, payload, timeout)))

    @staticmethod
    def receive(dev_handle: LinkHandle, ep: int, buff: array.array[int], timeout: int) -> bytes:
        """Bulk or interrupt IN into `buff`; returns what the link delivered, which `buff` now starts
        with. (The recording backend logs that very object: no second copy.)"""
        view = memoryview(buff).cast("B")
        data = _call(lambda: dev_handle.link.read(ep, len(view), timeout))
        if len(data) > len(view):
            raise usb.core.USBError("Overflow", -8, errno.EOVERFLOW)
        view[:len(data)] = data
        return data

    def bulk_write(self, dev_handle: LinkHandle, ep: int, intf: int, data: array.array[int],
                   timeout: int) -> int:
        """Bulk OUT through the link; USBTimeoutError while the device NAKs past `timeout` ms."""
        return self.send(dev_handle, ep, data.tobytes(), timeout)

    def bulk_read(self, dev_handle: LinkHandle, ep: int, intf: int, buff: array.array[int],
                  timeout: int) -> int:
        """Bulk IN into `buff`; returns the bytes read."""
        return len(self.receive(dev_handle, ep, buff, timeout))

    def intr_write(self, dev_handle: LinkHandle, ep: int, intf: int, data: array.array[int],
                   timeout: int) -> int:
        """Interrupt OUT: on a link the same as bulk."""
        return self.send(dev_handle, ep, data.tobytes(), timeout)

    def intr_read(self, dev_handle: LinkHandle, ep: int, intf: int, buff: array.array[int],
                  timeout: int) -> int:
        """Interrupt IN: on a link the same as bulk."""
        return len(self.receive(dev_handle, ep, buff, timeout))

    def ctrl_transfer(self, dev_handle: LinkHandle, bmRequestType: int, bRequest: int, wValue: int,
                      wIndex: int, data: array.array[int], timeout: int) -> int:
        """Control transfer: IN fills `data` and returns its length, OUT returns the bytes sent."""
        if bmRequestType & 0x80:
            view = memoryview(data).cast("B")
            result = _call(lambda: dev_handle.link.control(bmRequestType, bRequest, wValue, wIndex,
                                                           len(view), timeout))
            assert isinstance(result, bytes | bytearray)
            if len(result) > len(view):
                raise usb.core.USBError("Overflow", -8, errno.EOVERFLOW)
            view[:len(result)] = result
            return len(result)
        payload = data.tobytes()
        return int(_call(lambda: dev_handle.link.control(bmRequestType, bRequest, wValue, wIndex,
                                                          payload, timeout)))

    def clear_halt(self, dev_handle: LinkHandle, ep: int) -> None:
        """CLEAR_FEATURE(ENDPOINT_HALT) through the link."""
        _call(lambda: dev_handle.link.clear_halt(ep))

    def reset_device(self, dev_handle: LinkHandle) -> None:
        """Bus reset: the device comes back unconfigured."""
        _call(dev_handle.link.reset)

    def is_kernel_driver_active(self, dev_handle: LinkHandle, intf: int) -> bool:
        """Asks the link (a link without `kernel_driver_active` has no OS drivers)."""
        probe = getattr(dev_handle.link, "kernel_driver_active", None)
        return bool(_call(lambda: probe(intf))) if probe is not None else False

    def detach_kernel_driver(self, dev_handle: LinkHandle, intf: int) -> None:
        """Detach the link's OS driver from `intf`; ENOENT (libusb NOT_FOUND) when there is none."""
        detach = getattr(dev_handle.link, "detach_kernel_driver", None)
        if detach is None:
            raise usb_error(UsbLinkError(errno.ENOENT, f"no OS driver on interface {intf}"))
        _call(lambda: detach(intf))

    def attach_kernel_driver(self, dev_handle: LinkHandle, intf: int) -> None:
        """Give `intf` back to the link's OS driver."""
        attach = getattr(dev_handle.link, "attach_kernel_driver", None)
        if attach is None:
            raise usb_error(UsbLinkError(errno.ENOENT, f"no OS driver for interface {intf}"))
        _call(lambda: attach(intf))


def find_link_devices(backend: LinkBackend, **match: Any) -> list[usb.core.Device]:
    """`usb.core.find(find_all=True, backend=backend, **match)` as a list."""
    return list(usb.core.find(find_all=True, backend=backend, **match))


def cancel_reads(device: usb.core.Device, endpoint: int) -> bool:
    """End the reads waiting on IN `endpoint` of `device` at once (LinkCancelled, a pyusb timeout
    above) when it lives on a LinkBackend whose link can cancel them (both of ours); False when it
    cannot (libusb through pyusb: a synchronous read runs to its timeout)."""
    found = getattr(getattr(device, "_ctx", None), "dev", None)
    cancel = getattr(found.link, "cancel_reads", None) if isinstance(found, LinkDevice) else None
    if cancel is None:
        return False
    _call(lambda: cancel(endpoint))
    return True

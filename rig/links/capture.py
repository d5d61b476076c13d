"""Recording every USB transfer the rig makes as a pcapng file Wireshark decodes (usbmon format).

`UsbCapture` owns the file; `record_device` swaps a pyusb device's backend (the link backend of the
loopback and the emulator, libusb1's for a board: the seam every target shares) for a
`RecordingBackend` that passes each call on and records the transfer as a Submit/Complete pair:
OUT data in the submit, IN data in the completion, a STALL as -EPIPE and a timeout as -ECONNRESET
(the URB libusb cancels). When recording starts after enumeration, the device and configuration
descriptor exchanges and SET_CONFIGURATION are written first, synthesised from the descriptors the
backend parsed and marked so by a comment, because Wireshark only decodes USB-MIDI on endpoints it
has seen described. Capture off costs nothing: without `record_device` no proxy exists.
"""

from __future__ import annotations

import array
import errno
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import usb.backend
import usb.core

from rig.links import usbmon
from rig.links.descriptor_bytes import configuration_bytes, device_descriptor_bytes, endpoint_intervals
from rig.links.pcapng import PcapngWriter, SectionInfo
from rig.links.usbmon import UrbEvent, setup_packet

SYNTHESISED_NOTE = ("synthesised: recording started after enumeration; GET_DESCRIPTOR(DEVICE), "
                    "GET_DESCRIPTOR(CONFIGURATION) and SET_CONFIGURATION rebuilt from the device's "
                    "descriptors so the decoder knows its interfaces")
SNAPLEN = 0x40000
GET_DESCRIPTOR = 6
SET_CONFIGURATION = 9
SET_INTERFACE = 11
CLEAR_FEATURE = 1
ENDPOINT_HALT = 0


def status_of(exc: BaseException) -> int:
    """The usbmon completion status for a failed transfer, from the exception pyusb raised."""
    if isinstance(exc, usb.core.USBTimeoutError):
        return usbmon.STATUS_CANCELLED
    code = getattr(exc, "errno", None)
    return {errno.EPIPE: usbmon.STATUS_STALL, errno.ETIMEDOUT: usbmon.STATUS_CANCELLED,
            errno.ENODEV: usbmon.STATUS_GONE, errno.EOVERFLOW: usbmon.STATUS_OVERFLOW}.get(
        code if isinstance(code, int) else -1, usbmon.STATUS_PROTOCOL)


class UsbCapture:
    """One pcapng file of usbmon events: where each recorded device sits in it, time stamps and step
    marks (comments on the first packet after `mark`)."""

    def __init__(self, path: Path | str, section: SectionInfo | None = None, *,
                 ring_bytes: int | None = None) -> None:
        self.writer = PcapngWriter(path, section or SectionInfo(), ring_bytes=ring_bytes)
        self.path = self.writer.path
        self._interfaces: dict[int, int] = {}
        self._places: dict[int, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._pending: str | None = None
        self._wall0 = time.time_ns()
        self._perf0 = time.perf_counter_ns()
        self.events = 0
        """usbmon events written (submits and completions)."""

    def now_ns(self) -> int:
        """Wall-clock nanoseconds, advanced by the performance counter (fine-grained and monotonic)."""
        return self._wall0 + time.perf_counter_ns() - self._perf0

    def place(self, key: object, bus: int, address: int) -> Placement:
        """Where device `key` (at `bus`/`address` on its own backend) appears in this file: the same
        bus and address unless another recorded device already has them (two targets on one virtual
        bus 1), then the next free bus. Each bus is one pcapng interface, as usbmonN."""
        with self._lock:
            taken = {where for k, where in self._places.items() if k != id(key)}
            if (bus, address) in taken:
                bus = max(b for b, _ in taken) + 1
            self._places[id(key)] = (bus, address)
            if bus not in self._interfaces:
                self._interfaces[bus] = self.writer.add_interface(
                    usbmon.LINKTYPE_USB_LINUX_MMAPPED, snaplen=SNAPLEN, name=f"usbmon{bus}",
                    description=f"USB bus {bus} as the rig's pyusb backend saw it")
            return Placement(self, self._interfaces[bus], bus, address)

    def mark(self, text: str) -> None:
        """Put `text` as a comment on the next packet written (the first of a test step)."""
        with self._lock:
            self._pending = text if self._pending is None else f"{self._pending} | {text}"

    def write(self, interface: int, timestamp_ns: int, packet: bytes, *, comment: str | None = None,
              preamble: bool = False) -> None:
        """One usbmon event as a packet, carrying a pending mark (and `comment`) if there is one."""
        with self._lock:
            pending, self._pending = self._pending, None
            self.events += 1
        text = "\n".join(t for t in (comment, pending) if t) or None
        self.writer.write_packet(interface, timestamp_ns, packet, comment=text, preamble=preamble)

    def flush(self) -> None:
        """Everything recorded so far on disk."""
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the file; safe to call twice."""
        self.writer.close()


@dataclass(frozen=True)
class Placement:
    """One recorded device in one capture: the capture, its interface there, its bus and address."""

    capture: UsbCapture
    interface: int
    bus: int
    address: int

    def emit(self, urb_id: int, kind: bytes, xfer: int, ep: int, status: int, urb_len: int, data: bytes,
             setup: bytes | None, interval: int, *, comment: str | None = None,
             preamble: bool = False) -> None:
        """Write one usbmon event of this device."""
        stamp = self.capture.now_ns()
        event = UrbEvent(urb_id, kind, xfer, ep, self.address, self.bus, stamp, status, urb_len, data, setup,
                         interval)
        self.capture.write(self.interface, stamp, event.pack(), comment=comment, preamble=preamble)


class RecordingBackend(usb.backend.IBackend):  # type: ignore[misc]
    """A pyusb backend that passes every call to `inner` and records the transfers of one device into
    each of its captures (`placements`). Handles and device ids are `inner`'s, untouched."""

    def __init__(self, inner: Any, intervals: dict[int, int] | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.placements: tuple[Placement, ...] = ()
        self._intervals = intervals or {}
        self._urb_ids = itertools.count(1)

    def __eq__(self, other: object) -> bool:
        # pyusb compares and hashes devices by backend: a recorded device stays the same device.
        return other is self or other == self.inner

    def __hash__(self) -> int:
        return hash(self.inner)

    # --- recording ---

    def _emit(self, urb_id: int, kind: bytes, xfer: int, ep: int, status: int, urb_len: int,
              data: bytes = b"", setup: bytes | None = None) -> None:
        interval = self._intervals.get(ep, 0) if xfer == usbmon.INTERRUPT else 0
        for place in self.placements:
            place.emit(urb_id, kind, xfer, ep, status, urb_len, data, setup, interval)

    def _record(self, xfer: int, ep: int, out: bytes | None, length: int, setup: bytes | None,
                call: Callable[[], int], received: Callable[[int], bytes]) -> int:
        """Submit, run `call`, Complete: `out` is the OUT data (None for IN), `length` the URB's
        buffer length, `received(n)` the first n bytes read (IN)."""
        urb = next(self._urb_ids)
        self._emit(urb, usbmon.SUBMIT, xfer, ep, usbmon.STATUS_IN_PROGRESS, length, out or b"", setup)
        try:
            n = call()
        except BaseException as exc:
            self._emit(urb, usbmon.COMPLETE, xfer, ep, status_of(exc), 0)
            raise
        self._emit(urb, usbmon.COMPLETE, xfer, ep, usbmon.STATUS_OK, n, received(n) if out is None else b"")
        return n

    def _write(self, xfer: int, fn: Callable[..., int], handle: Any, ep: int, intf: int,
               data: array.array[int], timeout: int) -> int:
        payload = data.tobytes()
        return self._record(xfer, ep & 0x7F, payload, len(payload), None,
                            lambda: int(fn(handle, ep, intf, data, timeout)), lambda n: b"")

    def _read(self, xfer: int, fn: Callable[..., int], handle: Any, ep: int, intf: int,
              buff: array.array[int], timeout: int) -> int:
        view = memoryview(buff).cast("B")
        return self._record(xfer, ep | 0x80, None, len(view), None,
                            lambda: int(fn(handle, ep, intf, buff, timeout)), lambda n: bytes(view[:n]))

    def _control(self, bm: int, request: int, value: int, index: int, out: bytes | None, length: int,
                 call: Callable[[], int], received: Callable[[int], bytes]) -> int:
        ep = 0x80 if bm & 0x80 else 0x00
        return self._record(usbmon.CONTROL, ep, out, length, setup_packet(bm, request, value, index, length),
                            call, received)

    def add(self, place: Placement, dev: Any) -> None:
        """Record into `place` too, starting with the exchanges a decoder needs before any other
        traffic, rebuilt from `inner`'s descriptors and marked as synthesised: GET_DESCRIPTOR(DEVICE),
        GET_DESCRIPTOR(CONFIGURATION) (9 bytes, then all of it) and SET_CONFIGURATION."""
        device = device_descriptor_bytes(self.inner.get_device_descriptor(dev))
        config = configuration_bytes(self.inner, dev, 0)
        exchanges = [(0x80, GET_DESCRIPTOR, 0x0100, device), (0x80, GET_DESCRIPTOR, 0x0200, config[:9]),
                     (0x80, GET_DESCRIPTOR, 0x0200, config), (0x00, SET_CONFIGURATION, config[5], b"")]
        note: str | None = SYNTHESISED_NOTE
        for bm, request, value, answer in exchanges:
            ep = bm & 0x80
            setup = setup_packet(bm, request, value, 0, len(answer))
            urb = next(self._urb_ids)
            place.emit(urb, usbmon.SUBMIT, usbmon.CONTROL, ep, usbmon.STATUS_IN_PROGRESS, len(answer), b"",
                       setup, 0, comment=note, preamble=True)
            place.emit(urb, usbmon.COMPLETE, usbmon.CONTROL, ep, usbmon.STATUS_OK, len(answer), answer, None,
                       0, preamble=True)
            note = None
        self.placements = (*self.placements, place)

    def remove(self, capture: UsbCapture) -> None:
        """Stop recording into `capture`."""
        self.placements = tuple(p for p in self.placements if p.capture is not capture)

    # --- transfers, recorded ---

    def bulk_write(self, dev_handle: Any, ep: int, intf: int, data: array.array[int], timeout: int) -> int:
        """Bulk OUT, recorded."""
        return self._write(usbmon.BULK, self.inner.bulk_write, dev_handle, ep, intf, data, timeout)

    def bulk_read(self, dev_handle: Any, ep: int, intf: int, buff: array.array[int], timeout: int) -> int:
        """Bulk IN, recorded."""
        return self._read(usbmon.BULK, self.inner.bulk_read, dev_handle, ep, intf, buff, timeout)

    def intr_write(self, dev_handle: Any, ep: int, intf: int, data: array.array[int], timeout: int) -> int:
        """Interrupt OUT, recorded."""
        return self._write(usbmon.INTERRUPT, self.inner.intr_write, dev_handle, ep, intf, data, timeout)

    def intr_read(self, dev_handle: Any, ep: int, intf: int, buff: array.array[int], timeout: int) -> int:
        """Interrupt IN, recorded."""
        return self._read(usbmon.INTERRUPT, self.inner.intr_read, dev_handle, ep, intf, buff, timeout)

    def ctrl_transfer(self, dev_handle: Any, bmRequestType: int, bRequest: int, wValue: int, wIndex: int,
                      data: array.array[int], timeout: int) -> int:
        """A control transfer, recorded with its SETUP stage."""
        def call() -> int:
            return int(self.inner.ctrl_transfer(dev_handle, bmRequestType, bRequest, wValue, wIndex, data,
                                                timeout))
        if bmRequestType & 0x80:
            view = memoryview(data).cast("B")
            return self._control(bmRequestType, bRequest, wValue, wIndex, None, len(view), call,
                                 lambda n: bytes(view[:n]))
        payload = data.tobytes()
        return self._control(bmRequestType, bRequest, wValue, wIndex, payload, len(payload), call,
                             lambda n: b"")

    def set_configuration(self, dev_handle: Any, config_value: int) -> None:
        """SET_CONFIGURATION, recorded as the control transfer it is."""
        self._control(0x00, SET_CONFIGURATION, config_value, 0, b"", 0,
                      lambda: self.inner.set_configuration(dev_handle, config_value) or 0, lambda n: b"")

    def set_interface_altsetting(self, dev_handle: Any, intf: int, altsetting: int) -> None:
        """SET_INTERFACE, recorded as the control transfer it is."""
        self._control(0x01, SET_INTERFACE, altsetting, intf, b"", 0,
                      lambda: self.inner.set_interface_altsetting(dev_handle, intf, altsetting) or 0,
                      lambda n: b"")

    def clear_halt(self, dev_handle: Any, ep: int) -> None:
        """CLEAR_FEATURE(ENDPOINT_HALT), recorded as the control transfer it is."""
        self._control(0x02, CLEAR_FEATURE, ENDPOINT_HALT, ep, b"", 0,
                      lambda: self.inner.clear_halt(dev_handle, ep) or 0, lambda n: b"")

    # --- everything else, passed on ---

    def enumerate_devices(self) -> Any:
        return self.inner.enumerate_devices()

    def get_parent(self, dev: Any) -> Any:
        return self.inner.get_parent(dev)

    def get_device_descriptor(self, dev: Any) -> Any:
        return self.inner.get_device_descriptor(dev)

    def get_configuration_descriptor(self, dev: Any, config: int) -> Any:
        return self.inner.get_configuration_descriptor(dev, config)

    def get_interface_descriptor(self, dev: Any, intf: int, alt: int, config: int) -> Any:
        return self.inner.get_interface_descriptor(dev, intf, alt, config)

    def get_endpoint_descriptor(self, dev: Any, ep: int, intf: int, alt: int, config: int) -> Any:
        return self.inner.get_endpoint_descriptor(dev, ep, intf, alt, config)

    def open_device(self, dev: Any) -> Any:
        return self.inner.open_device(dev)

    def close_device(self, dev_handle: Any) -> None:
        self.inner.close_device(dev_handle)

    def get_configuration(self, dev_handle: Any) -> int:
        return int(self.inner.get_configuration(dev_handle))

    def claim_interface(self, dev_handle: Any, intf: int) -> None:
        self.inner.claim_interface(dev_handle, intf)

    def release_interface(self, dev_handle: Any, intf: int) -> None:
        self.inner.release_interface(dev_handle, intf)

    def iso_write(self, dev_handle: Any, ep: int, intf: int, data: Any, timeout: int) -> int:
        return int(self.inner.iso_write(dev_handle, ep, intf, data, timeout))

    def iso_read(self, dev_handle: Any, ep: int, intf: int, size: Any, timeout: int) -> int:
        return int(self.inner.iso_read(dev_handle, ep, intf, size, timeout))

    def reset_device(self, dev_handle: Any) -> None:
        self.inner.reset_device(dev_handle)

    def is_kernel_driver_active(self, dev_handle: Any, intf: int) -> bool:
        return bool(self.inner.is_kernel_driver_active(dev_handle, intf))

    def detach_kernel_driver(self, dev_handle: Any, intf: int) -> None:
        self.inner.detach_kernel_driver(dev_handle, intf)

    def attach_kernel_driver(self, dev_handle: Any, intf: int) -> None:
        self.inner.attach_kernel_driver(dev_handle, intf)


def record_device(device: usb.core.Device, capture: UsbCapture) -> Placement:
    """Start recording `device`'s transfers into `capture` (also when it is already recorded into
    another): the synthesised enumeration first, then every transfer made through this pyusb device
    object. Undo with `stop_recording`."""
    ctx = device._ctx
    with ctx.lock:
        proxy = ctx.backend
        if not isinstance(proxy, RecordingBackend):
            proxy = RecordingBackend(proxy, endpoint_intervals(proxy, ctx.dev, 0))
        if any(p.capture is capture for p in proxy.placements):
            raise ValueError(f"device {device.bus}/{device.address} is already recorded into {capture.path}")
        place = capture.place(device, device.bus, device.address)
        proxy.add(place, ctx.dev)
        ctx.backend = proxy
    return place


def stop_recording(device: usb.core.Device, capture: UsbCapture | None = None) -> None:
    """Stop recording `device` into `capture` (None: into every capture); when no capture is left the
    device gets its own backend back, so recording off costs nothing."""
    ctx = device._ctx
    with ctx.lock:
        proxy = ctx.backend
        if not isinstance(proxy, RecordingBackend):
            return
        if capture is None:
            proxy.placements = ()
        else:
            proxy.remove(capture)
        if not proxy.placements:
            ctx.backend = proxy.inner


def recordings_of(device: usb.core.Device) -> list[UsbCapture]:
    """The captures `device` is recorded into (empty when it is not recorded)."""
    backend = device._ctx.backend
    return [p.capture for p in backend.placements] if isinstance(backend, RecordingBackend) else []

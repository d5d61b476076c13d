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
    """One pcapng file of usbmon events: URB ids, time stamps, step marks (comments on the first
    packet after `mark`), and the devices recorded into it."""

    def __init__(self, path: Path | str, section: SectionInfo | None = None, *,
                 ring_bytes: int | None = None) -> None:
        self.writer = PcapngWriter(path, section or SectionInfo(), ring_bytes=ring_bytes)
        self.path = self.writer.path
        self._interfaces: dict[int, int] = {}
        self._urb_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pending: str | None = None
        self._wall0 = time.time_ns()
        self._perf0 = time.perf_counter_ns()
        self.events = 0
        """usbmon events written (submits and completions)."""

    def now_ns(self) -> int:
        """Wall-clock nanoseconds, advanced by the performance counter (fine-grained and monotonic)."""
        return self._wall0 + time.perf_counter_ns() - self._perf0

    def interface(self, bus: int) -> int:
        """The pcapng interface of USB bus `bus` (one per bus, as usbmonN), added on first use."""
        with self._lock:
            if bus not in self._interfaces:
                self._interfaces[bus] = self.writer.add_interface(
                    usbmon.LINKTYPE_USB_LINUX_MMAPPED, snaplen=SNAPLEN, name=f"usbmon{bus}",
                    description=f"USB bus {bus} as the rig's pyusb backend saw it")
            return self._interfaces[bus]

    def mark(self, text: str) -> None:
        """Put `text` as a comment on the next packet written (the first of a test step)."""
        with self._lock:
            self._pending = text if self._pending is None else f"{self._pending} | {text}"

    def next_urb_id(self) -> int:
        return next(self._urb_ids)

    def write(self, interface: int, event: UrbEvent, *, comment: str | None = None,
              preamble: bool = False) -> None:
        """One usbmon event as a packet, carrying a pending mark (and `comment`) if there is one."""
        with self._lock:
            pending, self._pending = self._pending, None
            self.events += 1
        text = "\n".join(t for t in (comment, pending) if t) or None
        self.writer.write_packet(interface, event.timestamp_ns, event.pack(), comment=text, preamble=preamble)

    def flush(self) -> None:
        """Everything recorded so far on disk."""
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the file; safe to call twice."""
        self.writer.close()


class RecordingBackend(usb.backend.IBackend):  # type: ignore[misc]
    """A pyusb backend that passes every call to `inner` and records the transfers of one device
    (at `bus`/`address`) into `capture`. Handles and device ids are `inner`'s, untouched."""

    def __init__(self, inner: Any, capture: UsbCapture, bus: int, address: int,
                 intervals: dict[int, int] | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.capture = capture
        self.bus = bus
        self.address = address
        self._intervals = intervals or {}
        self._interface = capture.interface(bus)

    def __eq__(self, other: object) -> bool:
        # pyusb compares and hashes devices by backend: a recorded device stays the same device.
        return other is self or other == self.inner

    def __hash__(self) -> int:
        return hash(self.inner)

    # --- recording ---

    def _emit(self, urb_id: int, kind: bytes, xfer: int, ep: int, status: int, urb_len: int,
              data: bytes = b"", setup: bytes | None = None, *, comment: str | None = None,
              preamble: bool = False) -> None:
        interval = self._intervals.get(ep, 0) if xfer == usbmon.INTERRUPT else 0
        event = UrbEvent(urb_id, kind, xfer, ep, self.address, self.bus, self.capture.now_ns(), status,
                         urb_len, data, setup, interval)
        self.capture.write(self._interface, event, comment=comment, preamble=preamble)

    def _record(self, xfer: int, ep: int, out: bytes | None, length: int, setup: bytes | None,
                call: Callable[[], int], received: Callable[[int], bytes]) -> int:
        """Submit, run `call`, Complete: `out` is the OUT data (None for IN), `length` the URB's
        buffer length, `received(n)` the first n bytes read (IN)."""
        urb = self.capture.next_urb_id()
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

    def record_enumeration(self, dev: Any) -> None:
        """Write the exchanges a decoder needs before any other traffic, rebuilt from `inner`'s
        descriptors and marked as synthesised: GET_DESCRIPTOR(DEVICE), GET_DESCRIPTOR(CONFIGURATION)
        (9 bytes, then all of it) and SET_CONFIGURATION."""
        device = device_descriptor_bytes(self.inner.get_device_descriptor(dev))
        config = configuration_bytes(self.inner, dev, 0)
        exchanges = [(0x80, GET_DESCRIPTOR, 0x0100, device), (0x80, GET_DESCRIPTOR, 0x0200, config[:9]),
                     (0x80, GET_DESCRIPTOR, 0x0200, config), (0x00, SET_CONFIGURATION, config[5], b"")]
        note: str | None = SYNTHESISED_NOTE
        for bm, request, value, answer in exchanges:
            ep = bm & 0x80
            length = len(answer)
            setup = setup_packet(bm, request, value, 0, length)
            urb = self.capture.next_urb_id()
            self._emit(urb, usbmon.SUBMIT, usbmon.CONTROL, ep, usbmon.STATUS_IN_PROGRESS, length, b"", setup,
                       comment=note, preamble=True)
            self._emit(urb, usbmon.COMPLETE, usbmon.CONTROL, ep, usbmon.STATUS_OK, length, answer,
                       preamble=True)
            note = None

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


def record_device(device: usb.core.Device, capture: UsbCapture) -> RecordingBackend:
    """Start recording `device`'s transfers into `capture`: the synthesised enumeration first, then
    every transfer made through this pyusb device object. Undo with `stop_recording`."""
    ctx = device._ctx
    inner = ctx.backend
    if isinstance(inner, RecordingBackend):
        raise ValueError(f"device {device.bus}/{device.address} is already being recorded into "
                         f"{inner.capture.path}")
    proxy = RecordingBackend(inner, capture, device.bus, device.address,
                             endpoint_intervals(inner, ctx.dev, 0))
    proxy.record_enumeration(ctx.dev)
    with ctx.lock:
        ctx.backend = proxy
    return proxy


def stop_recording(device: usb.core.Device) -> None:
    """Give `device` its own backend back (nothing when it is not being recorded)."""
    ctx = device._ctx
    with ctx.lock:
        if isinstance(ctx.backend, RecordingBackend):
            ctx.backend = ctx.backend.inner


def recording_of(device: usb.core.Device) -> UsbCapture | None:
    """The capture `device` is recorded into, if any."""
    backend = device._ctx.backend
    return backend.capture if isinstance(backend, RecordingBackend) else None

"""Recording every USB transfer the rig makes, at the seam every target shares: a pyusb backend proxy.

`record_device` swaps a pyusb device's backend (the link backend of the loopback and the emulator,
libusb1's for a board) for a `RecordingBackend` that passes each call on and logs the transfer as a
usbmon Submit/Complete pair into its captures (rig.links.capture): OUT data in the submit, IN data
in the completion, a STALL as -EPIPE and a timeout as -ECONNRESET (the URB libusb cancels). When
recording starts after enumeration, the device and configuration descriptor exchanges and
SET_CONFIGURATION go first, synthesised from the descriptors the backend parsed and marked so by a
comment, because Wireshark only decodes USB-MIDI on endpoints it has seen described. Recording off
costs nothing: `stop_recording` gives the device its own backend back. Behind a link backend (the
loopback, the emulator) a recorded transfer calls the link's send/receive in place of the backend's
bulk/interrupt method, so recording adds no call, and logs the bytes objects the backend makes anyway
(measured: an added call alone cost ~2.5 % of the loopback's round trip p50, a copy more). Recording
into one capture, those link transfers are builtins from the capture's C library
(capture_recorder.c via capture_native), which do what the Python closures here do, without
their interpreter cost; the closures remain for teeing into several captures, for backends that are
no link, and where the library is not built.
"""

from __future__ import annotations

import array
import errno
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any, cast

import usb.backend
import usb.core

from rig.links import capture_native, usbmon
from rig.links.capture import ENTRY_BYTES, Entry, Placement, UsbCapture
from rig.links.capture_blocks import control_where, entry_code
from rig.links.descriptor_bytes import configuration_bytes, device_descriptor_bytes, endpoint_intervals
from rig.links.pyusb_backend import LinkBackend

SYNTHESISED_NOTE = ("synthesised: recording started after enumeration; GET_DESCRIPTOR(DEVICE), "
                    "GET_DESCRIPTOR(CONFIGURATION) and SET_CONFIGURATION rebuilt from the device's "
                    "descriptors so the decoder knows its interfaces")
GET_DESCRIPTOR = 6
SET_CONFIGURATION = 9
SET_INTERFACE = 11
CLEAR_FEATURE = 1
ENDPOINT_HALT = 0
_S, _C = usbmon.SUBMIT, usbmon.COMPLETE
_IN_PROGRESS, _OK = usbmon.STATUS_IN_PROGRESS, usbmon.STATUS_OK
_STATUS_BY_ERRNO = {errno.EPIPE: usbmon.STATUS_STALL, errno.ETIMEDOUT: usbmon.STATUS_CANCELLED,
                    errno.ENODEV: usbmon.STATUS_GONE, errno.EOVERFLOW: usbmon.STATUS_OVERFLOW}

Transfer = Callable[[Any, int, int, "array.array[int]", int], int]
"""An IBackend bulk or interrupt transfer: (handle, endpoint, interface, data or buffer, timeout)."""


def status_of(exc: BaseException) -> int:
    """The usbmon completion status for a failed transfer, from the exception pyusb raised."""
    if isinstance(exc, usb.core.USBTimeoutError):
        return usbmon.STATUS_CANCELLED
    code = getattr(exc, "errno", None)
    return _STATUS_BY_ERRNO.get(code if isinstance(code, int) else -1, usbmon.STATUS_PROTOCOL)


def _received(buff: array.array[int], n: int) -> bytes:
    """The first `n` bytes of an IN buffer of any item size, copied."""
    return memoryview(buff).cast("B")[:n].tobytes()


class _Recorders:
    """The recorded bulk and interrupt transfers of one proxy for its current captures: closures over
    everything they need (no bound method, no attribute look-ups on a transfer's path), sharing the
    count of bytes the proxy may still log before it encodes the logs."""

    def __init__(self, placements: tuple[Placement, ...], inner: Any) -> None:
        sinks = [(p.key << 3, p.capture.log.extend, p.capture) for p in placements]
        first_log = placements[0].capture.log if placements else []
        # Link transfers are recorded in C into a single capture (teeing stays in Python).
        recorder = capture_native.RECORDER if len(placements) == 1 else None
        first_extend = sinks[0][1] if sinks else _nowhere
        captures = [capture for _, _, capture in sinks]
        budget = min((c.log_budget for c in captures), default=0)
        # Bytes the logs may still take before they are encoded (shared with the C recorders).
        room = array.array("q", [budget])
        clock = perf_counter_ns
        extend: Callable[[Entry], None]
        if len(sinks) > 1:
            def extend(entry: Entry) -> None:
                """Log `entry` (made with the first capture's key) into every capture as itself."""
                first_extend(entry)
                rest = entry[1:]
                for base, other_extend, _ in sinks[1:]:
                    other_extend((base | entry[0] & 7, *rest))
        else:
            extend = first_extend

        def spill() -> None:
            """The logs hold `budget` bytes: encode them (the one slow step on a transfer's path)."""
            room[0] = budget
            for capture in captures:
                capture.encode_log()

        def charge(nbytes: int) -> None:
            """Count a transfer logged outside the closures below (control transfers)."""
            room[0] -= nbytes + ENTRY_BYTES
            if room[0] < 0:
                spill()

        def failed(code: int) -> Callable[[BaseException, int, int, int, bytes | None], None]:
            """What a C recorder calls when its transfer raised: log it with its usbmon status."""
            def log_failure(exc: BaseException, t0: int, ep: int, urb_len: int, data: bytes | None) -> None:
                extend((code, t0, clock(), ep, urb_len, status_of(exc), data or b""))
                charge(len(data or b""))
            return log_failure

        def recorded_out(xfer: int, inner_write: Transfer) -> Transfer:
            code = entry_code(placements[0].key if placements else 0, xfer, False)

            def write(dev_handle: Any, ep: int, intf: int, data: array.array[int], timeout: int) -> int:
                t0 = clock()
                try:
                    n = inner_write(dev_handle, ep, intf, data, timeout)
                except BaseException as exc:
                    extend((code, t0, clock(), ep, 0, status_of(exc), data.tobytes()))
                    charge(len(data) * data.itemsize)
                    raise
                extend((code, t0, clock(), ep, 0, n, data.tobytes()))
                room[0] -= n + ENTRY_BYTES
                if room[0] < 0:
                    spill()
                return n

            return write

        def recorded_in(xfer: int, inner_read: Transfer) -> Transfer:
            code = entry_code(placements[0].key if placements else 0, xfer, True)

            def read(dev_handle: Any, ep: int, intf: int, buff: array.array[int], timeout: int) -> int:
                t0 = clock()
                try:
                    n = inner_read(dev_handle, ep, intf, buff, timeout)
                except BaseException as exc:
                    extend((code, t0, clock(), ep, len(buff) * buff.itemsize, status_of(exc), b""))
                    charge(0)
                    raise
                if buff.itemsize == 1:
                    extend((code, t0, clock(), ep, len(buff), n, buff[:n].tobytes()))
                else:
                    extend((code, t0, clock(), ep, len(buff) * buff.itemsize, n, _received(buff, n)))
                room[0] -= n + ENTRY_BYTES
                if room[0] < 0:
                    spill()
                return n

            return read

        def sent_on_link(xfer: int, send: Callable[[Any, int, bytes, int], int]) -> Transfer:
            """As recorded_out for a link backend: its own copy of the data is the one logged, and
            its write path is called one frame further down, so recording adds no call; in C when
            there is one capture."""
            code = entry_code(placements[0].key if placements else 0, xfer, False)
            if recorder is not None:
                return cast(Transfer, recorder(send, first_log, code, spill, failed(code), room, 0))

            def write(dev_handle: Any, ep: int, intf: int, data: array.array[int], timeout: int) -> int:
                payload = data.tobytes()
                t0 = clock()
                try:
                    n = send(dev_handle, ep, payload, timeout)
                except BaseException as exc:
                    extend((code, t0, clock(), ep, 0, status_of(exc), payload))
                    charge(len(payload))
                    raise
                extend((code, t0, clock(), ep, 0, n, payload))
                room[0] -= n + ENTRY_BYTES
                if room[0] < 0:
                    spill()
                return n

            return write

        def received_on_link(xfer: int, receive: Callable[[Any, int, array.array[int], int], bytes]
                             ) -> Transfer:
            """As recorded_in for a link backend: the bytes object the link delivered is logged as
            it is (no copy out of the buffer), and no call is added; in C when there is one capture."""
            code = entry_code(placements[0].key if placements else 0, xfer, True)
            if recorder is not None:
                return cast(Transfer, recorder(receive, first_log, code, spill, failed(code), room, 1))

            def read(dev_handle: Any, ep: int, intf: int, buff: array.array[int], timeout: int) -> int:
                t0 = clock()
                try:
                    data = receive(dev_handle, ep, buff, timeout)
                except BaseException as exc:
                    extend((code, t0, clock(), ep, len(buff) * buff.itemsize, status_of(exc), b""))
                    charge(0)
                    raise
                n = len(data)
                extend((code, t0, clock(), ep, len(buff) * buff.itemsize, n,
                        data if data.__class__ is bytes else bytes(data)))
                room[0] -= n + ENTRY_BYTES
                if room[0] < 0:
                    spill()
                return n

            return read

        self.extend = extend
        self.charge = charge
        self.control_code = entry_code(placements[0].key if placements else 0, usbmon.CONTROL, False)
        if isinstance(inner, LinkBackend):
            self.bulk_write = sent_on_link(usbmon.BULK, inner.send)
            self.bulk_read = received_on_link(usbmon.BULK, inner.receive)
            self.intr_write = sent_on_link(usbmon.INTERRUPT, inner.send)
            self.intr_read = received_on_link(usbmon.INTERRUPT, inner.receive)
        else:
            self.bulk_write = recorded_out(usbmon.BULK, inner.bulk_write)
            self.bulk_read = recorded_in(usbmon.BULK, inner.bulk_read)
            self.intr_write = recorded_out(usbmon.INTERRUPT, inner.intr_write)
            self.intr_read = recorded_in(usbmon.INTERRUPT, inner.intr_read)


def _nowhere(entry: Entry) -> None:
    """Where a backend with no capture logs (never called: record_device adds one first)."""


class RecordingBackend(usb.backend.IBackend):  # type: ignore[misc]
    """A pyusb backend that passes every call to `inner` and logs the transfers of one device into
    each of its captures (`placements`). Handles and device ids are `inner`'s, untouched."""

    def __init__(self, inner: Any, intervals: dict[int, int] | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.intervals = intervals or {}
        self.placements: tuple[Placement, ...] = ()
        self._recorders = _Recorders((), inner)
        self._set(())

    def __eq__(self, other: object) -> bool:
        # pyusb compares and hashes devices by backend: a recorded device stays the same device.
        return other is self or other == self.inner

    def __hash__(self) -> int:
        return hash(self.inner)

    def _control(self, bm: int, request: int, value: int, index: int, out: bytes | None, length: int,
                 call: Callable[[], int], received: Callable[[int], bytes]) -> int:
        where = control_where(bm, request, value, index)
        recorders = self._recorders
        code = recorders.control_code
        t0 = perf_counter_ns()
        try:
            n = call()
        except BaseException as exc:
            recorders.extend((code, t0, perf_counter_ns(), where, length, status_of(exc), out or b""))
            recorders.charge(len(out or b""))
            raise
        t1 = perf_counter_ns()
        data = received(n) if out is None else out
        recorders.extend((code, t0, t1, where, length, n, data))
        recorders.charge(len(data))
        return n

    def add(self, place: Placement, dev: Any) -> None:
        """Record into `place` too, starting with the exchanges a decoder needs before any other
        traffic, rebuilt from `inner`'s descriptors and marked as synthesised: GET_DESCRIPTOR(DEVICE),
        GET_DESCRIPTOR(CONFIGURATION) (9 bytes, then all of it) and SET_CONFIGURATION."""
        device = device_descriptor_bytes(self.inner.get_device_descriptor(dev))
        config = configuration_bytes(self.inner, dev, 0)
        exchanges = [(0x80, GET_DESCRIPTOR, 0x0100, device), (0x80, GET_DESCRIPTOR, 0x0200, config[:9]),
                     (0x80, GET_DESCRIPTOR, 0x0200, config), (0x00, SET_CONFIGURATION, config[5], b"")]
        note: str | None = SYNTHESISED_NOTE
        capture = place.capture
        for bm, request, value, answer in exchanges:
            ep = bm & 0x80
            urb = capture.write_now(place, _S, ep, _IN_PROGRESS, len(answer), b"",
                                    (bm, request, value, 0, len(answer)), comment=note, preamble=True)
            capture.write_now(place, _C, ep, _OK, len(answer), answer, None, urb=urb, preamble=True)
            note = None
        self._set((*self.placements, place))

    def remove(self, capture: UsbCapture) -> None:
        """Stop recording into `capture`."""
        self._set(tuple(p for p in self.placements if p.capture is not capture))

    def _set(self, placements: tuple[Placement, ...]) -> None:
        """Record into `placements` from now on. What the current captures logged is encoded first:
        the new recorders start counting their byte budget from an empty log."""
        for place in self.placements:
            if not place.capture.writer.closed:
                place.capture.encode_log()
        self.placements = placements
        recorders = self._recorders = _Recorders(placements, self.inner)
        # The transfers, recorded (IBackend's bulk_write, bulk_read, intr_write, intr_read).
        self.bulk_write = recorders.bulk_write
        self.bulk_read = recorders.bulk_read
        self.intr_write = recorders.intr_write
        self.intr_read = recorders.intr_read

    # --- transfers, recorded ---

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
        place = capture.place(device, device.bus, device.address, proxy.intervals)
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
            proxy._set(())
        else:
            proxy.remove(capture)
        if not proxy.placements:
            ctx.backend = proxy.inner


def recordings_of(device: usb.core.Device) -> list[UsbCapture]:
    """The captures `device` is recorded into (empty when it is not recorded)."""
    backend = device._ctx.backend
    return [p.capture for p in backend.placements] if isinstance(backend, RecordingBackend) else []

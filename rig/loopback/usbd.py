"""The loopback's device core, as firmware/src/usbd.c: chapter-9 standard requests, endpoint halt
state, and dispatch of class and vendor requests through a table of class functions (`UsbClass`,
the firmware's usbd_class_t).

The functions (midi.py, vendor.py, cdc.py) share one `BoardCore`: the lock, the counters, the clock
and the log, which the composition (twin.py) provides.
"""

from __future__ import annotations

import errno
import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from rig import contract as c
from rig.contract import ch9, descriptors
from rig.links.usb_link import LinkStall, LinkTimeout, UsbLinkError, write_timed_out
from rig.loopback.clock import Clock

ENDPOINTS = (c.EP_MIDI_OUT, c.EP_MIDI_IN, c.EP_FRAME_OUT, c.EP_FRAME_IN, c.EP_CDC_NOTIFY, c.EP_CDC_OUT,
             c.EP_CDC_IN)
"""Every endpoint of configuration 1 (EP0 aside)."""

AfterStatus = Callable[[], None]
"""Work a request does once its status stage is over, without the lock (mode threads, reboot)."""


class Stall(Exception):
    """Raised inside request handlers; becomes LinkStall after the stall is counted."""


class BoardCore(Protocol):
    """What every function shares: the lock, the counters, the clock, the log and waiting."""

    cv: threading.Condition
    counters: dict[str, int]
    clock: Clock

    def log(self, event: str, *args: int) -> None:
        """A console log line for `event`; lock held."""
        ...

    def wait(self, ready: Callable[[], bool], deadline: float | None, what: str) -> None:
        """Wait on `cv` until `ready()`; LinkTimeout at the deadline, LinkGone on close."""
        ...

    def check_open(self) -> None:
        """LinkGone once the board is closed."""
        ...

    @property
    def closed(self) -> bool:
        """True once close() has begun (source threads end)."""
        ...

    @property
    def configured(self) -> bool:
        """True in the Configured state (SOURCE modes produce only then)."""
        ...

    def start(self, name: str, target: Callable[[threading.Event], None]) -> None:
        """Run `target(stop)` in a thread named `name` until stop is set."""
        ...

    def cancel(self, name: str) -> None:
        """Tell the thread started as `name` to stop, without waiting for it (lock may be held)."""
        ...

    def stop_source(self, name: str) -> None:
        """Stop and join the thread started as `name` (if any)."""
        ...


class UsbClass(Protocol):
    """One function's entry in the class table (usbd_class_t): its interfaces, endpoints and hooks."""

    itf_first: int
    itf_count: int
    endpoints: tuple[int, ...]

    def reset(self, was_configured: bool) -> None:
        """A bus reset or any SET_CONFIGURATION (the firmware's deconfigure): queues emptied,
        sequences at 0, SOURCE stopped; lock held."""
        ...

    def open(self) -> None:
        """SET_CONFIGURATION(1) after reset: a SOURCE mode starts again from its beginning; lock held."""
        ...

    def control_in(self, bm: int, req: int, value: int, index: int) -> bytes:
        """A class IN request to one of its interfaces: the reply, or Stall; lock held."""
        ...

    def control_out(self, bm: int, req: int, value: int, index: int, data: bytes) -> AfterStatus | None:
        """A class OUT request (with its data stage) to one of its interfaces, or Stall; lock held."""
        ...

    def halt_cleared(self, endpoint: int) -> None:
        """CLEAR_FEATURE(ENDPOINT_HALT) on one of its endpoints; lock held."""
        ...


class VendorHandler(Protocol):
    """Vendor requests to the device (the firmware's vendor_handler)."""

    def vendor_in(self, bm: int, req: int, value: int, index: int) -> bytes:
        """A vendor IN request: the reply, or Stall; lock held."""
        ...

    def vendor_out(self, bm: int, req: int, value: int, index: int, data: bytes) -> AfterStatus | None:
        """A vendor OUT request with its data stage, or Stall; lock held."""
        ...


class InTransfer:
    """One queued IN transfer and how much of it the host has read (USB packet semantics)."""

    __slots__ = ("data", "payload_len", "pos")

    def __init__(self, data: bytes | bytearray, payload_len: int = 0) -> None:
        self.data = data
        self.pos = 0
        self.payload_len = payload_len

    @property
    def remaining(self) -> int:
        """Bytes the host has not read yet."""
        return len(self.data) - self.pos

    def take(self, length: int) -> tuple[bytes, bool, bool]:
        """One host read of `length` bytes: (data, whether the transfer is now complete, overflow).
        Packets go out while the read has room: a short packet ends the read, and so does a full one
        that fills it. A transfer whose length is a multiple of the packet size ends with a ZLP, read
        with its last packet when the read has room left, else by the next read. A packet longer than
        the room left is babble: the read fails with overflow and its packets are lost to the host,
        though the device saw them acknowledged (libusb LIBUSB_ERROR_OVERFLOW)."""
        if self.pos == len(self.data):
            return b"", True, False  # only the ZLP was left
        start = self.pos
        while True:
            packet = min(c.BULK_PACKET_SIZE, len(self.data) - self.pos)
            self.pos += packet
            got = self.pos - start
            last = self.pos == len(self.data)
            if got > length:
                return b"", last and packet < c.BULK_PACKET_SIZE, True
            if packet < c.BULK_PACKET_SIZE:
                return bytes(self.data[start:self.pos]), True, False
            if got == length:
                return bytes(self.data[start:self.pos]), False, False
            if last:
                return bytes(self.data[start:self.pos]), True, False  # the ZLP ends this read


def overflow(length: int) -> UsbLinkError:
    """The error of a read whose next packet did not fit its `length`."""
    return UsbLinkError(errno.EOVERFLOW, f"read of {length} bytes: the device sent a packet longer than the "
                                         "room left (overflow), and the data is lost")


def wait_to_take(core: BoardCore, ready: Callable[[], bool], deadline: float | None, what: str,
                 acked: int) -> None:
    """Before taking an OUT packet: wait (NAKing) until `ready()`. At the deadline the host cancels the
    write, and the timeout says that the `acked` bytes taken before are delivered (protocol.md,
    *Timed-out writes*); lock held."""
    try:
        core.wait(ready, deadline, what)
    except LinkTimeout as exc:
        raise write_timed_out(f"{exc} after {acked} bytes", acked) from None


def deadline_after(timeout_ms: int) -> float | None:
    """The monotonic time a transfer with `timeout_ms` gives up (None: 0 means wait forever)."""
    return None if timeout_ms == 0 else time.monotonic() + timeout_ms / 1000


class NoClassRequests:
    """Class-table defaults for a function whose interfaces take no class requests and whose
    endpoints have nothing to re-arm after a halt is cleared."""

    def control_in(self, bm: int, req: int, value: int, index: int) -> bytes:
        """Any class IN request stalls."""
        raise Stall(f"class IN request 0x{req:02x} to index {index}")

    def control_out(self, bm: int, req: int, value: int, index: int, data: bytes) -> AfterStatus | None:
        """Any class OUT request stalls."""
        raise Stall(f"class OUT request 0x{req:02x} (bmRequestType 0x{bm:02x}) to index {index}")

    def halt_cleared(self, endpoint: int) -> None:
        """Nothing to re-arm."""


class PacketIn:
    """An IN endpoint as the firmware's start_in arms it: when idle, the next packet from what is
    queued now (up to `per_packet` units), or the ZLP a full last packet is owed. A host read takes
    the armed packets while it has room, ended by a short packet, a ZLP or a full read; a packet
    longer than the room left is babble (overflow): sent as far as the board knows, lost to the host.

    `queued()` says how many units wait; `take(n)` removes n units, counts them sent and returns
    their bytes. Lock held for every call."""

    def __init__(self, core: BoardCore, what: str, per_packet: int, queued: Callable[[], int],
                 take: Callable[[int], bytes]) -> None:
        self._core = core
        self._what = what
        self._per_packet = per_packet
        self._queued = queued
        self._take = take
        self.enabled = True
        """False while the endpoint does not exist (cdc.c arms nothing until the function opens)."""
        self.reset()

    def reset(self) -> None:
        """Nothing armed, no ZLP owed."""
        self._armed = 0
        self._zlp_armed = False
        self._zlp_due = False

    def arm(self) -> None:
        """Arm the next packet (or the owed ZLP) if the endpoint is idle."""
        if not self.enabled or self._armed or self._zlp_armed:
            return
        queued = self._queued()
        if queued:
            self._armed = min(queued, self._per_packet)
            self._zlp_due = self._armed == self._per_packet
        elif self._zlp_due:
            self._zlp_due, self._zlp_armed = False, True

    def read(self, length: int, deadline: float | None) -> bytes:
        """One host IN transfer of at most `length` bytes; waits for an armed packet."""
        core = self._core
        core.wait(lambda: bool(self._armed or self._zlp_armed), deadline, self._what)
        out = b""
        while True:
            if self._zlp_armed:
                self._zlp_armed = False
                self.arm()
                break
            packet = self._take(self._armed)
            self._armed = 0
            self.arm()
            if len(out) + len(packet) > length:
                core.cv.notify_all()
                raise overflow(length)
            out += packet
            if len(packet) < c.BULK_PACKET_SIZE or len(out) == length:
                break
        core.cv.notify_all()
        return out


class Usbd:
    """Chapter 9: configuration, address, halted endpoints; standard requests answered here, class
    requests passed to the function owning the interface, vendor requests to `vendor`."""

    def __init__(self, core: BoardCore, unique_id: bytes, classes: Sequence[UsbClass],
                 vendor: VendorHandler) -> None:
        self._core = core
        self._unique_id = unique_id
        self._classes = tuple(classes)
        self._vendor = vendor
        self.configuration = 0
        self.address = 0
        self.halted: set[int] = set()

    def power_on(self) -> None:
        """Unconfigured, address 0, no endpoint halted."""
        self.configuration = 0
        self.address = 0
        self.halted = set()

    def bus_reset(self) -> None:
        """Bus reset: unconfigured, halts cleared, every function reset; lock held."""
        self._core.counters["usb_resets"] += 1
        self._deconfigure()
        self.address = 0
        self._core.log("bus_reset")

    def _deconfigure(self) -> None:
        """Every function reset, no configuration, no halt (usbd.c's deconfigure)."""
        was_configured = bool(self.configuration)
        self.configuration = 0
        self.halted.clear()
        for function in self._classes:
            function.reset(was_configured)

    def check_endpoint(self, endpoint: int, out: bool) -> None:
        """LinkStall unless `endpoint` exists in that direction, is configured and not halted."""
        self._core.check_open()
        if endpoint not in ENDPOINTS or bool(endpoint & ch9.DIR_IN) == out:
            raise LinkStall(f"STALL: no {'OUT' if out else 'IN'} endpoint 0x{endpoint:02x}")
        if self.configuration == 0:
            # no configuration, no endpoint: a host sends it no tokens and reports an I/O error, as the
            # emulator's bridge does (not a STALL, which only an existing endpoint can answer)
            raise UsbLinkError(errno.EIO, f"endpoint 0x{endpoint:02x} does not exist before "
                                          "SET_CONFIGURATION")
        if endpoint in self.halted:
            raise LinkStall(f"STALL: endpoint 0x{endpoint:02x} is halted")

    def control(self, bm: int, req: int, value: int, index: int, data_or_length: bytes | int) -> tuple[
            bytes | int, AfterStatus | None]:
        """One SETUP and its data stage: (IN data or OUT byte count, work after the status stage);
        LinkStall once the stall is counted and logged. Lock held."""
        stats = self._core.counters
        stats["control_requests"] += 1
        try:
            if bm & ch9.DIR_IN:
                assert isinstance(data_or_length, int)
                return self._control_in(bm, req, value, index)[:data_or_length], None
            assert not isinstance(data_or_length, int)
            data = bytes(data_or_length)
            return len(data), self._control_out(bm, req, value, index, data)
        except Stall as exc:
            stats["control_stalls"] += 1
            self._core.log("stall", bm, req)
            raise LinkStall(f"STALL: {exc}") from None

    def _class_for(self, bm: int, index: int) -> UsbClass:
        """The function owning the interface a class request is for; Stall when the request is not
        to an interface or the device is not configured (USB 2.0 9.4: Address state)."""
        if bm & ch9.RECIPIENT_MASK != ch9.RECIPIENT_INTERFACE or not self.configuration:
            raise Stall(f"class request (bmRequestType 0x{bm:02x}) in configuration {self.configuration}")
        interface = index & 0xFF
        for function in self._classes:
            if function.itf_first <= interface < function.itf_first + function.itf_count:
                return function
        raise Stall(f"class request to interface {interface}, which no function owns")

    def _control_in(self, bm: int, req: int, value: int, index: int) -> bytes:
        kind = bm & ch9.TYPE_MASK
        if kind == ch9.TYPE_VENDOR:
            return self._vendor.vendor_in(bm, req, value, index)
        if kind == ch9.TYPE_CLASS:
            return self._class_for(bm, index).control_in(bm, req, value, index)
        if kind != ch9.TYPE_STANDARD:
            raise Stall(f"reserved request type 0x{bm:02x}")
        recipient = bm & ch9.RECIPIENT_MASK
        if req == ch9.GET_DESCRIPTOR and recipient == ch9.RECIPIENT_DEVICE:
            return self._descriptor(value >> 8, value & 0xFF, index)
        if req == ch9.GET_CONFIGURATION and recipient == ch9.RECIPIENT_DEVICE:
            return bytes((self.configuration,))
        if (req == ch9.GET_INTERFACE and recipient == ch9.RECIPIENT_INTERFACE and self.configuration
                and index < c.NUM_INTERFACES):
            return b"\0"
        if req == ch9.GET_STATUS and value == 0:
            if recipient == ch9.RECIPIENT_DEVICE:
                return b"\0\0"
            if recipient == ch9.RECIPIENT_INTERFACE and self.configuration and index < c.NUM_INTERFACES:
                return b"\0\0"
            if recipient == ch9.RECIPIENT_ENDPOINT and (index in (0, 0x80) or self._endpoint_valid(index)):
                return struct.pack("<H", 1 if index in self.halted else 0)
        raise Stall(f"standard IN request {req} (bmRequestType 0x{bm:02x}, wIndex {index})")

    def _endpoint_valid(self, endpoint: int) -> bool:
        """An endpoint of the configuration, which exists only in the Configured state (USB 2.0 9.4)."""
        return bool(self.configuration) and endpoint in ENDPOINTS

    def _descriptor(self, dtype: int, index: int, langid: int) -> bytes:
        if dtype == ch9.DT_DEVICE and index == 0:
            return descriptors.device_descriptor()
        if dtype == ch9.DT_CONFIGURATION and index == 0:
            return descriptors.config_descriptor()
        if dtype == ch9.DT_STRING:
            try:
                return descriptors.string_descriptor(index, self._unique_id, langid)
            except KeyError as exc:
                raise Stall(str(exc)) from None
        raise Stall(f"no descriptor of type {dtype} index {index}")

    def _control_out(self, bm: int, req: int, value: int, index: int, data: bytes) -> AfterStatus | None:
        kind = bm & ch9.TYPE_MASK
        if kind == ch9.TYPE_VENDOR:
            return self._vendor.vendor_out(bm, req, value, index, data)
        if kind == ch9.TYPE_CLASS:
            return self._class_for(bm, index).control_out(bm, req, value, index, data)
        if kind != ch9.TYPE_STANDARD:
            raise Stall(f"reserved request type 0x{bm:02x}")
        if data:
            raise Stall(f"standard request {req} with a {len(data)}-byte data stage")
        recipient = bm & ch9.RECIPIENT_MASK
        if req == ch9.SET_ADDRESS and recipient == ch9.RECIPIENT_DEVICE and value < 128 and index == 0:
            self.address = value
            return None
        if (req == ch9.SET_CONFIGURATION and recipient == ch9.RECIPIENT_DEVICE
                and value in (0, c.CONFIG_VALUE)):
            self._deconfigure()
            self.configuration = value
            if value:
                for function in self._classes:
                    function.open()
            self._core.log("configuration", value)
            return None
        if req == ch9.SET_INTERFACE and recipient == ch9.RECIPIENT_INTERFACE and self.configuration:
            if index < c.NUM_INTERFACES and value == 0:
                for ep in _interface_endpoints(index):
                    self.halted.discard(ep)
                return None
            raise Stall(f"SET_INTERFACE alternate {value} of interface {index}: only alternate 0 exists")
        if (req in (ch9.CLEAR_FEATURE, ch9.SET_FEATURE) and recipient == ch9.RECIPIENT_ENDPOINT
                and value == ch9.ENDPOINT_HALT):
            if not self._endpoint_valid(index):
                raise Stall(f"{'CLEAR' if req == ch9.CLEAR_FEATURE else 'SET'}_FEATURE(ENDPOINT_HALT) on "
                            f"unknown endpoint 0x{index:02x}")
            if req == ch9.CLEAR_FEATURE:
                self.halted.discard(index)
                for function in self._classes:
                    if index in function.endpoints:
                        function.halt_cleared(index)
            else:
                self.halted.add(index)
            return None
        raise Stall(f"standard OUT request {req} (bmRequestType 0x{bm:02x}, wValue {value}, wIndex {index})")


def _interface_endpoints(interface: int) -> tuple[int, ...]:
    return {
        c.IF_MIDI_STREAMING: (c.EP_MIDI_OUT, c.EP_MIDI_IN),
        c.IF_VENDOR: (c.EP_FRAME_OUT, c.EP_FRAME_IN),
        c.IF_CDC_COMM: (c.EP_CDC_NOTIFY,),
        c.IF_CDC_DATA: (c.EP_CDC_OUT, c.EP_CDC_IN),
    }.get(interface, ())


__all__ = ["ENDPOINTS", "AfterStatus", "BoardCore", "InTransfer", "NoClassRequests", "PacketIn", "Stall",
           "UsbClass", "Usbd", "VendorHandler", "deadline_after", "overflow"]

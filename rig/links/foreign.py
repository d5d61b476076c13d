"""A `UsbLink` that presents another link's device as a device that is not ours: another VID:PID in
its device descriptor, vendor requests refused with a STALL (and recorded, so a test can prove none
was sent), and OS class drivers bound as a Linux host binds them (snd-usb-audio on the audio-control
and MIDIStreaming interfaces, cdc_acm on a CDC ACM pair). It lets the `usb:` target's real code
paths — discovery by VID:PID, descriptor probing, detaching and re-attaching drivers — run on the
loopback or the emulated board in CI, where no hardware is attached.
"""

from __future__ import annotations

import errno
import struct
import threading
from collections.abc import Iterable

from rig.contract.ch9 import DT_DEVICE, GET_DESCRIPTOR
from rig.links.usb_link import ForwardingLink, LinkStall, UsbLink, UsbLinkError

VENDOR_TYPE = 2
"""bmRequestType bits 6..5 of a vendor request (USB 2.0 table 9-2)."""
ID_OFFSET = 8
"""idVendor, idProduct: bytes 8..11 of the device descriptor (USB 2.0 table 9-8)."""


class ForeignLink(ForwardingLink):
    """`inner`'s device as VID:PID `vid`:`pid`, with OS drivers on `driver_interfaces`; transfers other
    than control pass through unchanged (a bus reset leaves the OS drivers bound, as a real one does)."""

    def __init__(self, inner: UsbLink, vid: int, pid: int, *, driver_interfaces: Iterable[int] = (),
                 refuse_vendor: bool = True) -> None:
        super().__init__(inner)
        self.refuse_vendor = refuse_vendor
        """False when the presented IDs are the rig's own: then the device is ours and answers them."""
        self.vid = vid
        self.pid = pid
        self.vendor_requests: list[str] = []
        """Every vendor request that reached this device (each answered with a STALL)."""
        self._lock = threading.Lock()
        self._drivers = frozenset(driver_interfaces)
        self._bound = set(self._drivers)
        self.drivers_detached: list[int] = []
        """Interfaces whose OS driver was detached, in order (re-attaching does not remove them)."""

    def control(self, bm_request_type: int, b_request: int, w_value: int, w_index: int,
                data_or_length: bytes | int, timeout_ms: int) -> bytes | int:
        """Pass through, but STALL vendor requests and rewrite the IDs in the device descriptor."""
        if self.refuse_vendor and (bm_request_type >> 5) & 3 == VENDOR_TYPE:
            with self._lock:
                self.vendor_requests.append(f"bmRequestType 0x{bm_request_type:02X} "
                                            f"bRequest 0x{b_request:02X} wValue 0x{w_value:04X} "
                                            f"wIndex 0x{w_index:04X}")
            raise LinkStall(errno.EPIPE, f"vendor request 0x{b_request:02X} to a device that is not ours")
        result = self.inner.control(bm_request_type, b_request, w_value, w_index, data_or_length, timeout_ms)
        if (bm_request_type == 0x80 and b_request == GET_DESCRIPTOR and w_value >> 8 == DT_DEVICE
                and isinstance(result, bytes | bytearray) and len(result) > ID_OFFSET):
            ids = struct.pack("<HH", self.vid, self.pid)  # a short wLength gets the prefix of the new IDs
            end = min(len(result), ID_OFFSET + 4)
            result = bytes(result[:ID_OFFSET]) + ids[:end - ID_OFFSET] + bytes(result[end:])
        return result

    def kernel_driver_active(self, interface: int) -> bool:
        """True while the modelled OS driver holds `interface`."""
        with self._lock:
            return interface in self._bound

    def detach_kernel_driver(self, interface: int) -> None:
        """Unbind the modelled OS driver (ENOENT when none holds the interface, as libusb's NOT_FOUND)."""
        with self._lock:
            if interface not in self._bound:
                raise UsbLinkError(errno.ENOENT, f"no OS driver is bound to interface {interface}")
            self._bound.discard(interface)
            self.drivers_detached.append(interface)

    def attach_kernel_driver(self, interface: int) -> None:
        """Bind the modelled OS driver again (ENOENT for an interface no OS driver takes, EBUSY when
        it is bound already)."""
        with self._lock:
            if interface not in self._drivers:
                raise UsbLinkError(errno.ENOENT, f"no OS driver for interface {interface}")
            if interface in self._bound:
                raise UsbLinkError(errno.EBUSY, f"an OS driver already holds interface {interface}")
            self._bound.add(interface)

    def bound(self) -> frozenset[int]:
        """Interfaces an OS driver holds now."""
        with self._lock:
            return frozenset(self._bound)

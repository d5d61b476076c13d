"""The Linux usbmon binary event header (pcap link type 220, LINKTYPE_USB_LINUX_MMAPPED), packed by
hand (stdlib only), so a capture the rig writes reads in Wireshark as one taken with usbmon.

The 64-byte header, little-endian as on the machines the rig runs on: URB id, event type ('S'
submit, 'C' complete, 'E' submit error), transfer type, endpoint address (0x80 for IN, control
included), device address, bus, setup flag and the 8 setup bytes, time stamp, status (a negative
errno: -EINPROGRESS on a submit, -EPIPE for a STALL, -ECONNRESET for a URB the host cancelled at
its timeout), urb_len, data_len, and the mmapped fields interval, start_frame, transfer flags and
the number of isochronous descriptors. The captured data follows the header.
"""

from __future__ import annotations

import errno
import struct

LINKTYPE_USB_LINUX_MMAPPED = 220
HEADER = struct.Struct("<QcBBBHcBqiiII8siiII")
"""id, type, xfer_type, epnum, devnum, busnum, flag_setup, flag_data, ts_sec, ts_usec, status,
urb_len, data_len, setup, interval, start_frame, xfer_flags, ndesc."""
assert HEADER.size == 64

SUBMIT = b"S"
COMPLETE = b"C"
ERROR = b"E"

ISOCHRONOUS = 0
INTERRUPT = 1
CONTROL = 2
BULK = 3

SETUP_PRESENT = b"\0"
"""flag_setup when the 8 setup bytes are valid (a control submit)."""
NO_SETUP = b"-"
DATA_PRESENT = 0
"""flag_data when data follows (or could: a zero-length transfer in the data direction)."""
NO_DATA_IN = ord("<")
"""flag_data of an IN submit: the data comes with the completion."""
NO_DATA_OUT = ord(">")
"""flag_data of an OUT completion: the data went with the submit."""

URB_DIR_IN = 0x0200
"""transfer_flags bit the kernel sets on IN URBs."""

STATUS_OK = 0
STATUS_IN_PROGRESS = -errno.EINPROGRESS
STATUS_STALL = -errno.EPIPE
STATUS_CANCELLED = -errno.ECONNRESET
"""A URB unlinked by the host (libusb discards an URB at its timeout: usb_unlink_urb)."""
STATUS_GONE = -errno.ESHUTDOWN
STATUS_OVERFLOW = -errno.EOVERFLOW
STATUS_PROTOCOL = -errno.EPROTO


_pack = HEADER.pack
_NO_SETUP = bytes(8)


def pack_event(urb_id: int, event: bytes, transfer_type: int, endpoint: int, device: int, bus: int,
               timestamp_ns: int, status: int, urb_len: int, data: bytes = b"", setup: bytes | None = None,
               interval: int = 0) -> bytes:
    """One usbmon event (header plus captured data) as a packet of link type 220. flag_data says
    whether data follows: '<' on an IN submit and '>' on an OUT completion, as the kernel marks them."""
    is_in = endpoint & 0x80
    if data:
        flag_data = DATA_PRESENT
    elif event == SUBMIT:
        flag_data = NO_DATA_IN if is_in else DATA_PRESENT
    else:
        flag_data = DATA_PRESENT if is_in else NO_DATA_OUT
    seconds, nanoseconds = divmod(timestamp_ns, 1_000_000_000)
    return _pack(urb_id, event, transfer_type, endpoint, device, bus,
                 NO_SETUP if setup is None else SETUP_PRESENT, flag_data, seconds, nanoseconds // 1000,
                 status, urb_len, len(data), setup or _NO_SETUP, interval, 0, URB_DIR_IN if is_in else 0,
                 0) + data


def setup_packet(bm_request_type: int, b_request: int, w_value: int, w_index: int, w_length: int) -> bytes:
    """The 8 bytes of a control transfer's SETUP stage."""
    return struct.pack("<BBHHH", bm_request_type, b_request, w_value, w_index, w_length)

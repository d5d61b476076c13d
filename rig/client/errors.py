"""The errors a transfer to or from a board can end in, and the one mapping from pyusb's errors to
them that Board and the miniports share."""

from __future__ import annotations

import errno

import usb.core

from rig.errors import RigError


class DeviceResponseError(RigError, ValueError):
    """The board answered, but the answer breaks the contract (length or field values)."""


class TransferError(RigError, OSError):
    """A USB transfer to or from the board failed; the message names board, transfer and cause."""


class TransferTimeout(TransferError, TimeoutError):
    """A transfer did not complete in time (bulk OUT: the device kept NAKing). For a bulk OUT,
    `transferred` is how many bytes the device acknowledged (delivered) before the host cancelled it,
    None when the transport cannot tell (pyusb over libusb)."""

    transferred: int | None = None


class TransferStalled(TransferError):
    """The board answered a transfer with STALL."""


class BoardGone(TransferError, ConnectionError):
    """The board is no longer there (unplugged, rebooted, emulator exited)."""


def map_usb_error(board_name: str, transfer: str, exc: usb.core.USBError) -> TransferError:
    """The rig exception for a pyusb error on `transfer` (timeout, stall, device gone or other), naming
    the board and the transfer; the one mapping Board and the miniports share."""
    code = exc.errno
    if isinstance(exc, usb.core.USBTimeoutError) or code == errno.ETIMEDOUT:
        transferred = getattr(exc, "transferred", None)
        timeout = TransferTimeout(f"{board_name}: {transfer}: timed out" + (
            "" if transferred is None else f" after {transferred} byte(s) acknowledged (delivered)"))
        timeout.transferred = transferred
        return timeout
    if code == errno.EPIPE:
        return TransferStalled(f"{board_name}: {transfer}: stalled")
    if code in (errno.ENODEV, errno.ESHUTDOWN) or "no such device" in str(exc).lower():
        return BoardGone(f"{board_name}: {transfer}: the device is gone ({exc})")
    return TransferError(f"{board_name}: {transfer}: {exc}")


class PartialFrame(RigError, RuntimeError):
    """A frame write timed out part-way and a different frame was written next: the board would take
    it as the rest of the first; the message names the frame and how to finish or drop it."""


class FrameStreamClaimed(RigError, RuntimeError):
    """The host-to-device frame stream is owned by someone else (a miniport's `claim_frame_stream`), or
    a released claim was used; the message names the board and the owner."""

"""The seam under our pyusb backends: one USB device reached by control and bulk/interrupt
transfers, whether it is the in-process loopback board or the firmware in the emulator.

`rig.links.pyusb_backend` turns any `UsbLink` into a pyusb backend, so `usb.core.find(backend=...)` and
everything above it is the same code that drives a real board through libusb.
"""

from __future__ import annotations

from typing import Protocol

from rig.errors import RigError


class UsbLinkError(RigError, OSError):
    """Base of link failures (an OSError too); pyusb's USBError/USBTimeoutError are raised by the
    backend above."""


class LinkTimeout(UsbLinkError):
    """The transfer did not complete within its timeout (on bulk OUT: the device NAKed). On bulk OUT
    the host cancelled it, and `transferred` is how many bytes the device acknowledged before that:
    they are delivered (docs/protocol.md, *Timed-out writes*); None when the link cannot tell."""

    transferred: int | None = None


def write_timed_out(message: str, transferred: int | None) -> LinkTimeout:
    """A LinkTimeout for a bulk OUT whose first `transferred` bytes were acknowledged (delivered)."""
    exc = LinkTimeout(message)
    exc.transferred = transferred
    return exc


class LinkCancelled(LinkTimeout):
    """The transfer was cancelled before it received anything (`cancel_reads`, as
    libusb_cancel_transfer). A LinkTimeout too: callers that loop on timeouts treat it alike."""


class LinkStall(UsbLinkError):
    """The device answered with STALL."""


class LinkGone(UsbLinkError):
    """The device is no longer there (unplugged, emulator exited)."""


class DeviceReenumerated(LinkGone):
    """The device left the bus and enumerated again by itself (a watchdog reset, a reboot): to the
    host that is a new device (USB 2.0 9.1.2), so a handle opened before is stale and every transfer
    on it fails with this until the holder finds the device again (docs/protocol.md,
    *Re-enumeration*)."""


class UsbLink(Protocol):
    """One device's transfers. Timeouts are in milliseconds; 0 means wait forever."""

    def control(self, bm_request_type: int, b_request: int, w_value: int, w_index: int,
                data_or_length: bytes | int, timeout_ms: int) -> bytes | int:
        """A control transfer: returns the IN data, or the number of OUT bytes sent.
        Raises LinkStall, LinkTimeout or LinkGone."""
        ...

    def write(self, endpoint: int, data: bytes, timeout_ms: int) -> int:
        """A bulk/interrupt OUT transfer, ended by a short packet or ZLP as USB delimits it;
        returns bytes accepted. Raises LinkTimeout while the device NAKs past the timeout."""
        ...

    def read(self, endpoint: int, length: int, timeout_ms: int) -> bytes:
        """A bulk/interrupt IN transfer of at most `length` bytes, ended by a short packet."""
        ...

    def clear_halt(self, endpoint: int) -> None:
        """CLEAR_FEATURE(ENDPOINT_HALT) on `endpoint`."""
        ...

    def reset(self) -> None:
        """Bus reset; the device re-enumerates to the default (unconfigured) state."""
        ...

    def close(self) -> None:
        """Release the link; later calls raise LinkGone."""
        ...


class CancellableLink(UsbLink, Protocol):
    """A link whose waiting reads another thread can cancel (both our links; libusb can too)."""

    def cancel_reads(self, endpoint: int) -> None:
        """End every read waiting on IN `endpoint` now: with LinkCancelled, or with the packets it had
        already received (a cancelled transfer reports what it got). Returns once they have ended;
        nothing to cancel is not an error."""
        ...


class ForwardingLink:
    """A UsbLink that passes every call to `inner`: subclasses override only what they change (a
    fault to inject, IDs to present), as pyserial's protocol handlers wrap a port."""

    def __init__(self, inner: UsbLink) -> None:
        self.inner = inner

    def control(self, bm_request_type: int, b_request: int, w_value: int, w_index: int,
                data_or_length: bytes | int, timeout_ms: int) -> bytes | int:
        """Passed through."""
        return self.inner.control(bm_request_type, b_request, w_value, w_index, data_or_length, timeout_ms)

    def write(self, endpoint: int, data: bytes, timeout_ms: int) -> int:
        """Passed through."""
        return self.inner.write(endpoint, data, timeout_ms)

    def read(self, endpoint: int, length: int, timeout_ms: int) -> bytes:
        """Passed through."""
        return self.inner.read(endpoint, length, timeout_ms)

    def clear_halt(self, endpoint: int) -> None:
        """Passed through."""
        self.inner.clear_halt(endpoint)

    def reset(self) -> None:
        """Passed through."""
        self.inner.reset()

    def close(self) -> None:
        """Passed through."""
        self.inner.close()

    def cancel_reads(self, endpoint: int) -> None:
        """Passed through when the inner link can cancel its reads (CancellableLink)."""
        cancel = getattr(self.inner, "cancel_reads", None)
        if cancel is not None:
            cancel(endpoint)

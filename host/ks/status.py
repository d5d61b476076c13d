"""NTSTATUS: the status codes the kernel-streaming models return, with their ntstatus.h names and values.

One enum for host.mxf and host.avstream, so a status reads the same (and compares equal) in both and
logs read like a kernel trace.
"""

from __future__ import annotations

import enum


class NtStatus(enum.IntEnum):
    """The NTSTATUS values the models use (names and values as in ntstatus.h)."""

    STATUS_SUCCESS = 0x00000000
    STATUS_TIMEOUT = 0x00000102
    STATUS_PENDING = 0x00000103
    STATUS_BUFFER_OVERFLOW = 0x80000005
    """Warning: a zero-length query; IoStatus.Information carries the size needed."""
    STATUS_UNSUCCESSFUL = 0xC0000001
    STATUS_INVALID_PARAMETER = 0xC000000D
    STATUS_BUFFER_TOO_SMALL = 0xC0000023
    STATUS_INSUFFICIENT_RESOURCES = 0xC000009A
    STATUS_DEVICE_NOT_READY = 0xC00000A3
    STATUS_CANCELLED = 0xC0000120
    STATUS_INVALID_DEVICE_STATE = 0xC0000184
    STATUS_NOT_FOUND = 0xC0000225

    @property
    def is_success(self) -> bool:
        """NT_SUCCESS(): true for success and informational codes (severity 0 or 1), false for
        warnings and errors (the NTSTATUS, read as a signed LONG, is negative)."""
        return self.value < 0x80000000


# Module-level aliases for hot paths: reading an enum member through its class costs a descriptor
# call on Python 3.11 (about 0.2 us here), reading a module global does not.
STATUS_SUCCESS = NtStatus.STATUS_SUCCESS
STATUS_UNSUCCESSFUL = NtStatus.STATUS_UNSUCCESSFUL
STATUS_INSUFFICIENT_RESOURCES = NtStatus.STATUS_INSUFFICIENT_RESOURCES

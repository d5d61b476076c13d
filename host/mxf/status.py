"""NTSTATUS-like status codes and KSSTATE values the MXF model returns and accepts.

The numeric values are the ones ntstatus.h and ks.h define, so logs read like a kernel trace.
"""

from __future__ import annotations

import enum


class NtStatus(enum.IntEnum):
    """The NTSTATUS values IMXF and IAllocatorMXF methods return in this model."""

    STATUS_SUCCESS = 0x00000000
    STATUS_BUFFER_OVERFLOW = 0x80000005
    STATUS_UNSUCCESSFUL = 0xC0000001
    STATUS_INVALID_PARAMETER = 0xC000000D
    STATUS_BUFFER_TOO_SMALL = 0xC0000023
    STATUS_INSUFFICIENT_RESOURCES = 0xC000009A
    STATUS_INVALID_DEVICE_STATE = 0xC0000184

    @property
    def ok(self) -> bool:
        """NT_SUCCESS(): true for success and informational codes (severity bits 0 or 1)."""
        return (int(self) >> 30) in (0, 1)


class KsState(enum.IntEnum):
    """KSSTATE as ks.h numbers it; IMXF::SetState takes one of these."""

    STOP = 0
    ACQUIRE = 1
    PAUSE = 2
    RUN = 3


# Module-level aliases for hot paths: reading an enum member through its class costs a descriptor
# call on Python 3.11 (about 0.2 us here), reading a module global does not.
STATUS_SUCCESS = NtStatus.STATUS_SUCCESS
STATUS_UNSUCCESSFUL = NtStatus.STATUS_UNSUCCESSFUL
STATUS_INSUFFICIENT_RESOURCES = NtStatus.STATUS_INSUFFICIENT_RESOURCES
KSSTATE_STOP = KsState.STOP
KSSTATE_ACQUIRE = KsState.ACQUIRE
KSSTATE_PAUSE = KsState.PAUSE
KSSTATE_RUN = KsState.RUN

"""NTSTATUS codes the AVStream model returns, with their real Windows values."""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    """The NTSTATUS values used by the model (values as in ntstatus.h)."""

    SUCCESS = 0x00000000
    TIMEOUT = 0x00000102
    PENDING = 0x00000103
    BUFFER_OVERFLOW = 0x80000005
    """Warning: a zero-length query; IoStatus.Information carries the size needed."""
    UNSUCCESSFUL = 0xC0000001
    INVALID_PARAMETER = 0xC000000D
    BUFFER_TOO_SMALL = 0xC0000023
    INSUFFICIENT_RESOURCES = 0xC000009A
    DEVICE_NOT_READY = 0xC00000A3
    CANCELLED = 0xC0000120
    INVALID_DEVICE_STATE = 0xC0000184
    NOT_FOUND = 0xC0000225

    @property
    def is_success(self) -> bool:
        """NT_SUCCESS: severity success or informational (warnings and errors are not)."""
        return self.value < 0x80000000

"""Exceptions of the AVStream model; each also inherits the built-in a caller would naturally catch."""

from __future__ import annotations

from host.ks.errors import KsError
from host.ks.status import NtStatus


class AvStreamError(KsError):
    """Base of every error the AVStream model raises."""


class FramingError(AvStreamError, ValueError):
    """A KSALLOCATOR_FRAMING_EX is malformed or inconsistent; the message names the item and field."""


class AllocatorError(AvStreamError, RuntimeError):
    """An allocator could not be created or was used against its contract."""


class AllocatorInitError(AllocatorError, ValueError):
    """InitializeAllocator failed; `status` is the creation error it returned."""

    def __init__(self, message: str, status: NtStatus = NtStatus.STATUS_INVALID_PARAMETER) -> None:
        super().__init__(message)
        self.status = status


class FramingLimitExceeded(AllocatorInitError):
    """A framing asks for more frames or bytes than the host allocates (allocators.MAX_FRAMES,
    MAX_ALLOCATOR_BYTES); `field` and `value` name what was too large. STATUS_INSUFFICIENT_RESOURCES."""

    def __init__(self, message: str, field: str, value: int, limit: int) -> None:
        super().__init__(message, NtStatus.STATUS_INSUFFICIENT_RESOURCES)
        self.field = field
        self.value = value
        self.limit = limit


class AllocatorMisuse(AllocatorError, ValueError):
    """Checked mode caught a contract violation: double free, foreign frame, use after delete."""


class FrameLeak(AllocatorError):
    """Frames were still outstanding when the books were checked (checked mode)."""


class SelectionError(AvStreamError, ValueError):
    """Allocator selection was asked something it cannot answer (bad candidate, bad connection)."""


class StreamPointerError(AvStreamError, RuntimeError):
    """A stream pointer was used against its contract (deleted, not locked, deleting an edge...)."""


class ProcessingStalled(AvStreamError, RuntimeError):
    """The process callback kept returning SUCCESS without making any progress."""

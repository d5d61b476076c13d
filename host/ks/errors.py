"""The errors every kernel-streaming model shares; each also inherits the built-in a caller would
naturally catch. host.mxf's MxfError and host.avstream's AvStreamError derive from KsError."""

from __future__ import annotations

from host.ks.status import NtStatus


class KsError(Exception):
    """Base of every error host.mxf, host.avstream and host.ks raise."""


class PoolExhausted(KsError, RuntimeError):
    """A pool had no free event, buffer or frame (raised only where the caller asked for an exception
    instead of the status)."""

    status = NtStatus.STATUS_INSUFFICIENT_RESOURCES

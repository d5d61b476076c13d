"""host.ks: the kernel-streaming vocabulary host.mxf and host.avstream share: NTSTATUS codes, KSSTATE
and the errors both raise, each defined once with the values ntstatus.h and ks.h give them."""

from __future__ import annotations

from host.ks.errors import KsError, PoolExhausted
from host.ks.state import KsState
from host.ks.status import NtStatus

__all__ = ["KsError", "KsState", "NtStatus", "PoolExhausted"]

"""host.ks: one NTSTATUS enum, one KsState and one PoolExhausted, the same objects in host.mxf and
host.avstream, with the values ntstatus.h and ks.h give them (kernel-streaming.md A2, B1-B3)."""

from __future__ import annotations

import host.avstream
import host.ks
import host.mxf
from host.avstream.errors import AvStreamError
from host.ks import KsError, KsState, NtStatus, PoolExhausted
from host.mxf.errors import MxfError


def test_both_models_share_one_vocabulary() -> None:
    assert host.mxf.NtStatus is host.avstream.NtStatus is host.ks.NtStatus
    assert host.mxf.KsState is host.avstream.KsState is host.ks.KsState
    assert host.mxf.PoolExhausted is host.ks.PoolExhausted
    assert issubclass(MxfError, KsError) and issubclass(AvStreamError, KsError)
    assert issubclass(PoolExhausted, KsError) and issubclass(PoolExhausted, RuntimeError)
    assert PoolExhausted.status == NtStatus.STATUS_INSUFFICIENT_RESOURCES


def test_values_are_the_headers() -> None:
    assert [(s.name, s.value) for s in KsState] == [("STOP", 0), ("ACQUIRE", 1), ("PAUSE", 2), ("RUN", 3)]
    assert {s.name: s.value for s in NtStatus} == {
        "STATUS_SUCCESS": 0x00000000,
        "STATUS_TIMEOUT": 0x00000102,
        "STATUS_PENDING": 0x00000103,
        "STATUS_BUFFER_OVERFLOW": 0x80000005,
        "STATUS_UNSUCCESSFUL": 0xC0000001,
        "STATUS_INVALID_PARAMETER": 0xC000000D,
        "STATUS_BUFFER_TOO_SMALL": 0xC0000023,
        "STATUS_INSUFFICIENT_RESOURCES": 0xC000009A,
        "STATUS_DEVICE_NOT_READY": 0xC00000A3,
        "STATUS_CANCELLED": 0xC0000120,
        "STATUS_INVALID_DEVICE_STATE": 0xC0000184,
        "STATUS_NOT_FOUND": 0xC0000225,
    }


def test_is_success_is_nt_success() -> None:
    """NT_SUCCESS: the NTSTATUS as a signed LONG is >= 0 (success and informational, not warnings)."""
    for status in NtStatus:
        signed = status.value - (1 << 32) if status.value & 0x80000000 else status.value
        assert status.is_success == (signed >= 0), status
    assert NtStatus.STATUS_PENDING.is_success and not NtStatus.STATUS_BUFFER_OVERFLOW.is_success

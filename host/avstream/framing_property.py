"""KSPROPERTY_CONNECTION_ALLOCATORFRAMING_EX get semantics (kernel-streaming.md B1, as ReactOS does it).

Get-only on a pin. A zero-length query returns BUFFER_OVERFLOW with the size needed in
`information`; a buffer shorter than the structure returns BUFFER_TOO_SMALL (information 0); a pin
with no framing returns NOT_FOUND; otherwise SUCCESS with the bytes and their length.
"""

from __future__ import annotations

from dataclasses import dataclass

from host.avstream.framing import AllocatorFramingEx
from host.ks.status import NtStatus


@dataclass(frozen=True, slots=True)
class PropertyResult:
    """What a property request returns: the status, IoStatus.Information and the data written."""

    status: NtStatus
    information: int = 0
    data: bytes = b""


def get_allocator_framing_ex(framing: AllocatorFramingEx | None, buffer_length: int) -> PropertyResult:
    """Answer a KSPROPERTY_CONNECTION_ALLOCATORFRAMING_EX get with an output buffer of `buffer_length`."""
    if buffer_length < 0:
        raise ValueError(f"buffer_length must be >= 0, got {buffer_length}")
    if framing is None:
        return PropertyResult(NtStatus.STATUS_NOT_FOUND)
    size = framing.size
    if buffer_length == 0:
        return PropertyResult(NtStatus.STATUS_BUFFER_OVERFLOW, information=size)
    if buffer_length < size:
        return PropertyResult(NtStatus.STATUS_BUFFER_TOO_SMALL)
    return PropertyResult(NtStatus.STATUS_SUCCESS, information=size, data=framing.to_bytes())

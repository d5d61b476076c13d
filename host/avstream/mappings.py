"""DMA-style mappings (B3): a registered adapter splits each frame into KSMAPPINGs of at most
`max_mapping_bytes` bytes (physical address, byte count, alignment)."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from host.avstream.allocators import PAGE_SIZE, Frame


@dataclass(frozen=True, slots=True)
class KsMapping:
    """KSMAPPING. `alignment` is "the memory alignment in bytes for this buffer" (ks.h docs); the
    model reports the address's natural alignment: the largest power of two dividing
    PhysicalAddress, capped at PAGE_SIZE."""

    physical_address: int
    byte_count: int
    alignment: int


@dataclass(frozen=True, slots=True)
class DmaAdapter:
    """KsDeviceRegisterAdapterObject: the most bytes one mapping may cover and the table stride."""

    max_mapping_bytes: int
    mapping_stride: int = 16

    def __post_init__(self) -> None:
        if self.max_mapping_bytes <= 0:
            raise ValueError(f"max_mapping_bytes must be > 0, got {self.max_mapping_bytes}")
        if self.mapping_stride < 16:
            raise ValueError(f"mapping_stride must be >= sizeof(KSMAPPING) = 16, got {self.mapping_stride}")

    def map(self, buffer: memoryview, frame: Frame | None) -> tuple[KsMapping, ...]:
        """Mappings covering the whole buffer in chunks of at most max_mapping_bytes."""
        base = frame.physical_address if frame is not None else _address_of(buffer)
        size, step = len(buffer), self.max_mapping_bytes
        return tuple(KsMapping(base + o, min(step, size - o), _natural_alignment(base + o))
                     for o in range(0, size, step))


def _natural_alignment(address: int) -> int:
    if address == 0:
        return PAGE_SIZE
    return min(address & -address, PAGE_SIZE)


def _address_of(buffer: memoryview) -> int:
    """The address of a writable buffer; 0 for read-only ones (their mappings are offsets)."""
    if buffer.readonly or not len(buffer):
        return 0
    return ctypes.addressof(ctypes.c_char.from_buffer(buffer))

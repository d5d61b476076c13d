"""KSALLOCATOR_FRAMING: the resolved, 24-byte framing an allocator is created with.

"PFNKSPININITIALIZEALLOCATOR callback function (ks.h)": AVStrMiniInitializeAllocator receives a
PKSALLOCATOR_FRAMING — one FrameSize, Frames, FileAlignment and PoolType — not the EX structure of
ranges the pin declares. "KSALLOCATOR_FRAMING structure (ks.h)" gives the layout: the OptionsFlags /
RequirementsFlags union, PoolType, Frames, FrameSize, the FileAlignment / FramePitch union, Reserved.

How the graph manager narrows an EX item to this structure is [UNVERIFIED] (no public page says);
`resolve_framing` is the model's rule: the item's flags as RequirementsFlags, PagedPool for
KSMEMORY_TYPE_KERNEL_PAGED and NonPagedPool otherwise, the chosen frame size and count, the item's
FileAlignment / FramePitch union, Reserved 0.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from host.avstream.errors import FramingError
from host.avstream.framing import AllocatorFlag, AllocatorFramingEx, FramingItem
from host.avstream.guids import KSMEMORY_TYPE_KERNEL_PAGED

LAYOUT = struct.Struct("<6I")
"""OptionsFlags|RequirementsFlags, PoolType, Frames, FrameSize, FileAlignment|FramePitch (as the
unsigned ULONG), Reserved."""
SIZE = LAYOUT.size
assert SIZE == 24

KSALLOCATOR_OPTIONF_VALID = 0x3
"""ks.h: the OptionsFlags bits that are defined (COMPATIBLE | SYSTEM_MEMORY)."""


class PoolType(enum.IntEnum):
    """POOL_TYPE values an allocator's kernel pool can be (wdm.h; only the two the model uses)."""

    NON_PAGED = 0
    PAGED = 1


@dataclass(frozen=True, slots=True)
class AllocatorFraming:
    """KSALLOCATOR_FRAMING. `file_alignment` holds the FileAlignment / FramePitch union as a ULONG;
    with KSALLOCATOR_FLAG_2D_BUFFER_REQUIRED in RequirementsFlags it is a FramePitch."""

    requirements_flags: int
    pool_type: int
    frames: int
    frame_size: int
    file_alignment: int = 0
    reserved: int = 0

    @property
    def options_flags(self) -> int:
        """The same ULONG read as OptionsFlags (the other member of the union)."""
        return self.requirements_flags

    @property
    def is_2d(self) -> bool:
        """Whether the FileAlignment / FramePitch union holds a FramePitch."""
        return bool(self.requirements_flags & AllocatorFlag.TWO_D_BUFFER_REQUIRED)

    @property
    def alignment_mask(self) -> int:
        """The frames' alignment as a mask (0 when the union is a FramePitch)."""
        return 0 if self.is_2d else self.file_alignment

    def validate(self) -> AllocatorFraming:
        """Raise FramingError naming the first field that is not a ULONG; return self."""
        for name, value in (("RequirementsFlags", self.requirements_flags), ("PoolType", self.pool_type),
                            ("Frames", self.frames), ("FrameSize", self.frame_size),
                            ("FileAlignment", self.file_alignment), ("Reserved", self.reserved)):
            if not 0 <= value <= 0xFFFFFFFF:
                raise FramingError(f"KSALLOCATOR_FRAMING.{name} = {value} is not a ULONG")
        return self

    def to_bytes(self) -> bytes:
        """The 24-byte C layout."""
        self.validate()
        return LAYOUT.pack(self.requirements_flags, self.pool_type, self.frames, self.frame_size,
                                   self.file_alignment, self.reserved)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> AllocatorFraming:
        """Parse exactly 24 bytes (FramingError otherwise)."""
        raw = bytes(data)
        if len(raw) != SIZE:
            raise FramingError(f"KSALLOCATOR_FRAMING is {SIZE} bytes, got {len(raw)}")
        return cls(*LAYOUT.unpack(raw))


def resolve_framing(item: FramingItem, frame_size: int, frames: int) -> AllocatorFraming:
    """The model's [UNVERIFIED] narrowing of one EX item to the framing an allocator is created with."""
    pool = PoolType.PAGED if item.memory_type == KSMEMORY_TYPE_KERNEL_PAGED else PoolType.NON_PAGED
    return AllocatorFraming(item.flags, pool, frames, frame_size, item.file_alignment).validate()


def resolve_ex(framing: AllocatorFramingEx) -> AllocatorFraming:
    """Item 0 narrowed at its largest size legal in FramingRange and PhysicalRange (0 when they do
    not meet, which an allocator rejects), with its own Frames."""
    item = framing.validate().items[0]
    return resolve_framing(item, item.preferred_frame_size or 0, item.frames)


__all__ = ["KSALLOCATOR_OPTIONF_VALID", "SIZE", "AllocatorFraming", "PoolType", "resolve_ex",
           "resolve_framing"]

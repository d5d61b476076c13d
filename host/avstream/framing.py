"""KSALLOCATOR_FRAMING_EX and its parts (kernel-streaming.md B1): flags, validation, and the exact
C layout (little-endian, natural alignment, GUIDs mixed-endian) the board reports its framing in.

Layout: the header before FramingItem[] is 24 bytes (CountItems, PinFlags, OutputCompression,
PinWeight); each KS_FRAMING_ITEM is 88 bytes; one item is therefore 112 bytes in all.
"""

from __future__ import annotations

import enum
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from host.avstream.errors import FramingError
from host.avstream.guids import GUID_NULL

ULONG_MAX = 0xFFFFFFFF

HEADER = struct.Struct("<6I")
"""CountItems, PinFlags, RatioNumerator, RatioDenominator, RatioConstantMargin, PinWeight."""
ITEM = struct.Struct("<16s16s14I")
"""MemoryType, BusType, MemoryFlags, BusFlags, Flags, Frames, FileAlignment|FramePitch,
MemoryTypeWeight, PhysicalRange(3), FramingRange.Range(3), InPlaceWeight, NotInPlaceWeight."""
HEADER_SIZE = HEADER.size
ITEM_SIZE = ITEM.size
assert HEADER_SIZE == 24 and ITEM_SIZE == 88

HEADER_FIELD_OFFSETS: dict[str, int] = {
    "CountItems": 0, "PinFlags": 4, "OutputCompression.RatioNumerator": 8,
    "OutputCompression.RatioDenominator": 12, "OutputCompression.RatioConstantMargin": 16, "PinWeight": 20,
}
"""Byte offset of each header field (used to name offsets in error messages)."""
ITEM_FIELD_OFFSETS: dict[str, int] = {
    "MemoryType": 0, "BusType": 16, "MemoryFlags": 32, "BusFlags": 36, "Flags": 40, "Frames": 44,
    "FileAlignment": 48, "MemoryTypeWeight": 52,
    "PhysicalRange.MinFrameSize": 56, "PhysicalRange.MaxFrameSize": 60, "PhysicalRange.Stepping": 64,
    "FramingRange.Range.MinFrameSize": 68, "FramingRange.Range.MaxFrameSize": 72,
    "FramingRange.Range.Stepping": 76, "FramingRange.InPlaceWeight": 80, "FramingRange.NotInPlaceWeight": 84,
}
"""Byte offset of each field inside one KS_FRAMING_ITEM."""


class AllocatorRequirement(enum.IntFlag):
    """KSALLOCATOR_REQUIREMENTF_* bits (KS_FRAMING_ITEM.Flags and .MemoryFlags)."""

    INPLACE_MODIFIER = 0x1
    SYSTEM_MEMORY = 0x2
    FRAME_INTEGRITY = 0x4
    MUST_ALLOCATE = 0x8
    PREFERENCES_ONLY = 0x80000000


class AllocatorOption(enum.IntFlag):
    """KSALLOCATOR_OPTIONF_* bits."""

    COMPATIBLE = 0x1
    SYSTEM_MEMORY = 0x2


class AllocatorFlag(enum.IntFlag):
    """KSALLOCATOR_FLAG_* bits (KS_FRAMING_ITEM.Flags). TWO_D_BUFFER_REQUIRED is FLAG_2D_BUFFER_REQUIRED."""

    PARTIAL_READ_SUPPORT = 0x10
    DEVICE_SPECIFIC = 0x20
    CAN_ALLOCATE = 0x40
    INSIST_ON_FRAMESIZE_RATIO = 0x80
    NO_FRAME_INTEGRITY = 0x100
    MULTIPLE_OUTPUT = 0x200
    CYCLE = 0x400
    ALLOCATOR_EXISTS = 0x800
    INDEPENDENT_RANGES = 0x1000
    ATTENTION_STEPPING = 0x2000
    ENABLE_CACHED_MDL = 0x4000
    TWO_D_BUFFER_REQUIRED = 0x8000


class FileAlignment(enum.IntEnum):
    """FILE_*_ALIGNMENT masks (an alignment is a mask: 2**n - 1)."""

    BYTE = 0
    WORD = 1
    LONG = 3
    QUAD = 7
    OCTA = 0xF
    BYTES_32 = 0x1F
    BYTES_64 = 0x3F
    BYTES_128 = 0x7F
    BYTES_256 = 0xFF
    BYTES_512 = 0x1FF


def is_alignment_mask(value: int) -> bool:
    """True when value is 2**n - 1 (0, 1, 3, 7, ...), the form FileAlignment takes."""
    return value >= 0 and value & (value + 1) == 0


@dataclass(frozen=True, slots=True)
class FramingRange:
    """KS_FRAMING_RANGE: frame sizes Min..Max in steps of Stepping (0 = any size in the range)."""

    min_frame_size: int
    max_frame_size: int
    stepping: int = 0

    def allows(self, size: int) -> bool:
        """Whether `size` is a legal frame size in this range."""
        if not self.min_frame_size <= size <= self.max_frame_size:
            return False
        return self.stepping <= 1 or (size - self.min_frame_size) % self.stepping == 0

    def largest_within(self, low: int, high: int) -> int | None:
        """The largest legal size of this range that also lies in low..high, or None."""
        lo, hi = max(low, self.min_frame_size), min(high, self.max_frame_size)
        if lo > hi:
            return None
        if self.stepping > 1:
            hi = self.min_frame_size + (hi - self.min_frame_size) // self.stepping * self.stepping
        return hi if hi >= lo else None


DONT_CARE_RANGE = FramingRange(0, ULONG_MAX, 1)
"""PhysicalRange "don't care" as DECLARE_SIMPLE_FRAMING_EX sets it."""


@dataclass(frozen=True, slots=True)
class FramingRangeWeighted:
    """KS_FRAMING_RANGE_WEIGHTED: the optimal range; the weights are reserved (0)."""

    range: FramingRange
    in_place_weight: int = 0
    not_in_place_weight: int = 0


@dataclass(frozen=True, slots=True)
class Compression:
    """KS_COMPRESSION: output/input size ratio for size-changing transforms (1:1 + 0 by default)."""

    ratio_numerator: int = 1
    ratio_denominator: int = 1
    ratio_constant_margin: int = 0


@dataclass(frozen=True, slots=True)
class FramingItem:
    """KS_FRAMING_ITEM: one set of allocator requirements a pin accepts.

    `file_alignment` holds the FileAlignment/FramePitch union as the unsigned ULONG; when
    Flags has TWO_D_BUFFER_REQUIRED the union is read as FramePitch (see `frame_pitch`) and is not
    checked as an alignment mask ([UNVERIFIED] choice: no source says which member is live when).
    """

    memory_type: uuid.UUID
    framing_range: FramingRangeWeighted
    bus_type: uuid.UUID = GUID_NULL
    memory_flags: int = 0
    bus_flags: int = 0
    flags: int = 0
    frames: int = 0
    file_alignment: int = 0
    memory_type_weight: int = 0
    physical_range: FramingRange = DONT_CARE_RANGE

    @property
    def frame_pitch(self) -> int:
        """The union read as FramePitch (a signed LONG)."""
        return self.file_alignment - (1 << 32) if self.file_alignment & 0x80000000 else self.file_alignment

    @property
    def is_2d(self) -> bool:
        """Whether the FileAlignment/FramePitch union holds a FramePitch."""
        return bool(self.flags & AllocatorFlag.TWO_D_BUFFER_REQUIRED)

    @property
    def alignment_mask(self) -> int:
        """The alignment the frames need as a mask (0 when the union is a FramePitch)."""
        return 0 if self.is_2d else self.file_alignment

    @property
    def preferred_frame_size(self) -> int | None:
        """The largest size legal in both FramingRange and PhysicalRange, or None if they don't meet."""
        phys = self.physical_range
        return self.framing_range.range.largest_within(phys.min_frame_size, phys.max_frame_size)


@dataclass(frozen=True, slots=True)
class AllocatorFramingEx:
    """KSALLOCATOR_FRAMING_EX. `count_items` defaults to len(items); a different value is kept
    (so malformed structures can be represented and serialized) and rejected by `validate`."""

    items: tuple[FramingItem, ...]
    pin_flags: int = 0
    output_compression: Compression = field(default_factory=Compression)
    pin_weight: int = 0
    count_items: int = -1

    def __post_init__(self) -> None:
        if not isinstance(self.items, tuple):
            object.__setattr__(self, "items", tuple(self.items))
        if self.count_items == -1:
            object.__setattr__(self, "count_items", len(self.items))

    @property
    def size(self) -> int:
        """Bytes the structure occupies: FIELD_OFFSET(FramingItem) + CountItems * sizeof(KS_FRAMING_ITEM)."""
        return HEADER_SIZE + len(self.items) * ITEM_SIZE

    def validate(self, *, strict: bool = False, independent_ranges_waive: bool = True) -> AllocatorFramingEx:
        """Raise FramingError naming the item index, field and byte offset of the first problem;
        return self when valid. `strict` also requires the reserved fields (weights, PinFlags) to be 0.

        An item's FramingRange must have a size inside its PhysicalRange. With
        `independent_ranges_waive` (the default) KSALLOCATOR_FLAG_INDEPENDENT_RANGES waives that:
        [UNVERIFIED] ks.h says only "no framing dependency between neighbouring pipes" and the
        KS_FRAMING_ITEM page is silent, so False applies the check to every item."""
        if self.count_items != len(self.items):
            raise FramingError(
                f"CountItems (offset 0) is {self.count_items} but the structure holds"
                f" {len(self.items)} items")
        if not self.items:
            raise FramingError("CountItems (offset 0) is 0: a framing needs at least one item")
        comp = self.output_compression
        if comp.ratio_denominator == 0:
            raise FramingError("OutputCompression.RatioDenominator (offset 12) is 0: the ratio is undefined")
        if strict:
            for name, value in (("PinFlags", self.pin_flags), ("PinWeight", self.pin_weight)):
                if value:
                    offset = HEADER_FIELD_OFFSETS[name]
                    raise FramingError(f"{name} (offset {offset}) is reserved and must be 0, got {value:#x}")
        for index, item in enumerate(self.items):
            _validate_item(index, item, strict, independent_ranges_waive)
        for name, value in _header_ulongs(self):
            _check_ulong(name, HEADER_FIELD_OFFSETS[name], value)
        return self

    def to_bytes(self) -> bytes:
        """The exact C layout (CountItems as stored, then every item)."""
        for name, value in _header_ulongs(self):
            _check_ulong(name, HEADER_FIELD_OFFSETS[name], value)
        comp = self.output_compression
        parts = [HEADER.pack(self.count_items, self.pin_flags, comp.ratio_numerator, comp.ratio_denominator,
                             comp.ratio_constant_margin, self.pin_weight)]
        for index, item in enumerate(self.items):
            base = HEADER_SIZE + index * ITEM_SIZE
            for name, value in _item_ulongs(item):
                _check_ulong(f"item {index} {name}", base + ITEM_FIELD_OFFSETS[name], value)
            fr = item.framing_range
            parts.append(ITEM.pack(
                item.memory_type.bytes_le, item.bus_type.bytes_le, item.memory_flags, item.bus_flags,
                item.flags, item.frames, item.file_alignment, item.memory_type_weight,
                item.physical_range.min_frame_size, item.physical_range.max_frame_size,
                item.physical_range.stepping, fr.range.min_frame_size, fr.range.max_frame_size,
                fr.range.stepping, fr.in_place_weight, fr.not_in_place_weight))
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, *, validate: bool = True,
                   exact_length: bool = True) -> AllocatorFramingEx:
        """Parse the C layout. Truncated data, or a CountItems that does not match the length
        (`exact_length=False` allows trailing bytes), raises FramingError naming the offset."""
        raw = bytes(data)
        if len(raw) < HEADER_SIZE:
            raise FramingError(f"truncated framing: the header needs {HEADER_SIZE} bytes from offset 0,"
                               f" got {len(raw)}")
        count, pin_flags, num, den, margin, pin_weight = HEADER.unpack_from(raw, 0)
        needed = HEADER_SIZE + count * ITEM_SIZE
        if len(raw) < needed:
            whole = (len(raw) - HEADER_SIZE) // ITEM_SIZE
            raise FramingError(
                f"truncated framing: CountItems (offset 0) = {count} needs {needed} bytes, got {len(raw)};"
                f" item {whole} at offset {HEADER_SIZE + whole * ITEM_SIZE} is missing or cut short")
        if exact_length and len(raw) != needed:
            raise FramingError(
                f"CountItems (offset 0) = {count} implies {needed} bytes but the data has {len(raw)};"
                f" unexpected bytes from offset {needed}")
        items = []
        for index in range(count):
            f = ITEM.unpack_from(raw, HEADER_SIZE + index * ITEM_SIZE)
            items.append(FramingItem(
                memory_type=uuid.UUID(bytes_le=f[0]), bus_type=uuid.UUID(bytes_le=f[1]),
                memory_flags=f[2], bus_flags=f[3], flags=f[4], frames=f[5], file_alignment=f[6],
                memory_type_weight=f[7], physical_range=FramingRange(f[8], f[9], f[10]),
                framing_range=FramingRangeWeighted(FramingRange(f[11], f[12], f[13]), f[14], f[15])))
        framing = cls(tuple(items), pin_flags, Compression(num, den, margin), pin_weight, count)
        return framing.validate() if validate else framing

    def __iter__(self) -> Iterator[FramingItem]:
        return iter(self.items)


def simple_framing(memory_type: uuid.UUID, flags: int, frames: int, alignment: int, min_size: int,
                   max_size: int) -> AllocatorFramingEx:
    """DECLARE_SIMPLE_FRAMING_EX: one item, 1:1 compression, PhysicalRange don't-care (0..0xFFFFFFFF
    step 1), FramingRange min..max step 1, bus type don't-care, MemoryFlags 0. Validated."""
    item = FramingItem(memory_type=memory_type, flags=int(flags), frames=frames, file_alignment=alignment,
                       framing_range=FramingRangeWeighted(FramingRange(min_size, max_size, 1)))
    return AllocatorFramingEx((item,)).validate()


def _header_ulongs(f: AllocatorFramingEx) -> list[tuple[str, int]]:
    c = f.output_compression
    return [("CountItems", f.count_items), ("PinFlags", f.pin_flags),
            ("OutputCompression.RatioNumerator", c.ratio_numerator),
            ("OutputCompression.RatioDenominator", c.ratio_denominator),
            ("OutputCompression.RatioConstantMargin", c.ratio_constant_margin), ("PinWeight", f.pin_weight)]


def _item_ulongs(item: FramingItem) -> list[tuple[str, int]]:
    p, fr = item.physical_range, item.framing_range
    return [("MemoryFlags", item.memory_flags), ("BusFlags", item.bus_flags), ("Flags", item.flags),
            ("Frames", item.frames), ("FileAlignment", item.file_alignment),
            ("MemoryTypeWeight", item.memory_type_weight),
            ("PhysicalRange.MinFrameSize", p.min_frame_size),
            ("PhysicalRange.MaxFrameSize", p.max_frame_size),
            ("PhysicalRange.Stepping", p.stepping),
            ("FramingRange.Range.MinFrameSize", fr.range.min_frame_size),
            ("FramingRange.Range.MaxFrameSize", fr.range.max_frame_size),
            ("FramingRange.Range.Stepping", fr.range.stepping),
            ("FramingRange.InPlaceWeight", fr.in_place_weight),
            ("FramingRange.NotInPlaceWeight", fr.not_in_place_weight)]


def _check_ulong(name: str, offset: int, value: int) -> None:
    if not isinstance(value, int) or not 0 <= value <= ULONG_MAX:
        raise FramingError(f"{name} (offset {offset}) must be a ULONG 0..0xFFFFFFFF, got {value!r}")


def _validate_item(index: int, item: FramingItem, strict: bool, independent_ranges_waive: bool) -> None:
    base = HEADER_SIZE + index * ITEM_SIZE

    def fail(name: str, problem: str) -> FramingError:
        offset = base + ITEM_FIELD_OFFSETS[name]
        return FramingError(f"framing item {index} {name} (offset {offset}): {problem}")

    for name, value in _item_ulongs(item):
        if not isinstance(value, int) or not 0 <= value <= ULONG_MAX:
            raise fail(name, f"must be a ULONG 0..0xFFFFFFFF, got {value!r}")
    ranges = (("PhysicalRange", item.physical_range), ("FramingRange.Range", item.framing_range.range))
    for prefix, rng in ranges:
        if rng.max_frame_size == 0:
            raise fail(f"{prefix}.MaxFrameSize", "frame size is 0: a frame must hold at least one byte")
        if rng.min_frame_size > rng.max_frame_size:
            raise fail(f"{prefix}.MinFrameSize",
                       f"MinFrameSize {rng.min_frame_size} is above MaxFrameSize {rng.max_frame_size}")
        # A single-size range (Min == Max) ignores Stepping: DECLARE_SIMPLE_FRAMING_EX sets 1 there.
        span = rng.max_frame_size - rng.min_frame_size
        if span and rng.stepping > span:
            raise fail(f"{prefix}.Stepping", f"Stepping {rng.stepping} is above Max-Min = {span}")
    if not item.is_2d and not is_alignment_mask(item.file_alignment):
        raise fail("FileAlignment",
                   f"{item.file_alignment:#x} is not an alignment mask 2**n-1 (0, 1, 3, 7, ...)")
    waived = independent_ranges_waive and item.flags & AllocatorFlag.INDEPENDENT_RANGES
    if not waived and item.preferred_frame_size is None:
        raise fail("FramingRange.Range.MinFrameSize",
                   f"the optimal range {item.framing_range.range.min_frame_size}..."
                   f"{item.framing_range.range.max_frame_size} has no legal size inside the physical limit"
                   f" {item.physical_range.min_frame_size}..{item.physical_range.max_frame_size}")
    if strict:
        for name, value in (("FramingRange.InPlaceWeight", item.framing_range.in_place_weight),
                            ("FramingRange.NotInPlaceWeight", item.framing_range.not_in_place_weight)):
            if value:
                raise fail(name, f"is reserved and must be 0, got {value:#x}")

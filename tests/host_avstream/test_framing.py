"""Framing (kernel-streaming.md B1): flags, simple framing, validation and the exact C layout."""

from __future__ import annotations

import dataclasses
import struct
import uuid
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.avstream import (
    KSALLOCATOR_OPTIONF_VALID,
    AllocatorFlag,
    AllocatorFraming,
    AllocatorFramingEx,
    AllocatorOption,
    AllocatorRequirement,
    Compression,
    FileAlignment,
    FramingError,
    FramingItem,
    FramingRange,
    FramingRangeWeighted,
    NtStatus,
    PoolType,
    bus_type_name,
    get_allocator_framing_ex,
    simple_framing,
)
from host.avstream import guids as g

pytestmark = pytest.mark.spec("B1")


def avshws_like() -> AllocatorFramingEx:
    return simple_framing(g.KSMEMORY_TYPE_KERNEL_NONPAGED,
                          AllocatorRequirement.SYSTEM_MEMORY | AllocatorRequirement.PREFERENCES_ONLY,
                          2, FileAlignment.BYTE, 320 * 240 * 3, 320 * 240 * 3)


def test_flag_values_match_ks_h() -> None:
    assert int(AllocatorRequirement.INPLACE_MODIFIER) == 0x1
    assert int(AllocatorRequirement.SYSTEM_MEMORY) == 0x2
    assert int(AllocatorRequirement.FRAME_INTEGRITY) == 0x4
    assert int(AllocatorRequirement.MUST_ALLOCATE) == 0x8
    assert int(AllocatorRequirement.PREFERENCES_ONLY) == 0x80000000
    assert (AllocatorOption.COMPATIBLE, AllocatorOption.SYSTEM_MEMORY) == (0x1, 0x2)
    assert KSALLOCATOR_OPTIONF_VALID == 0x3 == AllocatorOption.COMPATIBLE | AllocatorOption.SYSTEM_MEMORY
    expected = [0x10, 0x20, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800, 0x1000, 0x2000, 0x4000, 0x8000]
    assert [f.value for f in AllocatorFlag] == expected
    assert int(AllocatorFlag.TWO_D_BUFFER_REQUIRED) == 0x8000
    assert [a.value for a in FileAlignment] == [0, 1, 3, 7, 0xF, 0x1F, 0x3F, 0x7F, 0xFF, 0x1FF]


def test_guid_values() -> None:
    assert g.KSMEMORY_TYPE_WILDCARD == g.GUID_NULL
    assert str(g.KSMEMORY_TYPE_SYSTEM) == "091bb638-603f-11d1-b067-00a0c9062802"
    assert str(g.KSMEMORY_TYPE_USER) == "8cb0fc28-7893-11d1-b069-00a0c9062802"
    assert str(g.KSMEMORY_TYPE_KERNEL_PAGED) == "d833f8f8-7894-11d1-b069-00a0c9062802"
    assert str(g.KSMEMORY_TYPE_KERNEL_NONPAGED) == "4a6d5fc4-7895-11d1-b069-00a0c9062802"
    assert str(g.KSMEMORY_TYPE_DEVICE_UNKNOWN) == "091bb639-603f-11d1-b067-00a0c9062802"
    assert len({g.GUID_BUS_TYPE_PCI, g.GUID_BUS_TYPE_USB, g.GUID_BUS_TYPE_1394, g.GUID_BUS_TYPE_AVC}) == 4
    assert str(g.GUID_BUS_TYPE_USB) == "9d7debbc-c85d-11d1-9eb4-006008c3a19a"
    # "KS_FRAMING_ITEM structure" lists GUID_61883_CLASS as a BusType; "GUID_61883_CLASS" gives it.
    assert str(g.GUID_61883_CLASS) == "7ebefbc0-3200-11d2-b4c2-00a0c9697d07"
    assert bus_type_name(g.GUID_61883_CLASS) == "61883"


def test_ksallocator_framing_layout() -> None:
    """"KSALLOCATOR_FRAMING structure": six ULONGs, 24 bytes, FileAlignment/FramePitch union."""
    f = AllocatorFraming(AllocatorRequirement.SYSTEM_MEMORY, PoolType.NON_PAGED, 3, 4096, FileAlignment.QUAD)
    assert f.to_bytes() == struct.pack("<6I", 2, 0, 3, 4096, 7, 0)
    assert AllocatorFraming.from_bytes(f.to_bytes()) == f and f.options_flags == 2 and f.alignment_mask == 7
    pitch = AllocatorFraming(AllocatorFlag.TWO_D_BUFFER_REQUIRED, PoolType.PAGED, 2, 640 * 480, 640)
    assert pitch.is_2d and pitch.alignment_mask == 0
    with pytest.raises(FramingError, match="24 bytes"):
        AllocatorFraming.from_bytes(bytes(23))
    with pytest.raises(FramingError, match="FrameSize"):
        AllocatorFraming(0, 0, 1, -1).to_bytes()


def test_simple_framing_is_declare_simple_framing_ex() -> None:
    f = simple_framing(g.KSMEMORY_TYPE_KERNEL_PAGED, 0, 25, FileAlignment.QUAD, 100, 4096)
    assert f.count_items == 1 and f.pin_flags == 0 and f.pin_weight == 0
    assert f.output_compression == Compression(1, 1, 0)
    (item,) = f.items
    assert item.memory_type == g.KSMEMORY_TYPE_KERNEL_PAGED and item.bus_type == g.GUID_NULL
    assert item.memory_flags == 0 and item.frames == 25 and item.file_alignment == 7
    assert item.physical_range == FramingRange(0, 0xFFFFFFFF, 1)
    assert item.framing_range == FramingRangeWeighted(FramingRange(100, 4096, 1), 0, 0)


def test_layout_sizes_and_guid_mixed_endian() -> None:
    data = avshws_like().to_bytes()
    assert len(data) == 112
    assert struct.unpack_from("<I", data, 0)[0] == 1
    assert data[24:40] == g.KSMEMORY_TYPE_KERNEL_NONPAGED.bytes_le
    # Data1 little-endian: 4a6d5fc4 -> c4 5f 6d 4a.
    assert data[24:28] == bytes.fromhex("c45f6d4a")
    assert struct.unpack_from("<I", data, 24 + 40)[0] == 0x80000002  # Flags
    assert struct.unpack_from("<I", data, 24 + 44)[0] == 2  # Frames
    assert struct.unpack_from("<3I", data, 24 + 68) == (230400, 230400, 1)


def test_round_trip_two_items() -> None:
    item = avshws_like().items[0]
    other = dataclasses.replace(item, bus_type=g.GUID_BUS_TYPE_USB, frames=4, file_alignment=0x1FF)
    f = AllocatorFramingEx((item, other), output_compression=Compression(2, 1, 16))
    data = f.to_bytes()
    assert len(data) == 24 + 2 * 88
    assert AllocatorFramingEx.from_bytes(data) == f


@pytest.mark.parametrize(("change", "words"), [
    (lambda i: dataclasses.replace(i, framing_range=FramingRangeWeighted(FramingRange(0, 0, 1))),
     ["item 0", "FramingRange.Range.MaxFrameSize", "frame size is 0"]),
    (lambda i: dataclasses.replace(i, framing_range=FramingRangeWeighted(FramingRange(10, 5, 1))),
     ["item 0", "FramingRange.Range.MinFrameSize", "above MaxFrameSize"]),
    (lambda i: dataclasses.replace(i, framing_range=FramingRangeWeighted(FramingRange(10, 20, 11))),
     ["item 0", "FramingRange.Range.Stepping", "above Max-Min"]),
    (lambda i: dataclasses.replace(i, physical_range=FramingRange(10, 20, 11)),
     ["item 0", "PhysicalRange.Stepping"]),
    (lambda i: dataclasses.replace(i, file_alignment=6), ["item 0", "FileAlignment", "0x6"]),
    (lambda i: dataclasses.replace(i, physical_range=FramingRange(1, 100, 1)),
     ["item 0", "physical limit"]),
    (lambda i: dataclasses.replace(i, frames=-1), ["item 0", "Frames", "ULONG"]),
])
def test_validation_names_item_and_field(change: Callable[[FramingItem], FramingItem],
                                         words: list[str]) -> None:
    good = avshws_like().items[0]
    bad = AllocatorFramingEx((good, change(good)))  # the bad one is item 1
    with pytest.raises(FramingError) as info:
        bad.validate()
    message = str(info.value)
    for word in words:
        assert word.replace("item 0", "item 1") in message, message
    assert isinstance(info.value, ValueError)


def test_single_size_range_ignores_stepping_and_2d_pitch_is_not_a_mask() -> None:
    simple_framing(g.KSMEMORY_TYPE_SYSTEM, 0, 2, 0, 64, 64)  # stepping 1 > Max-Min = 0: the macro's own value
    item = dataclasses.replace(avshws_like().items[0], flags=AllocatorFlag.TWO_D_BUFFER_REQUIRED,
                               file_alignment=0xFFFFFF00)
    AllocatorFramingEx((item,)).validate()
    assert item.frame_pitch == -256 and item.alignment_mask == 0


def test_count_items_mismatch_and_zero_items() -> None:
    f = AllocatorFramingEx(avshws_like().items, count_items=2)
    with pytest.raises(FramingError, match=r"CountItems \(offset 0\) is 2"):
        f.validate()
    with pytest.raises(FramingError, match="at least one item"):
        AllocatorFramingEx(()).validate()
    with pytest.raises(FramingError, match="RatioDenominator"):
        AllocatorFramingEx(avshws_like().items, output_compression=Compression(1, 0, 0)).validate()


def test_strict_rejects_reserved_fields() -> None:
    f = dataclasses.replace(avshws_like(), pin_weight=3)
    f.validate()
    with pytest.raises(FramingError, match=r"PinWeight \(offset 20\) is reserved"):
        f.validate(strict=True)


def test_from_bytes_rejects_truncation_and_length_mismatch() -> None:
    data = avshws_like().to_bytes()
    with pytest.raises(FramingError, match="header needs 24 bytes"):
        AllocatorFramingEx.from_bytes(data[:10])
    with pytest.raises(FramingError, match="item 0 at offset 24"):
        AllocatorFramingEx.from_bytes(data[:100])
    with pytest.raises(FramingError, match="unexpected bytes from offset 112"):
        AllocatorFramingEx.from_bytes(data + b"\0" * 8)
    assert AllocatorFramingEx.from_bytes(data + b"\0" * 8, exact_length=False) == avshws_like()
    wrong_count = struct.pack("<I", 2) + data[4:]
    with pytest.raises(FramingError, match=r"CountItems \(offset 0\) = 2 needs 200 bytes"):
        AllocatorFramingEx.from_bytes(wrong_count)
    bad_alignment = bytearray(data)
    struct.pack_into("<I", bad_alignment, 24 + 48, 5)
    with pytest.raises(FramingError, match=r"item 0 FileAlignment \(offset 72\)"):
        AllocatorFramingEx.from_bytes(bad_alignment)
    assert AllocatorFramingEx.from_bytes(bad_alignment, validate=False).items[0].file_alignment == 5


def test_to_bytes_rejects_values_outside_ulong() -> None:
    f = AllocatorFramingEx((dataclasses.replace(avshws_like().items[0], frames=1 << 32),))
    with pytest.raises(FramingError, match=r"item 0 Frames \(offset 68\)"):
        f.to_bytes()


def test_allocator_framing_ex_property_get() -> None:
    f = avshws_like()
    assert get_allocator_framing_ex(None, 112).status == NtStatus.STATUS_NOT_FOUND
    probe = get_allocator_framing_ex(f, 0)
    assert (probe.status, probe.information, probe.data) == (NtStatus.STATUS_BUFFER_OVERFLOW, 112, b"")
    assert get_allocator_framing_ex(f, 111).status == NtStatus.STATUS_BUFFER_TOO_SMALL
    ok = get_allocator_framing_ex(f, 4096)
    assert (ok.status, ok.information, ok.data) == (NtStatus.STATUS_SUCCESS, 112, f.to_bytes())


ulong = st.integers(0, 0xFFFFFFFF)
guids = st.one_of(st.sampled_from([g.GUID_NULL, g.KSMEMORY_TYPE_SYSTEM, g.GUID_BUS_TYPE_USB]),
                  st.builds(uuid.UUID, int=st.integers(0, (1 << 128) - 1)))
ranges = st.builds(FramingRange, ulong, ulong, ulong)
items = st.builds(FramingItem, memory_type=guids, bus_type=guids, memory_flags=ulong, bus_flags=ulong,
                  flags=ulong, frames=ulong, file_alignment=ulong, memory_type_weight=ulong,
                  physical_range=ranges, framing_range=st.builds(FramingRangeWeighted, ranges, ulong, ulong))
framings = st.builds(AllocatorFramingEx, st.lists(items, min_size=0, max_size=4).map(tuple), ulong,
                     st.builds(Compression, ulong, ulong, ulong), ulong)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(framings)
def test_round_trip_any_structure(f: AllocatorFramingEx) -> None:
    assert AllocatorFramingEx.from_bytes(f.to_bytes(), validate=False) == f


valid_framings = st.builds(
    lambda mem, flags, frames, shift, low, span: simple_framing(mem, flags, frames, (1 << shift) - 1, low,
                                                                low + span),
    st.sampled_from([g.KSMEMORY_TYPE_SYSTEM, g.KSMEMORY_TYPE_KERNEL_NONPAGED, g.KSMEMORY_TYPE_USER]),
    st.sampled_from([0, AllocatorRequirement.SYSTEM_MEMORY | AllocatorRequirement.PREFERENCES_ONLY]),
    st.integers(0, 64), st.integers(0, 9), st.integers(1, 1 << 20), st.integers(0, 1 << 20))


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(valid_framings)
def test_round_trip_valid_framings_with_validation(f: AllocatorFramingEx) -> None:
    data = f.to_bytes()
    assert len(data) == 112 and AllocatorFramingEx.from_bytes(data) == f


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(st.binary(max_size=400))
def test_from_bytes_on_garbage_raises_only_framing_error(data: bytes) -> None:
    try:
        f = AllocatorFramingEx.from_bytes(data)
    except FramingError:
        return
    assert f.to_bytes() == data


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(st.binary(min_size=24, max_size=24), st.lists(st.binary(min_size=88, max_size=88), max_size=3))
def test_well_sized_garbage_raises_only_framing_error(header: bytes, blobs: list[bytes]) -> None:
    data = struct.pack("<I", len(blobs)) + header[4:] + b"".join(blobs)
    try:
        f = AllocatorFramingEx.from_bytes(data)
    except FramingError:
        return
    assert f.to_bytes() == data


def test_independent_ranges_waiver_is_a_configurable_choice() -> None:
    """[UNVERIFIED] KSALLOCATOR_FLAG_INDEPENDENT_RANGES: ks.h says "no framing dependency between
    neighbouring pipes"; the model lets it waive the FramingRange/PhysicalRange intersection by
    default, and `independent_ranges_waive=False` holds such an item to the check."""
    item = dataclasses.replace(simple_framing(g.KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 2, 0, 8, 8).items[0],
                               physical_range=FramingRange(16, 32, 1))
    with pytest.raises(FramingError, match="no legal size inside the physical limit"):
        AllocatorFramingEx((item,)).validate()
    waived = AllocatorFramingEx((dataclasses.replace(item, flags=AllocatorFlag.INDEPENDENT_RANGES),))
    assert waived.validate() is waived
    with pytest.raises(FramingError, match="no legal size inside the physical limit"):
        waived.validate(independent_ranges_waive=False)

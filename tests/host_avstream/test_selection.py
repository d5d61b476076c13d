"""Allocator selection (kernel-streaming.md B2): the documented rule, with a reason for every verdict."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.avstream import (
    GUID_BUS_TYPE_PCI,
    GUID_BUS_TYPE_USB,
    KSMEMORY_TYPE_KERNEL_NONPAGED,
    KSMEMORY_TYPE_KERNEL_PAGED,
    KSMEMORY_TYPE_USER,
    AllocatorFraming,
    AllocatorFramingEx,
    AllocatorInitError,
    AllocatorRequirement,
    FileAlignment,
    FramingError,
    FramingRange,
    FramingRangeWeighted,
    NtStatus,
    PoolType,
    SelectionError,
    simple_framing,
)
from host.avstream.allocators import AllocatorDispatch, CommonBufferAllocator, DefaultAllocator
from host.avstream.selection import Connection, select_allocator

pytestmark = pytest.mark.spec("B2")


def need(memory_type=KSMEMORY_TYPE_KERNEL_NONPAGED, flags=0, frames=4, alignment=FileAlignment.LONG,  # type: ignore[no-untyped-def]
         size=4096, **changes) -> AllocatorFramingEx:
    f = simple_framing(memory_type, flags, frames, alignment, size, size)
    return AllocatorFramingEx((dataclasses.replace(f.items[0], **changes),)) if changes else f


class Spy(CommonBufferAllocator):
    """A common-buffer allocator that records whether it was ever initialized."""

    def __init__(self, name: str, **kwargs: object) -> None:
        super().__init__(64 * 1024, name=name, **kwargs)  # type: ignore[arg-type]
        self.initialize_calls = 0

    def initialize(self, pin: object, framing: AllocatorFraming | AllocatorFramingEx):  # type: ignore[no-untyped-def]
        self.initialize_calls += 1
        return super().initialize(pin, framing)


def finish(*allocators: AllocatorDispatch) -> None:
    for a in allocators:
        if a.initialized:
            a.delete()


def test_vendor_allocator_chosen_for_kernel_connection_that_it_meets() -> None:
    vendor = Spy("dma")
    decision = select_allocator(Connection(need()), [vendor])
    assert decision.allocator is vendor and not decision.is_default
    assert decision.verdict("dma").accepted and decision.verdict("dma").chosen
    assert (decision.frame_size, decision.frames, decision.item_index) == (4096, 4, 0)
    assert vendor.initialize_calls == 0  # selection initializes nothing
    ctx = decision.initialize("pin")
    assert vendor.initialize_calls == 1 and ctx.frame_size == 4096 and ctx.frames == 4
    finish(vendor)


def test_initialize_allocator_receives_the_resolved_ksallocator_framing() -> None:
    """"PFNKSPININITIALIZEALLOCATOR callback function": AVStrMiniInitializeAllocator takes a
    PKSALLOCATOR_FRAMING (one FrameSize, Frames, FileAlignment, PoolType), not the EX ranges (the
    model used to hand the allocator the EX structure and let it pick the size)."""
    seen: list[object] = []

    class Recorder(CommonBufferAllocator):
        def _initialize(self, pin: object, framing: AllocatorFraming):  # type: ignore[no-untyped-def]
            seen.append(framing)
            return super()._initialize(pin, framing)

    vendor = Recorder(64 * 1024, name="dma", memory_types=frozenset({KSMEMORY_TYPE_KERNEL_PAGED}))
    ranged = need(memory_type=KSMEMORY_TYPE_KERNEL_PAGED, size=4096,
                  framing_range=FramingRangeWeighted(FramingRange(1024, 8192, 1024)))
    decision = select_allocator(Connection(ranged), [vendor])
    decision.initialize("pin")
    assert seen == [decision.allocator_framing]
    legacy = decision.allocator_framing
    assert isinstance(legacy, AllocatorFraming) and legacy.frame_size == decision.frame_size == 8192
    assert (legacy.frames, legacy.file_alignment, legacy.pool_type) == (4, FileAlignment.LONG, PoolType.PAGED)
    assert len(legacy.to_bytes()) == 24 and AllocatorFraming.from_bytes(legacy.to_bytes()) == legacy
    finish(vendor)


def test_default_allocator_on_a_user_mode_connection_is_not_kernel_mode() -> None:
    """"AVStream Allocators": a kernel-mode allocator is only chosen on a kernel-mode connection and
    kernel frames cannot reach user mode, so the fallback is a user-mode default allocator (it used
    to say kernel_mode=True); a factory handing back a kernel-mode one is refused."""
    decision = select_allocator(Connection(need(), kernel_mode=False))
    assert decision.is_default and not decision.allocator.capabilities.kernel_mode
    assert select_allocator(Connection(need())).allocator.capabilities.kernel_mode
    with pytest.raises(SelectionError, match="kernel-mode DefaultAllocator for a user-mode connection"):
        select_allocator(Connection(need(), kernel_mode=False), default_factory=DefaultAllocator)


def test_kernel_allocator_rejected_on_user_mode_connection_and_never_initialized() -> None:
    vendor = Spy("dma")
    decision = select_allocator(Connection(need(), kernel_mode=False), [vendor])
    assert decision.is_default and isinstance(decision.allocator, DefaultAllocator)
    v = decision.verdict("dma")
    assert not v.accepted and "user-mode connection" in v.reason
    decision.initialize("pin")
    assert vendor.initialize_calls == 0 and vendor.state == "new"
    finish(decision.allocator)


@pytest.mark.parametrize(("framing", "words"), [
    (need(memory_type=KSMEMORY_TYPE_USER), "memory type USER not offered (offers KERNEL_NONPAGED)"),
    (need(frames=64), "64 frames wanted, at most 32 available"),
    (need(size=1 << 20), "outside the allocator's 1..65536"),
    (need(bus_type=GUID_BUS_TYPE_PCI), "bus type PCI not supported"),
    (need(flags=AllocatorRequirement.FRAME_INTEGRITY), "FRAME_INTEGRITY"),
])
def test_mismatch_rejects_with_reason(framing: AllocatorFramingEx, words: str) -> None:
    vendor = Spy("dma", bus_types=frozenset({GUID_BUS_TYPE_USB}))
    decision = select_allocator(Connection(framing), [vendor])
    v = decision.verdict("dma")
    assert decision.is_default and not v.accepted and words in v.reason, v.reason
    assert v.reason.startswith("item 0: ")
    finish(vendor, decision.allocator)


def test_alignment_is_a_hard_requirement() -> None:
    vendor = Spy("dma")
    vendor.capabilities = dataclasses.replace(vendor.capabilities, alignment_mask=FileAlignment.QUAD)
    decision = select_allocator(Connection(need(alignment=FileAlignment.BYTES_512)), [vendor])
    assert decision.is_default and "alignment mask 0x1ff stricter" in decision.verdict("dma").reason


def test_preferences_only_turns_soft_mismatches_into_notes() -> None:
    vendor = Spy("dma")
    prefs = AllocatorRequirement.PREFERENCES_ONLY | AllocatorRequirement.SYSTEM_MEMORY
    decision = select_allocator(Connection(need(memory_type=KSMEMORY_TYPE_KERNEL_PAGED, flags=prefs,
                                                frames=64, size=1024)), [vendor])
    v = decision.verdict("dma")
    assert decision.allocator is vendor and v.accepted
    assert any("memory type KERNEL_PAGED" in n for n in v.notes) and decision.frames == 32
    # Size stays hard even with PREFERENCES_ONLY.
    decision = select_allocator(Connection(need(flags=prefs, size=1 << 20)), [Spy("dma2")])
    assert decision.is_default


def test_peer_must_allocate_rejects_vendor_unless_pin_also_insists() -> None:
    peer = need(memory_flags=AllocatorRequirement.MUST_ALLOCATE)
    d1 = select_allocator(Connection(need(), peer_framing=peer), [Spy("dma")])
    assert d1.is_default and "insists on allocating" in d1.verdict("dma").reason
    own = need(memory_flags=AllocatorRequirement.MUST_ALLOCATE)
    d2 = select_allocator(Connection(own, peer_framing=peer), [Spy("dma")])
    assert not d2.is_default


def test_peer_ranges_constrain_the_size() -> None:
    peer = need(size=2048)
    d = select_allocator(Connection(need(), peer_framing=peer), [Spy("dma")])
    assert d.is_default and "not legal for any of the peer" in d.verdict("dma").reason


def test_second_item_and_first_accepted_wins_deterministically() -> None:
    user_item = need(memory_type=KSMEMORY_TYPE_USER).items[0]
    framing = AllocatorFramingEx((user_item, need(size=8192).items[0]))
    a, b = Spy("a"), Spy("b")
    for _ in range(2):
        d = select_allocator(Connection(framing), [a, b])
        assert d.allocator is a and d.item_index == 1 and d.frame_size == 8192
        vb = d.verdict("b")
        assert vb.accepted and not vb.chosen and "a was accepted first" in vb.reason


def test_stepping_picks_the_largest_legal_size() -> None:
    f = need(frames=1, framing_range=FramingRangeWeighted(FramingRange(1000, 100000, 1000)))
    d = select_allocator(Connection(f), [Spy("dma")])
    assert d.frame_size == 65000


def test_a_common_buffer_too_small_for_the_frames_is_rejected_by_default() -> None:
    small = Spy("small")  # 64 KiB, capacity advertised without being asked to
    assert small.capabilities.total_bytes == 64 * 1024
    d = select_allocator(Connection(need(frames=4, size=32768)), [small])
    verdict = d.verdict("small")
    assert d.is_default and not verdict.accepted
    assert "4 frames in 65536 bytes" in verdict.reason
    d.initialize("pin")
    assert small.initialize_calls == 0 and small.state == "new"  # rejected: never initialized
    finish(d.allocator)


def test_capacity_left_unadvertised_is_found_at_initialize() -> None:
    quiet = CommonBufferAllocator(64 * 1024, name="quiet", advertise_capacity=False)
    assert quiet.capabilities.total_bytes is None
    d = select_allocator(Connection(need(frames=4, size=32768)), [quiet])
    assert d.allocator is quiet  # accepted; InitializeAllocator then reports the shortage
    with pytest.raises(AllocatorInitError) as info:
        d.initialize("pin")
    assert info.value.status == NtStatus.STATUS_INSUFFICIENT_RESOURCES


def test_frames_must_fit_the_common_buffer() -> None:
    f = need(frames=4, framing_range=FramingRangeWeighted(FramingRange(1000, 100000, 1000)))
    d = select_allocator(Connection(f), [Spy("dma")])
    assert d.frame_size == 16000 and not d.is_default  # 4 x 16000 fit 64 KiB; 4 x 17000 do not
    d = select_allocator(Connection(need(frames=4, size=32768)), [Spy("dma2")])
    assert d.is_default and "4 frames in 65536 bytes" in d.verdict("dma2").reason


def test_no_candidates_gives_default_with_reason() -> None:
    d = select_allocator(Connection(need()))
    assert d.is_default and d.reason == "no vendor allocator offered" and d.candidates == ()


def test_bad_input() -> None:
    with pytest.raises(FramingError):
        select_allocator(Connection(AllocatorFramingEx(())))
    with pytest.raises(SelectionError, match="unique"):
        select_allocator(Connection(need()), [Spy("x"), Spy("x")])
    with pytest.raises(KeyError, match="no candidate named"):
        select_allocator(Connection(need())).verdict("nope")


sizes = st.integers(1, 1 << 16)
memory_types = st.sampled_from([KSMEMORY_TYPE_KERNEL_NONPAGED, KSMEMORY_TYPE_KERNEL_PAGED,
                                KSMEMORY_TYPE_USER])


@st.composite
def connections(draw: st.DrawFn) -> Connection:
    low = draw(sizes)
    f = need(memory_type=draw(memory_types),
             flags=draw(st.sampled_from([0, AllocatorRequirement.PREFERENCES_ONLY,
                                         AllocatorRequirement.SYSTEM_MEMORY])),
             frames=draw(st.integers(0, 8)), alignment=(1 << draw(st.integers(0, 12))) - 1, size=low,
             framing_range=FramingRangeWeighted(FramingRange(low, low + draw(st.integers(0, 4096)),
                                                             draw(st.integers(0, 64)))))
    if f.items[0].framing_range.range.stepping > f.items[0].framing_range.range.max_frame_size - low:
        f = need(size=low)
    return Connection(f, kernel_mode=draw(st.sampled_from([True, True, True, False])))


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(connections(), st.lists(st.tuples(st.integers(1, 1 << 20), st.integers(1, 16), memory_types,
                                         st.integers(0, 12)), max_size=3))
def test_selection_rule_properties(connection: Connection, specs: list[tuple[int, int, object, int]]) -> None:
    def build() -> list[AllocatorDispatch]:
        out: list[AllocatorDispatch] = []
        for i, (size, frames, memory, align) in enumerate(specs):
            a = CommonBufferAllocator(size, max_frames=frames, memory_types=frozenset({memory}),  # type: ignore[arg-type]
                                      name=f"v{i}")
            a.capabilities = dataclasses.replace(a.capabilities, alignment_mask=(1 << align) - 1)
            out.append(a)
        return out

    first, second = build(), build()
    d1, d2 = select_allocator(connection, first), select_allocator(connection, second)
    assert d1.candidates == d2.candidates and d1.reason == d2.reason  # deterministic
    assert all(a.state == "new" for a in first)  # selection initializes nothing
    accepted = [v for v in d1.candidates if v.accepted]
    assert [v.name for v in d1.candidates if v.chosen] == [v.name for v in accepted[:1]]
    assert all(v.reason for v in d1.candidates)
    if accepted:
        assert d1.allocator.name == accepted[0].name and not d1.is_default
        item = connection.framing.items[d1.item_index]
        assert item.framing_range.range.allows(d1.frame_size)
        assert d1.allocator.capabilities.frame_sizes.allows(d1.frame_size)
        assert item.alignment_mask <= d1.allocator.capabilities.alignment_mask
        assert connection.kernel_mode
        d1.initialize("pin")  # whatever the rule accepts, the allocator can build
        assert d1.allocator.frame_count >= 1
        d1.allocator.delete()
    else:
        assert d1.is_default

"""Allocator selection (kernel-streaming.md B2): the documented rule, with a reason for every verdict."""

from __future__ import annotations

import dataclasses

import pytest

from host.avstream import (
    GUID_BUS_TYPE_PCI,
    GUID_BUS_TYPE_USB,
    KSMEMORY_TYPE_KERNEL_NONPAGED,
    KSMEMORY_TYPE_KERNEL_PAGED,
    KSMEMORY_TYPE_USER,
    AllocatorFramingEx,
    AllocatorRequirement,
    FileAlignment,
    FramingError,
    FramingRange,
    FramingRangeWeighted,
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

    def initialize(self, pin: object, framing: AllocatorFramingEx):  # type: ignore[no-untyped-def]
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
                                                frames=64)), [vendor])
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
    f = need(framing_range=FramingRangeWeighted(FramingRange(1000, 100000, 1000)))
    d = select_allocator(Connection(f), [Spy("dma")])
    assert d.frame_size == 65000


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

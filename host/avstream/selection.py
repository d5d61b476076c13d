"""Allocator selection by a graph manager (kernel-streaming.md B2); the proxy's real algorithm is
[UNVERIFIED], so this is a documented, deterministic rule that reports why each candidate lost.

The rule, applied to each vendor candidate in the order given (all are examined, for the report):

1. A kernel-mode allocator is rejected on a user-mode connection ("only chosen if the connection is
   in kernel mode"; kernel frames "cannot be passed to a user-mode filter").
2. It is rejected when the peer pin insists on allocating (MUST_ALLOCATE in a peer item's
   MemoryFlags) and the pin under selection does not; when both insist, the pin under selection
   keeps its allocator (tie broken towards the pin being connected).
3. The pin's framing items are tried in order; the candidate is accepted with the first item it
   meets. Hard requirements, always enforced: a frame size legal in the item's FramingRange, its
   PhysicalRange, the allocator's size range and (if given) some peer item's ranges; the item's
   alignment no stricter than the allocator's; 2D buffers only if the allocator offers them; the
   frames at that size (Frames, or the allocator's default count when 0), each rounded up to the
   item's alignment, fit its total_bytes (a common buffer's size: CommonBufferAllocator advertises it
   unless built with advertise_capacity=False); the largest size meeting all of these is chosen, and
   an allocator that cannot hold the frames at any legal size is rejected with the budget named.
   Soft requirements, enforced unless the item has REQUIREMENTF_PREFERENCES_ONLY (then reported as
   notes): memory type, bus type, SYSTEM_MEMORY, FRAME_INTEGRITY / INPLACE_MODIFIER, Frames.
4. The first accepted candidate is chosen; later accepted ones are reported as "not chosen". If
   none is accepted, the default allocator is chosen. A rejected allocator is never initialized:
   `select_allocator` initializes nothing; `SelectionDecision.initialize` initializes only the
   chosen one, with the resolved KSALLOCATOR_FRAMING (`allocator_framing`: the matched item narrowed
   to the chosen frame size and count, as AVStrMiniInitializeAllocator receives it, "PFNKSPIN
   INITIALIZEALLOCATOR callback function"). On a user-mode connection the default allocator is a
   user-mode one (`DefaultAllocator(kernel_mode=False)`): kernel memory "cannot be passed to a
   user-mode filter" ("AVStream Allocators").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from host.avstream.allocators import (
    AllocatorCapabilities,
    AllocatorContext,
    AllocatorDispatch,
    DefaultAllocator,
)
from host.avstream.errors import SelectionError
from host.avstream.framing import (
    AllocatorFlag,
    AllocatorFramingEx,
    AllocatorRequirement,
    FramingItem,
    FramingRange,
)
from host.avstream.framing_legacy import AllocatorFraming, resolve_framing
from host.avstream.guids import GUID_NULL, SYSTEM_MEMORY_TYPES, bus_type_name, memory_type_name


@dataclass(frozen=True, slots=True)
class Connection:
    """A connection being negotiated: the requirements (framing) of the pin whose allocator is
    chosen, whether the connection is in kernel mode, and optionally the peer pin's framing."""

    framing: AllocatorFramingEx
    kernel_mode: bool = True
    peer_framing: AllocatorFramingEx | None = None


@dataclass(frozen=True, slots=True)
class CandidateVerdict:
    """Why one candidate was accepted or rejected; `notes` lists preferences it did not meet."""

    name: str
    accepted: bool
    chosen: bool
    reason: str
    item_index: int | None = None
    frame_size: int | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SelectionDecision:
    """The graph manager's decision: the chosen allocator (not yet initialized) and every verdict."""

    allocator: AllocatorDispatch
    is_default: bool
    reason: str
    item_index: int
    frame_size: int
    frames: int
    resolved_framing: AllocatorFramingEx
    """The matched item alone, its FramingRange narrowed to the chosen size (for reports)."""
    candidates: tuple[CandidateVerdict, ...]
    allocator_framing: AllocatorFraming
    """The KSALLOCATOR_FRAMING InitializeAllocator receives."""

    def initialize(self, pin: object) -> AllocatorContext:
        """InitializeAllocator on the chosen allocator only, with the resolved KSALLOCATOR_FRAMING."""
        return self.allocator.initialize(pin, self.allocator_framing)

    def verdict(self, name: str) -> CandidateVerdict:
        """The verdict for the candidate called `name`."""
        for v in self.candidates:
            if v.name == name:
                return v
        raise KeyError(f"no candidate named {name!r}; candidates: {[v.name for v in self.candidates]}")


@dataclass(frozen=True, slots=True)
class _Match:
    frame_size: int
    frames: int
    notes: tuple[str, ...]


def _must_allocate(framing: AllocatorFramingEx | None) -> bool:
    return framing is not None and any(i.memory_flags & AllocatorRequirement.MUST_ALLOCATE for i in framing)


def match_item(item: FramingItem, caps: AllocatorCapabilities,
               peer: AllocatorFramingEx | None = None) -> _Match | str:
    """Whether `caps` meets one framing item: the match (frame size, frames, notes) or the reason not."""
    soft: list[str] = []
    if item.memory_type != GUID_NULL and GUID_NULL not in caps.memory_types \
            and item.memory_type not in caps.memory_types:
        offered = ", ".join(sorted(memory_type_name(m) for m in caps.memory_types))
        soft.append(f"memory type {memory_type_name(item.memory_type)} not offered (offers {offered})")
    if item.bus_type != GUID_NULL and caps.bus_types and item.bus_type not in caps.bus_types:
        soft.append(f"bus type {bus_type_name(item.bus_type)} not supported")
    if item.flags & AllocatorRequirement.SYSTEM_MEMORY and GUID_NULL not in caps.memory_types \
            and not caps.memory_types & SYSTEM_MEMORY_TYPES:
        soft.append("SYSTEM_MEMORY required but the allocator offers no system memory")
    wanted = item.flags & (AllocatorRequirement.FRAME_INTEGRITY | AllocatorRequirement.INPLACE_MODIFIER)
    if wanted & ~caps.flags:
        soft.append(f"requirement {AllocatorRequirement(wanted & ~caps.flags)!r} not honoured")
    if item.frames and caps.max_frames is not None and caps.max_frames < item.frames:
        soft.append(f"{item.frames} frames wanted, at most {caps.max_frames} available")
    if soft and not item.flags & AllocatorRequirement.PREFERENCES_ONLY:
        return "; ".join(soft)
    if item.is_2d and not caps.flags & AllocatorFlag.TWO_D_BUFFER_REQUIRED:
        return "2D buffer (FramePitch) required but not offered"
    if item.alignment_mask > caps.alignment_mask:
        return (f"alignment mask {item.alignment_mask:#x} stricter than the allocator's"
                f" {caps.alignment_mask:#x}")
    frames = item.frames
    if caps.max_frames is not None and frames > caps.max_frames:
        frames = caps.max_frames
    low = max(item.physical_range.min_frame_size, caps.frame_sizes.min_frame_size)
    high = min(item.physical_range.max_frame_size, caps.frame_sizes.max_frame_size)
    budget = ""
    if caps.total_bytes is not None:  # the frames, each rounded up to the alignment, must fit
        step = item.alignment_mask + 1
        count = frames or caps.default_frames
        if caps.max_frames is not None:
            count = min(count, caps.max_frames)
        high = min(high, caps.total_bytes // count // step * step)
        budget = f" and {count} frames in {caps.total_bytes} bytes"
    size = _largest_common(item.framing_range.range, caps.frame_sizes, low, high)
    if size is not None and peer is not None and not any(
            p.framing_range.range.allows(size) and p.physical_range.allows(size) for p in peer):
        return f"frame size {size} is not legal for any of the peer pin's framing items"
    if size is None:
        r, p, c = item.framing_range.range, item.physical_range, caps.frame_sizes
        return (f"frame sizes {r.min_frame_size}..{r.max_frame_size} (step {r.stepping}) outside the"
                f" allocator's {c.min_frame_size}..{c.max_frame_size}"
                f" within PhysicalRange {p.min_frame_size}..{p.max_frame_size}{budget}")
    return _Match(size, frames, tuple(f"preference not met: {s}" for s in soft))


def _largest_common(a: FramingRange, b: FramingRange, low: int, high: int) -> int | None:
    """The largest size legal in both ranges within low..high (a bounded search when both step)."""
    lo = max(low, a.min_frame_size, b.min_frame_size)
    hi = min(high, a.max_frame_size, b.max_frame_size)
    if lo > hi:
        return None
    stepped, other = (a, b) if a.stepping >= b.stepping else (b, a)
    size = stepped.largest_within(lo, hi)
    for _ in range(4096):
        if size is None or size < lo:
            return None
        if other.allows(size):
            return size
        size = stepped.largest_within(lo, size - 1)
    return None


def select_allocator(
        connection: Connection, candidates: Sequence[AllocatorDispatch] = (), *,
        default_factory: Callable[[], AllocatorDispatch] | None = None) -> SelectionDecision:
    """Choose an allocator for `connection` by the module's rule; initializes nothing. The default
    allocator comes from `default_factory`, or is a DefaultAllocator in the connection's mode; a
    factory that returns a kernel-mode allocator for a user-mode connection raises SelectionError."""
    framing = connection.framing.validate()
    if connection.peer_framing is not None:
        connection.peer_framing.validate()
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        raise SelectionError(f"candidate names must be unique, got {names}")
    verdicts: list[CandidateVerdict] = []
    chosen: tuple[AllocatorDispatch, int, _Match] | None = None
    own_must = _must_allocate(framing)
    for candidate in candidates:
        if not isinstance(candidate, AllocatorDispatch):
            raise SelectionError(f"candidate {candidate!r} is not an AllocatorDispatch")
        if candidate.state != "new":
            raise SelectionError(f"candidate {candidate.name} is already {candidate.state}")
        caps = candidate.capabilities
        if caps.kernel_mode and not connection.kernel_mode:
            verdicts.append(CandidateVerdict(candidate.name, False, False,
                                             "kernel-mode allocator on a user-mode connection"))
            continue
        if _must_allocate(connection.peer_framing) and not own_must:
            verdicts.append(CandidateVerdict(candidate.name, False, False,
                                             "the peer pin insists on allocating (MUST_ALLOCATE)"))
            continue
        reasons = []
        for index, item in enumerate(framing):
            result = match_item(item, caps, connection.peer_framing)
            if isinstance(result, _Match):
                if chosen is None:
                    chosen = (candidate, index, result)
                    verdicts.append(CandidateVerdict(candidate.name, True, True,
                                                     f"meets framing item {index}",
                                                     index, result.frame_size, result.notes))
                else:
                    verdicts.append(CandidateVerdict(
                        candidate.name, True, False,
                        f"meets framing item {index} but {chosen[0].name} was accepted first",
                        index, result.frame_size, result.notes))
                break
            reasons.append(f"item {index}: {result}")
        else:
            verdicts.append(CandidateVerdict(candidate.name, False, False, "; ".join(reasons)))
    if chosen is not None:
        allocator, index, match = chosen
        reason = f"vendor allocator {allocator.name} meets framing item {index}"
        is_default = False
    else:
        if default_factory is None:
            allocator = DefaultAllocator(kernel_mode=connection.kernel_mode)
        else:
            allocator = default_factory()
            if allocator.capabilities.kernel_mode and not connection.kernel_mode:
                raise SelectionError(f"default_factory returned the kernel-mode {allocator.name} for a"
                                     f" user-mode connection (kernel frames cannot reach user mode)")
        index = 0
        default_match = match_item(framing.items[0], allocator.capabilities, connection.peer_framing)
        if isinstance(default_match, _Match):
            size: int | None = default_match.frame_size
        else:
            size = framing.items[0].preferred_frame_size
        match = _Match(size or 0, framing.items[0].frames, ())
        reason = ("no vendor allocator offered" if not candidates
                  else "no vendor allocator accepted; using the default allocator")
        is_default = True
    item = framing.items[index]
    resolved = AllocatorFramingEx((dataclasses.replace(
        item, frames=match.frames,
        framing_range=dataclasses.replace(item.framing_range, range=FramingRange(match.frame_size,
                                                                                  match.frame_size, 1))),),
        framing.pin_flags, framing.output_compression, framing.pin_weight)
    return SelectionDecision(allocator, is_default, reason, index, match.frame_size, match.frames, resolved,
                             tuple(verdicts), resolve_framing(item, match.frame_size, match.frames))


__all__ = ["CandidateVerdict", "Connection", "SelectionDecision", "match_item", "select_allocator"]

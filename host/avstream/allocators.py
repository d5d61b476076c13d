"""KSALLOCATOR_DISPATCH contract and AVStream's default allocator (kernel-streaming.md B2).

`AllocatorDispatch` is the contract: initialize(pin, framing) -> context, delete(), allocate() ->
frame or None, free(frame). InitializeAllocator receives the resolved KSALLOCATOR_FRAMING
("PFNKSPININITIALIZEALLOCATOR callback function"): one FrameSize, Frames, FileAlignment and PoolType,
chosen before the call; the allocator never picks a size from ranges. Public methods enforce the
contract and keep the books; subclasses implement `_initialize/_delete/_allocate/_free` (mido's
`send`/`_send` split). Checked mode (on inside `tracking()`, as the tests use it) raises
AllocatorMisuse on double free, foreign frames and use after delete, and FrameLeak when delete()
finds frames still outstanding.
"""

from __future__ import annotations

import abc
import contextlib
import ctypes
import dataclasses
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from host.avstream.errors import AllocatorInitError, AllocatorMisuse, FrameLeak, FramingLimitExceeded
from host.avstream.framing import DONT_CARE_RANGE, AllocatorFramingEx, FramingRange
from host.avstream.framing_legacy import AllocatorFraming, resolve_ex
from host.avstream.guids import GUID_NULL, KSMEMORY_TYPE_KERNEL_NONPAGED
from host.ks.status import NtStatus
from host.tracking import Trackers
from host.where import Where

PAGE_SIZE = 4096
"""The page size the model assumes (ReactOS rejects alignment above PAGE_SIZE - 1)."""
MAX_FRAMES = 1024
"""Most frames one allocator creates. Framing comes from the device (GET_FRAMING), so a wrong or
hostile answer must not make the host build billions of Frame objects; published samples use 2-25
and codecs are told to allow >= 3, so 1024 refuses nothing a real pin asks for."""
MAX_ALLOCATOR_BYTES = 128 << 20
"""Most bytes (Frames x stride, alignment padding included) one allocator's pool may take: room for a
few uncompressed 4K video frames, far above a MIDI rig's needs, and small enough that a device's
framing cannot make the test host zero-fill gigabytes."""


def buffer_address(buffer: bytearray) -> int:
    """The address of a bytearray's storage (stable: a bytearray with exports cannot be resized)."""
    if not buffer:
        raise ValueError("an empty bytearray has no storage address")
    return ctypes.addressof((ctypes.c_char * len(buffer)).from_buffer(buffer))


def aligned_region(size: int, alignment_mask: int) -> tuple[bytearray, memoryview, int]:
    """A bytearray with `size` bytes starting at an address aligned to alignment_mask + 1.
    Returns the owner, a memoryview of the aligned region, and the region's address."""
    owner = bytearray(size + alignment_mask)
    address = buffer_address(owner)
    skip = -address & alignment_mask
    return owner, memoryview(owner)[skip:skip + size], address + skip


class Frame:
    """One frame handed out by an allocator: a zero-copy writable memoryview and its identity.

    `address` is where the bytes live in this process; `physical_address` is what a DMA engine
    would be given (the offset into a common buffer for CommonBufferAllocator; the address otherwise).
    """

    __slots__ = ("address", "allocator", "buffer", "index", "outstanding", "physical_address", "taken_at")

    def __init__(self, buffer: memoryview, index: int, allocator: AllocatorDispatch, address: int,
                 physical_address: int) -> None:
        self.buffer = buffer
        self.index = index
        self.allocator = allocator
        self.address = address
        self.physical_address = physical_address
        self.outstanding = False
        self.taken_at: Where | None = None
        """Where it was last allocated (checked allocators only)."""

    def __len__(self) -> int:
        return len(self.buffer)

    def __repr__(self) -> str:
        where = f"{self.physical_address:#x}"
        return f"<Frame {self.allocator.name}#{self.index} {len(self.buffer)} bytes @ {where}>"


@dataclass(frozen=True, slots=True)
class AllocatorContext:
    """What InitializeAllocator hands back: it leads the other callbacks to the pin and framing."""

    pin: object
    framing: AllocatorFraming
    frame_size: int
    frames: int
    alignment_mask: int


@dataclass(frozen=True, slots=True)
class AllocatorCapabilities:
    """What an allocator can deliver; allocator selection (selection.py) matches it to requirements.

    memory_types containing GUID_NULL means any memory type; empty bus_types means bus-agnostic;
    max_frames None means no limit; alignment_mask is the strictest alignment it can deliver; flags
    are the KSALLOCATOR_REQUIREMENTF_/FLAG_ bits it honours (FRAME_INTEGRITY, INPLACE_MODIFIER, 2D);
    total_bytes None means no limit on frames x stride (a common buffer has one); default_frames is
    how many frames it makes when the framing says 0."""

    memory_types: frozenset[uuid.UUID] = frozenset({GUID_NULL})
    bus_types: frozenset[uuid.UUID] = frozenset()
    kernel_mode: bool = True
    max_frames: int | None = None
    frame_sizes: FramingRange = DONT_CARE_RANGE
    alignment_mask: int = PAGE_SIZE - 1
    flags: int = 0
    total_bytes: int | None = None
    default_frames: int = 3


@dataclass(slots=True)
class AllocatorCounters:
    """The books of one allocator."""

    allocations: int = 0
    frees: int = 0
    failed_allocations: int = 0
    pending_requests: int = 0
    high_water: int = 0

    @property
    def outstanding(self) -> int:
        """Frames handed out and not yet freed."""
        return self.allocations - self.frees


_trackers: Trackers[AllocatorDispatch] = Trackers()


def tracking() -> contextlib.AbstractContextManager[list[AllocatorDispatch]]:
    """Within the block every new allocator is checked and recorded in the yielded list (tests use
    this to fail on leaks: see `leaked_frames`)."""
    return _trackers.tracking()


_NEW, _READY, _DELETED = "new", "initialized", "deleted"


class AllocatorDispatch(abc.ABC):
    """KSALLOCATOR_DISPATCH: InitializeAllocator, DeleteAllocator, Allocate, Free.

    Never used after delete (AllocatorMisuse). allocate() returns a Frame or None at once. In
    checked mode free() rejects double frees and foreign frames, and delete() raises FrameLeak
    (after releasing everything) when frames are still outstanding.
    """

    capabilities: AllocatorCapabilities = AllocatorCapabilities()

    def __init__(self, *, name: str | None = None, checked: bool | None = None) -> None:
        self.name = name or type(self).__name__
        self.checked = bool(_trackers) if checked is None else checked
        self.counters = AllocatorCounters()
        self.context: AllocatorContext | None = None
        self._state = _NEW
        self._frames: list[Frame] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiters = 0
        _trackers.record(self)

    # -- the contract ------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """'new', 'initialized' or 'deleted'."""
        return self._state

    @property
    def initialized(self) -> bool:
        """Whether initialize() succeeded and delete() has not been called."""
        return self._state == _READY

    def initialize(self, pin: object, framing: AllocatorFraming | AllocatorFramingEx) -> AllocatorContext:
        """InitializeAllocator ("PFNKSPININITIALIZEALLOCATOR callback function"): build frames per
        the resolved KSALLOCATOR_FRAMING; raises AllocatorInitError (with the creation status) when
        it cannot be honoured. An EX framing is first narrowed by `resolve_ex` (item 0 at its largest
        legal size: what selection does for a pin with one item), so the allocator only ever sees
        the resolved structure."""
        if self._state != _NEW:
            raise AllocatorMisuse(f"{self.name}: initialize() on an allocator that is {self._state}")
        resolved = resolve_ex(framing) if isinstance(framing, AllocatorFramingEx) else framing.validate()
        context = self._initialize(pin, resolved)
        self.context = context
        self._state = _READY
        return context

    def delete(self) -> None:
        """DeleteAllocator: release everything; no use after this."""
        if self._state == _DELETED:
            if self.checked:
                raise AllocatorMisuse(f"{self.name}: delete() called twice")
            return
        leaked = self.leaked_frames()
        self._state = _DELETED
        with self._lock:
            self._delete()
            self._cond.notify_all()
        if leaked and self.checked:
            shown = "\n".join(f"#{f.index} taken at:\n{f.taken_at}" for f in leaked[:8])
            raise FrameLeak(f"{self.name}: deleted with {len(leaked)} frame(s) outstanding:"
                            f" {', '.join(f'#{f.index}' for f in leaked[:8])}\n{shown}")

    def allocate(self) -> Frame | None:
        """Allocate: a free frame, or None at once when none is free."""
        if self._state is not _READY:
            raise AllocatorMisuse(f"{self.name}: allocate() on an allocator that is {self._state}")
        lock = self._lock  # acquire/release: measurably cheaper than `with` on the hot path
        lock.acquire()
        try:
            return self._take()
        finally:
            lock.release()

    def _take(self) -> Frame | None:
        """Allocate with the lock held, keeping the books."""
        frame = self._allocate()
        counters = self.counters
        if frame is None:
            counters.failed_allocations += 1
            return None
        frame.outstanding = True
        if self.checked:
            frame.taken_at = Where(3)  # the caller of allocate() (or of the wait that got it)
        counters.allocations += 1
        out = counters.allocations - counters.frees
        if out > counters.high_water:
            counters.high_water = out
        return frame

    def free(self, frame: Frame) -> None:
        """Free: give a frame back. After delete the frame is dropped (checked mode raises)."""
        if self.checked:
            self._check_free(frame)
        elif self._state is _DELETED:
            return
        lock = self._lock
        lock.acquire()
        try:
            frame.outstanding = False
            self.counters.frees += 1
            handoff = self._free(frame)
        finally:
            lock.release()
        if handoff is not None:  # outside the lock: the callback may use this allocator again
            handoff(frame)

    def _check_free(self, frame: Frame) -> None:
        if not isinstance(frame, Frame) or frame.allocator is not self:
            owner = frame.allocator.name if isinstance(frame, Frame) else type(frame).__name__
            raise AllocatorMisuse(f"{self.name}: free() of a foreign frame {frame!r} (owned by {owner})")
        if self._state == _DELETED:
            raise AllocatorMisuse(f"{self.name}: free() of frame #{frame.index} after delete()")
        if not frame.outstanding:
            raise AllocatorMisuse(f"{self.name}: double free of frame #{frame.index}")

    # -- books ---------------------------------------------------------------------------------

    @property
    def frame_count(self) -> int:
        """How many frames this allocator owns (0 before initialize)."""
        return len(self._frames)

    @property
    def free_count(self) -> int:
        """Frames currently free."""
        return self.frame_count - self.counters.outstanding

    def leaked_frames(self) -> list[Frame]:
        """Frames handed out and not freed."""
        return [f for f in self._frames if f.outstanding]

    # -- what subclasses implement -------------------------------------------------------------

    @abc.abstractmethod
    def _initialize(self, pin: object, framing: AllocatorFraming) -> AllocatorContext:
        """Create the frames; raise AllocatorInitError when the framing cannot be honoured."""

    @abc.abstractmethod
    def _delete(self) -> None:
        """Release everything (called with the lock held)."""

    @abc.abstractmethod
    def _allocate(self) -> Frame | None:
        """A free frame or None (called with the lock held)."""

    @abc.abstractmethod
    def _free(self, frame: Frame) -> Callable[[Frame], None] | None:
        """Take a frame back (called with the lock held); or return a pending request's callback,
        which free() then calls with the frame, now allocated to that request, outside the lock."""


def check_limit(owner: str, field: str, value: int, limit: int, limit_name: str) -> None:
    """Raise FramingLimitExceeded naming `field` and `value` when value is above `limit`."""
    if value > limit:
        raise FramingLimitExceeded(f"{owner}: {field} = {value} is above the host's limit of {limit}"
                                   f" ({limit_name})", field, value, limit)


def check_pool_size(owner: str, frames: int, stride: int) -> None:
    """Refuse a pool of more than MAX_FRAMES frames or MAX_ALLOCATOR_BYTES bytes, before allocating it."""
    check_limit(owner, "Frames", frames, MAX_FRAMES, "MAX_FRAMES")
    check_limit(owner, "Frames x stride", frames * stride, MAX_ALLOCATOR_BYTES, "MAX_ALLOCATOR_BYTES")


def resolve_frames(framing: AllocatorFraming, default_frames: int) -> int:
    """Frames to create: the framing's Frames, or `default_frames` when it says 0 (no requirement)."""
    return framing.frames or default_frames


@dataclass
class _Pending:
    callback: Callable[[Frame], None]
    done: bool = False


class PoolAllocator(AllocatorDispatch):
    """Frames carved from one aligned pool with a free list; the base of the default allocator
    and the common-buffer allocator. Frames are zero-copy memoryviews into one bytearray."""

    def __init__(self, *, name: str | None = None, checked: bool | None = None, default_frames: int = 3,
                 page_size: int = PAGE_SIZE) -> None:
        super().__init__(name=name, checked=checked)
        if default_frames < 1:
            raise ValueError(f"default_frames must be >= 1, got {default_frames}")
        self.default_frames = default_frames
        self.page_size = page_size
        self._free_list: list[Frame] = []
        self._pending: deque[_Pending] = deque()
        self._owner: bytearray | None = None

    def _resolve(self, pin: object, framing: AllocatorFraming) -> AllocatorContext:
        size = framing.frame_size
        if not size:
            raise AllocatorInitError(f"{self.name}: FrameSize is 0 (for an EX framing: FramingRange and"
                                     f" PhysicalRange of item 0 do not meet)",
                                     NtStatus.STATUS_INVALID_PARAMETER)
        alignment = framing.alignment_mask
        if alignment > self.page_size - 1:
            raise AllocatorInitError(f"{self.name}: alignment mask {alignment:#x} is above PAGE_SIZE-1"
                                     f" ({self.page_size - 1:#x})", NtStatus.STATUS_INVALID_PARAMETER)
        frames = resolve_frames(framing, self.default_frames)
        return AllocatorContext(pin, framing, size, frames, alignment)

    def _carve(self, region: memoryview, address: int, physical_base: int, ctx: AllocatorContext) -> None:
        stride = -(-ctx.frame_size // (ctx.alignment_mask + 1)) * (ctx.alignment_mask + 1)
        self._frames = [Frame(region[i * stride:i * stride + ctx.frame_size], i, self, address + i * stride,
                              physical_base + i * stride) for i in range(ctx.frames)]
        self._free_list = list(reversed(self._frames))

    def _delete(self) -> None:
        self._free_list.clear()
        self._pending.clear()
        self._owner = None

    def _allocate(self) -> Frame | None:
        free = self._free_list
        return free.pop() if free else None

    def _free(self, frame: Frame) -> Callable[[Frame], None] | None:
        pending = self._pending
        while pending:
            request = pending.popleft()
            if request.done:
                continue
            request.done = True
            self.counters.pending_requests -= 1
            frame.outstanding = True
            self.counters.allocations += 1
            return request.callback
        self._free_list.append(frame)
        if self._waiters:
            self._cond.notify()
        return None

    def allocate_wait(self, timeout: float | None) -> Frame | None:
        """Allocate, waiting up to `timeout` seconds (None = forever) for a free() when none is free."""
        if self._state != _READY:
            raise AllocatorMisuse(f"{self.name}: allocate_wait() on an allocator that is {self._state}")
        with self._lock:
            self._waiters += 1
            try:
                ready = self._cond.wait_for(lambda: self._free_list or self._state != _READY, timeout)
            finally:
                self._waiters -= 1
            if not ready:
                self.counters.failed_allocations += 1
                return None
            if self._state != _READY:
                return None
            return self._take()

    def request(self, callback: Callable[[Frame], None]) -> NtStatus:
        """The IRP method: SUCCESS with `callback(frame)` called now, or PENDING until a free() hands
        that frame to the oldest pending request (FREEFRAME completes pending allocations)."""
        frame = self.allocate()
        if frame is not None:
            callback(frame)
            return NtStatus.STATUS_SUCCESS
        with self._lock:
            self._pending.append(_Pending(callback))
            self.counters.pending_requests += 1
        return NtStatus.STATUS_PENDING

    def cancel_request(self, callback: Callable[[Frame], None]) -> bool:
        """Cancel a pending request; False when it was not pending."""
        with self._lock:
            for request in self._pending:
                if request.callback is callback and not request.done:
                    request.done = True
                    self.counters.pending_requests -= 1
                    return True
        return False


class DefaultAllocator(PoolAllocator):
    """AVStream's default allocator: pool memory per the resolved framing. FrameSize 0 is rejected,
    Frames 0 means `default_frames` ([UNVERIFIED] choice; 3, the codec guidance), alignment above
    PAGE_SIZE-1 is rejected (ReactOS). Every frame starts at an address aligned to FileAlignment + 1.

    `kernel_mode=False` is the allocator a user-mode connection gets: "a kernel-mode allocator is only
    chosen if the connection is in kernel mode" ("AVStream Allocators"), and kernel frames "cannot be
    passed to a user-mode filter", so the fallback on such a connection does not claim kernel mode."""

    capabilities = AllocatorCapabilities(kernel_mode=True)

    def __init__(self, *, name: str | None = None, checked: bool | None = None, default_frames: int = 3,
                 page_size: int = PAGE_SIZE, kernel_mode: bool = True) -> None:
        super().__init__(name=name, checked=checked, default_frames=default_frames, page_size=page_size)
        if not kernel_mode:
            self.capabilities = AllocatorCapabilities(kernel_mode=False)

    def _initialize(self, pin: object, framing: AllocatorFraming) -> AllocatorContext:
        ctx = self._resolve(pin, framing)
        stride = -(-ctx.frame_size // (ctx.alignment_mask + 1)) * (ctx.alignment_mask + 1)
        check_pool_size(self.name, ctx.frames, stride)  # the framing is the device's: bound it first
        self._owner, region, address = aligned_region(stride * ctx.frames, ctx.alignment_mask)
        self._carve(region, address, address, ctx)
        return ctx


class CommonBufferAllocator(PoolAllocator):
    """Vendor example: carves frames from one contiguous common buffer allocated up front, as a DMA
    common-buffer allocator does; each frame's physical_address is `physical_base` + its offset.

    Its capabilities (what selection matches): kernel non-paged memory, at most `max_frames`
    frames, frame sizes up to the buffer size, alignment up to PAGE_SIZE-1, and the buffer size as
    total_bytes, so selection rejects it for framing whose Frames x frame size it cannot hold (or
    picks a smaller legal frame size whose frames fit): a buffer that is too small does not meet the
    connection's requirements.

    `advertise_capacity=False` leaves total_bytes out, modelling a vendor allocator that cannot state
    its size before InitializeAllocator (one that allocates its buffer there): selection may then
    accept it for framing it cannot hold, and InitializeAllocator fails with INSUFFICIENT_RESOURCES,
    which the caller must handle (the frame miniport falls back to the default allocator).
    """

    def __init__(self, buffer_size: int, *, physical_base: int = 0x1000_0000, max_frames: int = 32,
                 memory_types: frozenset[uuid.UUID] = frozenset({KSMEMORY_TYPE_KERNEL_NONPAGED}),
                 bus_types: frozenset[uuid.UUID] = frozenset(), flags: int = 0, name: str | None = None,
                 checked: bool | None = None, default_frames: int = 3, advertise_capacity: bool = True
                 ) -> None:
        super().__init__(name=name, checked=checked, default_frames=default_frames)
        if buffer_size <= 0:
            raise ValueError(f"buffer_size must be > 0, got {buffer_size}")
        if physical_base & (PAGE_SIZE - 1):
            raise ValueError(f"physical_base {physical_base:#x} must be page aligned")
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        owner = name or type(self).__name__
        check_limit(owner, "max_frames", max_frames, MAX_FRAMES, "MAX_FRAMES")
        check_limit(owner, "buffer_size", buffer_size, MAX_ALLOCATOR_BYTES, "MAX_ALLOCATOR_BYTES")
        self.buffer_size = buffer_size
        self.physical_base = physical_base
        self.max_frames = max_frames
        self.capabilities = AllocatorCapabilities(
            memory_types=memory_types, bus_types=bus_types, kernel_mode=True, max_frames=max_frames,
            frame_sizes=FramingRange(1, buffer_size, 1), alignment_mask=PAGE_SIZE - 1, flags=flags,
            total_bytes=buffer_size if advertise_capacity else None, default_frames=default_frames)
        # The common buffer exists before any pin connects (AllocateCommonBuffer at start-device),
        # page aligned like the memory a DMA adapter hands out.
        self._owner, self._common, self._address = aligned_region(buffer_size, PAGE_SIZE - 1)

    def _initialize(self, pin: object, framing: AllocatorFraming) -> AllocatorContext:
        ctx = self._resolve(pin, framing)
        if not framing.frames and ctx.frames > self.max_frames:  # Frames 0 = no requirement: fit
            ctx = dataclasses.replace(ctx, frames=self.max_frames)
        stride = -(-ctx.frame_size // (ctx.alignment_mask + 1)) * (ctx.alignment_mask + 1)
        too_many = ctx.frames > self.max_frames
        if too_many or stride * ctx.frames > self.buffer_size:
            raise AllocatorInitError(
                f"{self.name}: {ctx.frames} frames of {ctx.frame_size} bytes (stride {stride}) do not fit"
                f" the {self.buffer_size}-byte common buffer / {self.max_frames} frames",
                NtStatus.STATUS_INSUFFICIENT_RESOURCES)
        self._carve(self._common, self._address, self.physical_base, ctx)
        return ctx

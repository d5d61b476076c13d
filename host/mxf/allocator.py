"""AllocatorMXF: the port driver's IAllocatorMXF, a bounded, pre-filled pool of kernel events.

The unchecked allocator is built for speed: a LIFO free-list on a `collections.deque` (whose
append and pop are atomic, so render and capture threads share it without a lock on the hot
path), events zeroed as they come back, and counters derived from per-event tallies instead of
shared ones. `CheckedAllocatorMXF` (allocator_checked) catches double frees, foreign events, use
after free, and records where each event was taken; `new_allocator()` (allocator_factory) chooses
between the two, so this base class never imports its subclass.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any, ClassVar, Literal

from host.ks.errors import PoolExhausted
from host.ks.state import KsState
from host.ks.status import STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS, STATUS_UNSUCCESSFUL, NtStatus
from host.mxf.buffer import MxfBuffer
from host.mxf.errors import LeakError
from host.mxf.event import CB_STRUCT, DMUS_KEF_PACKAGE_EVENT, KernelEvent
from host.mxf.fast_put import make_fast_puts
from host.mxf.imxf import IMXF, bind_camel_aliases
from host.tracking import Trackers

DEFAULT_POOL_SIZE = 1024
"""Events in a pool by default. The real port's pool size is [UNVERIFIED]; choose per test."""
DEFAULT_BUFFER_SIZE = 4096
"""GetBufferSize() by default: PAGE_SIZE, as ReactOS uses (real Windows sizes are [UNVERIFIED])."""
DEFAULT_BUFFER_COUNT = 64
"""GetBuffer buffers an allocator may have out at once by default ([UNVERIFIED] bound)."""

_SUCCESS = STATUS_SUCCESS
_UNSUCCESSFUL = STATUS_UNSUCCESSFUL
OnExhaustion = Literal["status", "raise"]
PackageRule = Literal["flag", "cb_event"]
"""What decides that a header's uData is pPackageEvt: PACKAGE_EVT alone, or cbEvent first."""


@dataclass(frozen=True)
class AllocatorStats:
    """A snapshot of an allocator's books (exact when no other thread is mid-call)."""

    pool_size: int
    free: int
    outstanding: int
    gets: int
    puts: int
    high_water: int
    """Most events ever out at once."""
    exhaustions: int
    """GetMessage calls that found the pool empty."""
    buffer_limit: int
    buffers_out: int
    buffer_high_water: int
    buffer_exhaustions: int
    """GetBuffer calls that found no buffer left."""
    misread_packages: int = 0
    """Package headers with cbEvent <= the pointer size reclaimed under package_rule="cb_event" (a
    driver that decides by cbEvent would read their pPackageEvt as inline bytes and leak the chain)."""


@dataclass(frozen=True)
class Leak:
    """One event or buffer still out of its allocator, and where it was taken (checked mode)."""

    kind: Literal["event", "buffer"]
    obj: object
    taken_at: str

    def __str__(self) -> str:
        return f"{self.kind} {self.obj!r} taken at:\n{self.taken_at}"


class AllocatorMXF:
    """IAllocatorMXF: hands out zeroed DMUS_KERNEL_EVENTs and fixed-size buffers, takes them back.

    - The pool is bounded and pre-filled (`pool_size` events; it "never starts out empty").
    - `get_message()` returns a zeroed event, or None when the pool is empty: that is the model of
      GetMessage's STATUS_INSUFFICIENT_RESOURCES with a NULL out-parameter. Every such call is
      counted (`stats().exhaustions`); with `on_exhaustion="raise"` it raises PoolExhausted instead.
    - `put_message(evt)` is the final sink: it reclaims the whole pNextEvt chain, the package chain of
      every package event and the pbData buffer of every event whose cbEvent exceeds the pointer size.
      Which union member a package header holds is [UNVERIFIED]: the DMUS_KERNEL_EVENT page ties
      pPackageEvt to PACKAGE_EVT, the IAllocatorMXF::PutBuffer page and DMusUART decide by cbEvent
      first. `package_rule="flag"` (default) follows PACKAGE_EVT whatever cbEvent; "cb_event" reads a
      flagged header with cbEvent <= the pointer size as inline data, yet still reclaims its chain
      (never a leak) and counts it in `stats().misread_packages`; the checked allocator raises there.
    - bReserved and cbStruct must not be modified; the unchecked allocator does not restore them
      (the checked one raises InvalidEvent when it sees them changed).
    - Buffers: `get_buffer()` returns an MxfBuffer of `get_buffer_size()` bytes (contents not
      zeroed) or None when `buffer_count` are out; `put_buffer()` takes one back.

    Names: snake case primary, the interface's camelCase names are aliases (see host.mxf.imxf).
    Thread safety: the free lists are deques (atomic append/pop); cold paths take a lock.
    """

    is_checked: ClassVar[bool] = False
    """True for CheckedAllocatorMXF (what `new_allocator(checked=True)` builds)."""

    def __init__(
        self,
        pool_size: int = DEFAULT_POOL_SIZE,
        *,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        buffer_count: int = DEFAULT_BUFFER_COUNT,
        pointer_size: int = 8,
        on_exhaustion: OnExhaustion = "status",
        name: str = "allocator",
        package_rule: PackageRule = "flag",
    ) -> None:
        if pointer_size not in CB_STRUCT:
            raise ValueError(f"pointer_size must be 4 or 8, not {pointer_size!r}")
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1 (the pool never starts empty), not {pool_size}")
        if not pointer_size < buffer_size <= 0xFFFF:
            raise ValueError(f"buffer_size {buffer_size} must exceed the pointer size and fit cbEvent")
        if buffer_count < 0:
            raise ValueError(f"buffer_count must not be negative, not {buffer_count}")
        if on_exhaustion not in ("status", "raise"):
            raise ValueError(f"on_exhaustion must be 'status' or 'raise', not {on_exhaustion!r}")
        if package_rule not in ("flag", "cb_event"):
            raise ValueError(f"package_rule must be 'flag' or 'cb_event', not {package_rule!r}")
        self.package_rule: PackageRule = package_rule
        self.name = name
        self.checked = self.is_checked
        self.pointer_size = pointer_size
        self.pool_size = pool_size
        self.buffer_count = buffer_count
        self.on_exhaustion: OnExhaustion = on_exhaustion
        self._buffer_size = buffer_size
        self._inline = pointer_size
        self._lock = threading.RLock()
        self._events: list[KernelEvent] = [self._new_event() for _ in range(pool_size)]
        self._free: deque[KernelEvent] = deque(self._events)
        self._pop = self._free.pop
        self._append = self._free.append
        self._buffers: list[MxfBuffer] = []
        self._free_buffers: deque[MxfBuffer] = deque()
        self._exhaustions = 0
        self._buffer_exhaustions = 0
        self._misread_packages = [0]
        self._install_fast_path()
        _trackers.record(self)

    # --- construction hooks (the checked variant overrides them) -------------------------------

    def _new_event(self) -> KernelEvent:
        return KernelEvent(self.pointer_size, self)

    def _new_buffer(self) -> MxfBuffer:
        return MxfBuffer(self._buffer_size, self)

    # --- IAllocatorMXF ------------------------------------------------------------------------

    def _install_fast_path(self) -> None:
        """Shadow the hot methods with closures over the free lists (about half the cost of methods).

        The closures are the implementation of the unchecked allocator; the class methods forward
        to them so that `AllocatorMXF.put_message(alloc, evt)` and subclass `super()` calls work.
        """
        pop = self._free.pop
        append = self._free.append
        buffer_pop = self._free_buffers.pop
        buffer_append = self._free_buffers.append
        inline = self._inline
        exhausted = self._exhausted
        grow_buffers = self._grow_buffers
        package_flag = DMUS_KEF_PACKAGE_EVENT
        package_any_size = self.package_rule == "flag"
        misread = self._misread_packages
        success = _SUCCESS

        def get_message() -> KernelEvent | None:
            try:
                return pop()
            except IndexError:
                exhausted("event")
                return None

        def put_chain(head: KernelEvent | None) -> NtStatus:
            # Anything but one event with inline data: reclaim what each event of the chain owns
            # (package chain, pbData buffer), then release the chain.
            evt = head
            while evt is not None:
                data = evt.u_data
                if evt.us_flags & package_flag and (package_any_size or evt.cb_event > inline):
                    if isinstance(data, KernelEvent):
                        put_message(data)
                elif evt.cb_event > inline:
                    if isinstance(data, MxfBuffer):
                        buffer_append(data)
                elif isinstance(data, KernelEvent):  # "cb_event" rule: a misread package, never leaked
                    misread[0] += 1
                    put_message(data)
                evt = evt.p_next_evt
            return release_chain(head)

        put_message, put_single_messages, release_chain = make_fast_puts(
            append, put_chain, inline, package_flag, success)

        def get_messages(count: int) -> list[KernelEvent] | None:
            # Popped in C (islice over the deque's pop): what was popped before a concurrent taker
            # emptied the pool is in `taken` even when pop raises, and goes back.
            taken: list[KernelEvent] = []
            try:
                taken.extend(islice(iter(pop, None), count))
            except IndexError:
                for evt in taken:
                    append(evt)
                exhausted("event")
                return None
            return taken

        def put_messages(events: Iterable[KernelEvent]) -> NtStatus:
            for evt in events:
                put_message(evt)
            return success

        def get_buffer() -> MxfBuffer | None:
            try:
                return buffer_pop()
            except IndexError:
                return grow_buffers()

        def put_buffer(buf: MxfBuffer) -> NtStatus:
            buffer_append(buf)
            return success

        get_message.__doc__ = AllocatorMXF.get_message.__doc__
        put_message.__doc__ = AllocatorMXF.put_message.__doc__
        get_messages.__doc__ = AllocatorMXF.get_messages.__doc__
        put_messages.__doc__ = AllocatorMXF.put_messages.__doc__
        put_single_messages.__doc__ = AllocatorMXF.put_single_messages.__doc__
        get_buffer.__doc__ = AllocatorMXF.get_buffer.__doc__
        put_buffer.__doc__ = AllocatorMXF.put_buffer.__doc__
        fast = self.__dict__
        fast["_fast_get_message"] = fast["get_message"] = fast["GetMessage"] = get_message
        fast["_fast_put_message"] = fast["put_message"] = fast["PutMessage"] = put_message
        fast["get_messages"] = get_messages
        fast["put_messages"] = put_messages
        fast["put_single_messages"] = put_single_messages
        fast["_fast_get_buffer"] = fast["get_buffer"] = fast["GetBuffer"] = get_buffer
        fast["_fast_put_buffer"] = fast["put_buffer"] = fast["PutBuffer"] = put_buffer

    def get_message(self) -> KernelEvent | None:
        """IAllocatorMXF::GetMessage: a zeroed event, or None (counted) when the pool is empty."""
        result: KernelEvent | None = self.__dict__["_fast_get_message"]()
        return result

    def put_message(self, evt: KernelEvent | None) -> NtStatus:
        """IMXF::PutMessage on the allocator: reclaim a whole chain and the data its events own."""
        result: NtStatus = self.__dict__["_fast_put_message"](evt)
        return result

    def get_messages(self, count: int) -> list[KernelEvent] | None:
        """GetMessage `count` times at once: `count` zeroed events, or None with nothing taken (one
        exhaustion counted) when the pool cannot give them all (the unpacker's all-or-nothing)."""
        with self._lock:
            if len(self._free) < count:
                self._exhausted("event")
                return None
            taken = [self.get_message() for _ in range(count)]
        return [evt for evt in taken if evt is not None]

    def put_messages(self, events: Iterable[KernelEvent]) -> NtStatus:
        """PutMessage for each of `events`, in order (a batch: the render sink returns a released
        batch in one call)."""
        for evt in events:
            self.put_message(evt)
        return _SUCCESS

    def put_single_messages(self, events: Iterable[KernelEvent]) -> NtStatus:
        """put_messages for events the caller has checked are single (no pNextEvt), carry no flags and
        hold bytes in uData (a render sink's batch): the unchecked allocator skips the chain, package
        and buffer checks; the checked one checks everything as put_messages does."""
        return self.put_messages(events)

    def get_buffer_size(self) -> int:
        """IAllocatorMXF::GetBufferSize: the constant size of every GetBuffer buffer."""
        return self._buffer_size

    def get_buffer(self) -> MxfBuffer | None:
        """IAllocatorMXF::GetBuffer: a get_buffer_size() buffer, or None (counted) if none is left."""
        result: MxfBuffer | None = self.__dict__["_fast_get_buffer"]()
        return result

    def put_buffer(self, buf: MxfBuffer) -> NtStatus:
        """IAllocatorMXF::PutBuffer: take a buffer back (PutMessage also does this by cbEvent)."""
        result: NtStatus = self.__dict__["_fast_put_buffer"](buf)
        return result

    def set_state(self, state: KsState) -> NtStatus:
        """IMXF::SetState on the allocator: accepted and ignored (a pool has no stream state)."""
        try:
            KsState(state)
        except ValueError:
            return NtStatus.STATUS_INVALID_PARAMETER
        return _SUCCESS

    def connect_output(self, sink: IMXF | None) -> NtStatus:
        """IMXF::ConnectOutput: always STATUS_UNSUCCESSFUL; the allocator is the last destination."""
        return _UNSUCCESSFUL

    def disconnect_output(self, sink: IMXF | None) -> NtStatus:
        """IMXF::DisconnectOutput: succeeds for None or the allocator itself (its output is itself)."""
        return _SUCCESS if sink is None or sink is self else _UNSUCCESSFUL

    # --- helpers --------------------------------------------------------------------------------

    def set_data(self, evt: KernelEvent, data: bytes | bytearray | memoryview) -> NtStatus:
        """Store `data` in `evt` as a miniport would: inline if it fits uData, else in a GetBuffer buffer.

        Returns STATUS_INSUFFICIENT_RESOURCES (counted) when a buffer is needed and none is left, and
        raises ValueError if `data` is longer than get_buffer_size().
        """
        n = len(data)
        if n <= self._inline:
            evt.u_data = bytes(data)
        else:
            if n > self._buffer_size:
                raise ValueError(f"{n} bytes do not fit one buffer of {self._buffer_size}; split the event")
            buf = self.get_buffer()
            if buf is None:
                return STATUS_INSUFFICIENT_RESOURCES
            buf[:n] = data
            evt.u_data = buf
        evt.cb_event = n
        return _SUCCESS

    def _exhausted(self, kind: Literal["event", "buffer"]) -> None:
        with self._lock:
            if kind == "event":
                self._exhaustions += 1
            else:
                self._buffer_exhaustions += 1
        if self.on_exhaustion == "raise":
            limit = self.pool_size if kind == "event" else self.buffer_count
            raise PoolExhausted(f"{self.name}: all {limit} {kind}s are out (STATUS_INSUFFICIENT_RESOURCES)")

    def _grow_buffers(self) -> MxfBuffer | None:
        with self._lock:
            if len(self._buffers) < self.buffer_count:
                buf = self._new_buffer()
                self._buffers.append(buf)
                return buf
        self._exhausted("buffer")
        return None

    # --- books ----------------------------------------------------------------------------------

    def stats(self) -> AllocatorStats:
        """Counters: gets, puts, outstanding, high-water, buffers out, exhaustions."""
        with self._lock:
            free = list(self._free)
            puts = sum(e._puts for e in self._events)
            outstanding = self.pool_size - len(free)
            # LIFO free list: events below the deepest point ever reached were never taken and
            # still have _puts == 0; the first returned event marks that depth.
            pristine = 0
            for e in free:
                if e._puts:
                    break
                pristine += 1
            buffers_out = len(self._buffers) - len(self._free_buffers)
            return AllocatorStats(
                pool_size=self.pool_size,
                free=len(free),
                outstanding=outstanding,
                gets=puts + outstanding,
                puts=puts,
                high_water=self.pool_size - pristine,
                exhaustions=self._exhaustions,
                misread_packages=self._misread_packages[0],
                buffer_limit=self.buffer_count,
                buffers_out=buffers_out,
                buffer_high_water=len(self._buffers),
                buffer_exhaustions=self._buffer_exhaustions,
            )

    def leaks(self) -> list[Leak]:
        """Events and buffers that are out (the unchecked allocator cannot say where they were taken)."""
        with self._lock:
            free_ids = {id(e) for e in self._free}
            free_bufs = {id(b) for b in self._free_buffers}
            where = "unknown (use new_allocator(checked=True) to record where events are taken)"
            out: list[Leak] = [Leak("event", e, where) for e in self._events if id(e) not in free_ids]
            out += [Leak("buffer", b, where) for b in self._buffers if id(b) not in free_bufs]
            return out

    def assert_balanced(self) -> None:
        """Raise LeakError, naming every event and buffer still out, unless the pool is full again."""
        leaks = self.leaks()
        if leaks:
            shown = "\n".join(str(leak) for leak in leaks[:20])
            more = f"\n... and {len(leaks) - 20} more" if len(leaks) > 20 else ""
            raise LeakError(f"{self.name}: {len(leaks)} leaked (pool not full again):\n{shown}{more}")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        bind_camel_aliases(cls)

    # Interface-name aliases (rebound per subclass by __init_subclass__).
    GetMessage = get_message
    PutMessage = put_message
    GetBuffer = get_buffer
    GetBufferSize = get_buffer_size
    PutBuffer = put_buffer
    SetState = set_state
    ConnectOutput = connect_output
    DisconnectOutput = disconnect_output

    def __repr__(self) -> str:
        kind = "checked " if self.checked else ""
        return (
            f"<{kind}AllocatorMXF {self.name!r} {len(self._free)}/{self.pool_size} free, "
            f"buffers {len(self._buffers) - len(self._free_buffers)} out>"
        )


def take_chain(allocator: AllocatorMXF, count: int,
               fill: Callable[[KernelEvent, int], bool]) -> KernelEvent | None:
    """`count` events from `allocator` linked by pNextEvt, each set by `fill(event, index)`; None, with
    every event taken given back, when the pool runs dry or `fill` refuses one (returns False): a
    chain is delivered whole or not at all."""
    head: KernelEvent | None = None
    tail: KernelEvent | None = None
    for index in range(count):
        evt = allocator.get_message()
        if evt is not None and not fill(evt, index):
            allocator.put_message(evt)
            evt = None
        if evt is None:
            if head is not None:
                allocator.put_message(head)
            return None
        if tail is None:
            head = evt
        else:
            tail.p_next_evt = evt
        tail = evt
    return head


_trackers: Trackers[AllocatorMXF] = Trackers()


def tracking() -> contextlib.AbstractContextManager[list[AllocatorMXF]]:
    """Within the block every allocator new_allocator() builds is checked, and every new allocator is
    recorded in the yielded list, even one a miniport builds inside: tests use it to run every
    allocator checked and fail on leaks."""
    return _trackers.tracking()


def tracking_active() -> bool:
    """True while a tracking() block is open (new_allocator then builds checked allocators)."""
    return bool(_trackers)

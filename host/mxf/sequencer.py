"""Sequencer: holds render events and releases them in time-stamp order when they fall due.

The port's sequencer "reorders them based on their time stamps and, when they are due, passes them
to the miniport via IMXF::PutMessage" [AUD:imxf-interfaces]. Due means
`master time >= ullPresTime100ns - SchedulePreFetch` [A3]. It has no thread: `service()` (or
`advance_to()` with a manual clock) releases what is due, and put_message in RUN services at once.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from operator import itemgetter, le
from typing import Literal

from host.ks.state import KSSTATE_RUN, KSSTATE_STOP, KsState
from host.ks.status import STATUS_SUCCESS, NtStatus
from host.mxf.allocator import AllocatorMXF
from host.mxf.clock import ManualClock, MasterClock
from host.mxf.event import KernelEvent
from host.mxf.filter import MxfFilter, put_all, put_each

PresentationClock = Literal["master", "stream"]
"""What ullPresTime100ns is compared with: the master clock, or stream time (see Sequencer)."""


_EVENT = itemgetter(2)
"""The event of a queue entry (time, arrival, event)."""


@dataclass(eq=False)
class _Run:
    """Chains queued in time order as one batch: `times[i]` is `events[i]`'s presentation time;
    those before `pos` are released."""

    times: list[int]
    events: list[KernelEvent]
    pos: int


class Sequencer(MxfFilter):
    """Time-orders events (a pNextEvt chain travels as one unit, keyed by its head's time).

    - Release order: presentation time, then arrival order for equal times. The documentation
      settles that ties have no guaranteed order ("Messages stamped with the same time do not
      necessarily play in the same order in which they were placed in the buffer":
      "IDirectMusicBuffer8::PackStructured", "IDirectMusicBuffer8::PackUnstructured"), so arrival
      order is one allowed choice.
    - Late: an event whose presentation time has already passed when it arrives is played late, not
      dropped ("Latency Clocks"; "KSPROPERTY_SYNTH_LATENCYCLOCK": data scheduled earlier than the
      latency clock "risks having the data played late"): released at once (in RUN), counted in `late`.
    - States: RUN passes due events; ACQUIRE and PAUSE hold; STOP discards everything queued, and
      everything that arrives, to the allocator (counted in `discarded`).
    - Presentation clock, [UNVERIFIED] where the pages disagree: "Latency Clocks" says time stamps are
      relative to the master clock, "a constant-rate clock that never pauses"; the "DMUS_KERNEL_EVENT
      structure" page says ullPresTime100ns "does not advance during KSSTATE_PAUSE and KSSTATE_STOP,
      and is reset during KSSTATE_STOP". `presentation_clock="master"` (default) compares with the
      master clock; "stream" compares with stream time: master time accumulated in RUN since the
      last STOP (it stands still outside RUN and restarts from 0 after STOP).
    """

    def __init__(self, allocator: AllocatorMXF, clock: MasterClock, schedule_prefetch_100ns: int = 0, *,
                 presentation_clock: PresentationClock = "master") -> None:
        super().__init__(allocator)
        if schedule_prefetch_100ns < 0:
            raise ValueError(f"SchedulePreFetch must not be negative, not {schedule_prefetch_100ns}")
        if presentation_clock not in ("master", "stream"):
            raise ValueError(f"presentation_clock must be 'master' or 'stream', not {presentation_clock!r}")
        self.clock = clock
        self.presentation_clock: PresentationClock = presentation_clock
        self._stream_elapsed = 0
        """Stream time accumulated in earlier RUN periods since the last STOP ("stream" clock)."""
        self._run_started = 0
        """Master time the current RUN period began ("stream" clock)."""
        self._now = clock.time_100ns if presentation_clock == "master" else self.stream_time_100ns
        self.schedule_prefetch_100ns = schedule_prefetch_100ns
        """SchedulePreFetch from NewStream: how far ahead (100 ns) the miniport wants events."""
        self._queue: list[tuple[int, int, KernelEvent]] = []
        self._run: _Run | None = None
        """A batch of chains in time order queued as it came (only while `_queue` is empty): a
        buffer's events wait and are released as slices, with no heap entry each."""
        self._arrival = itertools.count()
        self.released = 0
        """Chains passed downstream."""
        self.late = 0
        """Chains that arrived after their presentation time."""
        self.discarded = 0
        """Chains discarded to the allocator in STOP."""

    def __len__(self) -> int:
        """Chains queued."""
        run = self._run
        return len(self._queue) + (len(run.events) - run.pos if run is not None else 0)

    def _spill(self) -> None:
        """Move the pending run into the heap (before anything else is queued beside it); its chains
        take the next arrival numbers, so they stay ahead of later arrivals with equal times."""
        run, self._run = self._run, None
        if run is not None:
            queue = self._queue
            queue.extend(zip(run.times[run.pos:], self._arrival, run.events[run.pos:], strict=False))
            heapq.heapify(queue)

    def stream_time_100ns(self) -> int:
        """Stream time: master time spent in RUN since the last STOP (stands still outside RUN)."""
        if self.state is KSSTATE_RUN:
            return self._stream_elapsed + self.clock.time_100ns() - self._run_started
        return self._stream_elapsed

    def next_due_100ns(self) -> int | None:
        """Master time at which the earliest queued chain falls due (with the "stream" clock: if the
        stream runs from now on), or None if nothing is queued."""
        first = self._first_queued()
        if first is None:
            return None
        due = first - self.schedule_prefetch_100ns
        if self.presentation_clock == "stream":
            due += self.clock.time_100ns() - self.stream_time_100ns()
        return due

    def _first_queued(self) -> int | None:
        """The earliest presentation time queued, or None."""
        run = self._run
        if run is not None:
            return run.times[run.pos]
        return self._queue[0][0] if self._queue else None

    def put_message(self, evt: KernelEvent | None) -> NtStatus:
        """IMXF::PutMessage: queue the chain (or discard it in STOP); in RUN release what is due."""
        if evt is None:
            return STATUS_SUCCESS
        state = self.state
        if state is KSSTATE_STOP:
            self.discarded += 1
            return self.allocator.put_message(evt)
        if self._run is not None:
            self._spill()
        when = evt.ull_pres_time_100ns
        now = self._now()
        if when < now:
            self.late += 1
        queue = self._queue
        if state is KSSTATE_RUN:
            horizon = now + self.schedule_prefetch_100ns
            if when <= horizon and not queue:
                self.released += 1
                return self.sink.put_message(evt)
            heapq.heappush(queue, (when, next(self._arrival), evt))
            if queue[0][0] <= horizon:
                return self.service()
            return STATUS_SUCCESS
        heapq.heappush(queue, (when, next(self._arrival), evt))
        return STATUS_SUCCESS

    def put_messages(self, events: list[KernelEvent]) -> NtStatus:
        """PutMessage for each of `events` in order (the unpacker's batch: one buffer's events),
        with the outcome of one PutMessage each. In RUN, when their times never decrease and nothing
        queued is due, the due ones go downstream as one batch and the rest wait as one run."""
        if self.state is not KSSTATE_RUN or not events:
            return put_each(self.put_message, events)
        now = self._now()
        horizon = now + self.schedule_prefetch_100ns
        first = self._first_queued()
        times = [evt.ull_pres_time_100ns for evt in events]
        if (first is not None and first <= horizon) \
                or not all(map(le, times, itertools.islice(times, 1, None))):
            return put_each(self.put_message, events)
        self.late += bisect_left(times, now)
        due = bisect_right(times, horizon)
        if due < len(events):
            if self._queue or self._run is not None:
                self._spill()
                for item in zip(times[due:], self._arrival, events[due:], strict=False):
                    heapq.heappush(self._queue, item)
            else:
                self._run = _Run(times, events, due)
        if not due:
            return STATUS_SUCCESS
        self.released += due
        return put_all(self.sink, events if due == len(events) else events[:due])

    def service(self) -> NtStatus:
        """Release, in order, every queued chain that is due at the clock's current time (RUN only)."""
        if self.state is not KSSTATE_RUN:
            return STATUS_SUCCESS
        run = self._run
        if run is not None:
            if hasattr(self.sink, "put_messages"):
                return self._release_run(run)
            self._spill()
        queue = self._queue
        if not queue:
            return STATUS_SUCCESS
        horizon = self._now() + self.schedule_prefetch_100ns
        if queue[0][0] > horizon:
            return STATUS_SUCCESS
        if max(queue)[0] <= horizon:
            # Everything queued is due (a buffer's worth, serviced late): one sort in C instead of a
            # heappop per chain; the order is the heap's, (time, arrival).
            self._queue = []
            return self._release(sorted(queue))
        status = STATUS_SUCCESS
        pop = heapq.heappop
        put = self.sink.put_message
        released = 0
        try:
            while queue and queue[0][0] <= horizon:
                released += 1
                result = put(pop(queue)[2])
                if result != STATUS_SUCCESS:
                    status = NtStatus(result)
        finally:
            self.released += released
        return status

    def _release_run(self, run: _Run) -> NtStatus:
        """Release the run's due chains to a sink that takes batches, as one slice."""
        start = run.pos
        end = bisect_right(run.times, self._now() + self.schedule_prefetch_100ns, start)
        if end == start:
            return STATUS_SUCCESS
        if end == len(run.events):
            self._run = None
        else:
            run.pos = end
        self.released += end - start
        return put_all(self.sink, run.events[start:end])

    def _release(self, due: list[tuple[int, int, KernelEvent]]) -> NtStatus:
        """Pass `due` (in release order) downstream, in one batch to a sink that takes batches; if a
        sink without one raises, what it was not given is queued again."""
        if hasattr(self.sink, "put_messages"):
            self.released += len(due)
            return put_all(self.sink, list(map(_EVENT, due)))
        status = STATUS_SUCCESS
        put = self.sink.put_message
        released = 0
        try:
            for _, _, evt in due:
                released += 1
                result = put(evt)
                if result != STATUS_SUCCESS:
                    status = NtStatus(result)
        finally:
            self.released += released
            if released < len(due):
                for item in due[released:]:
                    heapq.heappush(self._queue, item)
        return status

    def advance_to(self, time_100ns: int) -> NtStatus:
        """Set a ManualClock to `time_100ns` and release what is then due."""
        clock = self.clock
        if not isinstance(clock, ManualClock):
            raise TypeError(f"advance_to needs a ManualClock; this sequencer runs on {type(clock).__name__}")
        clock.set(time_100ns)
        return self.service()

    def _state_changed(self, old: KsState, new: KsState) -> None:
        if old is KSSTATE_RUN and new is not KSSTATE_RUN:  # stream time stands still from here
            self._stream_elapsed += self.clock.time_100ns() - self._run_started
        if new is KSSTATE_RUN and old is not KSSTATE_RUN:
            self._run_started = self.clock.time_100ns()
        if new is KSSTATE_STOP:
            self._stream_elapsed = 0
            self._spill()
            queue, self._queue = self._queue, []
            for _, _, evt in sorted(queue):
                self.discarded += 1
                self.allocator.put_message(evt)
        elif new is KSSTATE_RUN:
            self.service()

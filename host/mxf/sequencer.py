"""Sequencer: holds render events and releases them in time-stamp order when they fall due.

The port's sequencer "reorders them based on their time stamps and, when they are due, passes them
to the miniport via IMXF::PutMessage" [AUD:imxf-interfaces]. Due means
`master time >= ullPresTime100ns - SchedulePreFetch` [A3]. It has no thread: `service()` (or
`advance_to()` with a manual clock) releases what is due, and put_message in RUN services at once.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Literal

from host.ks.state import KSSTATE_RUN, KSSTATE_STOP, KsState
from host.ks.status import STATUS_SUCCESS, NtStatus
from host.mxf.allocator import AllocatorMXF
from host.mxf.clock import ManualClock, MasterClock
from host.mxf.event import KernelEvent
from host.mxf.filter import MxfFilter

PresentationClock = Literal["master", "stream"]
"""What ullPresTime100ns is compared with: the master clock, or stream time (see Sequencer)."""


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
        self._arrival = itertools.count()
        self.released = 0
        """Chains passed downstream."""
        self.late = 0
        """Chains that arrived after their presentation time."""
        self.discarded = 0
        """Chains discarded to the allocator in STOP."""

    def __len__(self) -> int:
        """Chains queued."""
        return len(self._queue)

    def stream_time_100ns(self) -> int:
        """Stream time: master time spent in RUN since the last STOP (stands still outside RUN)."""
        if self.state is KSSTATE_RUN:
            return self._stream_elapsed + self.clock.time_100ns() - self._run_started
        return self._stream_elapsed

    def next_due_100ns(self) -> int | None:
        """Master time at which the earliest queued chain falls due (with the "stream" clock: if the
        stream runs from now on), or None if nothing is queued."""
        if not self._queue:
            return None
        due = self._queue[0][0] - self.schedule_prefetch_100ns
        if self.presentation_clock == "stream":
            due += self.clock.time_100ns() - self.stream_time_100ns()
        return due

    def put_message(self, evt: KernelEvent | None) -> NtStatus:
        """IMXF::PutMessage: queue the chain (or discard it in STOP); in RUN release what is due."""
        if evt is None:
            return STATUS_SUCCESS
        state = self.state
        if state is KSSTATE_STOP:
            self.discarded += 1
            return self.allocator.put_message(evt)
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

    def service(self) -> NtStatus:
        """Release, in order, every queued chain that is due at the clock's current time (RUN only)."""
        if self.state is not KSSTATE_RUN:
            return STATUS_SUCCESS
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

    def _release(self, due: list[tuple[int, int, KernelEvent]]) -> NtStatus:
        """Pass `due` (in release order) downstream; if the sink raises, what it was not given is
        queued again."""
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
            queue, self._queue = self._queue, []
            for _, _, evt in sorted(queue):
                self.discarded += 1
                self.allocator.put_message(evt)
        elif new is KSSTATE_RUN:
            self.service()

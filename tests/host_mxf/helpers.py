"""Test helpers: a collecting sink and event builders."""

from __future__ import annotations

from host.ks.status import NtStatus
from host.mxf.allocator import AllocatorMXF
from host.mxf.event import KernelEvent
from host.mxf.filter import MxfFilter


class Collector(MxfFilter):
    """An IMXF sink that keeps what it is given (heads of chains) until `release()`."""

    def __init__(self, alloc: AllocatorMXF) -> None:
        super().__init__(alloc)
        self.got: list[KernelEvent] = []

    def put_message(self, evt: KernelEvent | None) -> NtStatus:
        """Keep the chain."""
        if evt is not None:
            self.got.append(evt)
        return NtStatus.STATUS_SUCCESS

    def release(self) -> None:
        """Give everything kept back to the allocator."""
        for evt in self.got:
            self.allocator.put_message(evt)
        self.got.clear()


def event(alloc: AllocatorMXF, data: bytes, time: int = 0, group: int = 1, flags: int = 0) -> KernelEvent:
    """A filled event from `alloc`."""
    evt = alloc.get_message()
    assert evt is not None
    assert alloc.set_data(evt, data) == NtStatus.STATUS_SUCCESS
    evt.ull_pres_time_100ns = time
    evt.us_channel_group = group
    evt.us_flags = flags
    return evt

"""host.mxf: a model of the DirectMusic port driver's IAllocatorMXF pool and MXF filter graph.

Semantics: Part A of reference/kernel-streaming.md. Pure Python, clock injected, no threads.
"""

from __future__ import annotations

from host.mxf.allocator import AllocatorMXF, AllocatorStats, Leak
from host.mxf.allocator_checked import CheckedAllocatorMXF
from host.mxf.buffer import MxfBuffer
from host.mxf.errors import (
    DoubleFree,
    ForeignEvent,
    InvalidEvent,
    LeakError,
    MalformedBuffer,
    MxfError,
    PoolExhausted,
    UseAfterFree,
)
from host.mxf.event import (
    DMUS_KEF_EVENT_COMPLETE,
    DMUS_KEF_EVENT_INCOMPLETE,
    DMUS_KEF_PACKAGE_EVENT,
    DONT_HOLD_FOR_SEQUENCING,
    KernelEvent,
    kBytePositionNone,
)
from host.mxf.imxf import IMXF, MxfFilter
from host.mxf.status import KsState, NtStatus

__all__ = [
    "DMUS_KEF_EVENT_COMPLETE",
    "DMUS_KEF_EVENT_INCOMPLETE",
    "DMUS_KEF_PACKAGE_EVENT",
    "DONT_HOLD_FOR_SEQUENCING",
    "IMXF",
    "AllocatorMXF",
    "AllocatorStats",
    "CheckedAllocatorMXF",
    "DoubleFree",
    "ForeignEvent",
    "InvalidEvent",
    "KernelEvent",
    "KsState",
    "Leak",
    "LeakError",
    "MalformedBuffer",
    "MxfBuffer",
    "MxfError",
    "MxfFilter",
    "NtStatus",
    "PoolExhausted",
    "UseAfterFree",
    "kBytePositionNone",
]

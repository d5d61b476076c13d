"""host.mxf: a model of the DirectMusic port driver's IAllocatorMXF pool and MXF filter graph.

Semantics: Part A of reference/kernel-streaming.md. Pure Python, clock injected, no threads.
NtStatus, KsState and PoolExhausted are host.ks's, re-exported here.
"""

from __future__ import annotations

from host.ks.errors import PoolExhausted
from host.ks.state import KsState
from host.ks.status import NtStatus
from host.mxf.allocator import AllocatorMXF, AllocatorStats, Leak
from host.mxf.allocator_checked import CheckedAllocatorMXF
from host.mxf.allocator_factory import new_allocator
from host.mxf.buffer import MxfBuffer
from host.mxf.capture_sink import CaptureSink, raw_capture_chain
from host.mxf.clock import ManualClock, MasterClock, MonotonicClock
from host.mxf.errors import (
    DoubleFree,
    ForeignEvent,
    InvalidEvent,
    LeakError,
    MalformedBuffer,
    MxfError,
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
from host.mxf.filter import MxfFilter
from host.mxf.imxf import IMXF
from host.mxf.packer import PackedBuffer, Packer
from host.mxf.render_sink import RenderSink
from host.mxf.sequencer import Sequencer
from host.mxf.stream import CaptureStream, DmusStreamType, MxfPort, RenderStream
from host.mxf.unpacker import Unpacker

__all__ = [
    "DMUS_KEF_EVENT_COMPLETE",
    "DMUS_KEF_EVENT_INCOMPLETE",
    "DMUS_KEF_PACKAGE_EVENT",
    "DONT_HOLD_FOR_SEQUENCING",
    "IMXF",
    "AllocatorMXF",
    "AllocatorStats",
    "CaptureSink",
    "CaptureStream",
    "CheckedAllocatorMXF",
    "DmusStreamType",
    "DoubleFree",
    "ForeignEvent",
    "InvalidEvent",
    "KernelEvent",
    "KsState",
    "Leak",
    "LeakError",
    "MalformedBuffer",
    "ManualClock",
    "MasterClock",
    "MonotonicClock",
    "MxfBuffer",
    "MxfError",
    "MxfFilter",
    "MxfPort",
    "NtStatus",
    "PackedBuffer",
    "Packer",
    "PoolExhausted",
    "RenderSink",
    "RenderStream",
    "Sequencer",
    "Unpacker",
    "UseAfterFree",
    "kBytePositionNone",
    "new_allocator",
    "raw_capture_chain",
]

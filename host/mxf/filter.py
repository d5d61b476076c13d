"""MxfFilter: the common IMXF behaviour of the MXF filters (unpacker, sequencer, sinks, packer):
KSSTATE, and output that goes to the allocator until ConnectOutput says otherwise."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from host.ks.state import KSSTATE_STOP, KsState
from host.ks.status import STATUS_SUCCESS, STATUS_UNSUCCESSFUL, NtStatus
from host.mxf.allocator import AllocatorMXF
from host.mxf.event import KernelEvent
from host.mxf.imxf import IMXF, bind_camel_aliases


class MxfFilter:
    """Common IMXF behaviour of a filter: state, and output that defaults to the allocator.

    ConnectOutput succeeds only if the sink is not None and output currently goes to the allocator
    (else STATUS_UNSUCCESSFUL); DisconnectOutput succeeds if the sink is the connected one or None and
    points output back at the allocator. Subclasses implement `put_message` and may react to state
    changes in `_state_changed`.
    """

    accepts_connect: ClassVar[bool] = True
    """False for filters whose ConnectOutput always fails (a render miniport stream)."""

    def __init__(self, allocator: AllocatorMXF) -> None:
        self.allocator = allocator
        self.sink: IMXF = allocator
        """Where put_message passes events on: the allocator until ConnectOutput says otherwise."""
        self.state = KSSTATE_STOP

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        bind_camel_aliases(cls)

    def set_state(self, state: KsState) -> NtStatus:
        """IMXF::SetState: record the new KSSTATE and let the filter react (hold, pass, discard)."""
        try:
            new = KsState(state)
        except ValueError:
            return NtStatus.STATUS_INVALID_PARAMETER
        old, self.state = self.state, new
        self._state_changed(old, new)
        return STATUS_SUCCESS

    def _state_changed(self, old: KsState, new: KsState) -> None:
        """Hook for subclasses; the default does nothing."""

    def put_message(self, evt: KernelEvent | None) -> NtStatus:
        """IMXF::PutMessage: the base filter passes everything straight to its sink."""
        return self.sink.put_message(evt)

    def connect_output(self, sink: IMXF | None) -> NtStatus:
        """IMXF::ConnectOutput: succeed only for a non-None sink while output goes to the allocator."""
        if not self.accepts_connect or sink is None or self.sink is not self.allocator:
            return STATUS_UNSUCCESSFUL
        self.sink = sink
        return STATUS_SUCCESS

    def disconnect_output(self, sink: IMXF | None) -> NtStatus:
        """IMXF::DisconnectOutput: for the connected sink or None, point output back at the allocator."""
        if sink is not None and sink is not self.sink:
            return STATUS_UNSUCCESSFUL
        self.sink = self.allocator
        return STATUS_SUCCESS

    # Interface-name aliases (rebound per subclass by __init_subclass__).
    SetState = set_state
    PutMessage = put_message
    ConnectOutput = connect_output
    DisconnectOutput = disconnect_output


def put_each(put: Callable[[KernelEvent], NtStatus], events: Iterable[KernelEvent]) -> NtStatus:
    """`put` (a PutMessage, or a step of one) for each of `events`, in order; returns the last
    failure, or success."""
    status = STATUS_SUCCESS
    for evt in events:
        result = put(evt)
        if result != STATUS_SUCCESS:
            status = NtStatus(result)
    return status


def put_all(sink: IMXF, events: list[KernelEvent]) -> NtStatus:
    """PutMessage each of `events` to `sink` in order: in one call when the sink has `put_messages`
    (the render sink, the sequencer, the allocator: a sink that offers it takes every event it is
    given, even when it raises), else one PutMessage each. Returns the last failure, or success."""
    batch: Callable[[list[KernelEvent]], NtStatus] | None = getattr(sink, "put_messages", None)
    if batch is not None:
        return batch(events)
    return put_each(sink.put_message, events)

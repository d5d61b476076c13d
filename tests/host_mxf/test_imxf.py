"""A2: IMXF ConnectOutput / DisconnectOutput / SetState / PutMessage defaults, and the master clock."""

from __future__ import annotations

import pytest

from host.ks.state import KsState
from host.ks.status import NtStatus
from host.mxf.allocator import AllocatorMXF
from host.mxf.clock import ManualClock, MasterClock, MonotonicClock
from host.mxf.filter import MxfFilter
from host.mxf.imxf import IMXF


class Passthrough(MxfFilter):
    """The base filter: PutMessage goes to its output."""


@pytest.mark.spec("A2")
def test_put_message_defaults_to_allocator(alloc: AllocatorMXF) -> None:
    """A2: PutMessage with no ConnectOutput goes to the allocator."""
    f = Passthrough(alloc)
    evt = alloc.get_message()
    assert f.sink is alloc
    assert f.put_message(evt) == NtStatus.STATUS_SUCCESS
    assert alloc.stats().outstanding == 0


@pytest.mark.spec("A2")
def test_connect_output_rules(alloc: AllocatorMXF) -> None:
    """A2: ConnectOutput succeeds only for a non-NULL sink while output goes to the allocator."""
    f, g, h = Passthrough(alloc), Passthrough(alloc), Passthrough(alloc)
    assert f.connect_output(None) == NtStatus.STATUS_UNSUCCESSFUL
    assert f.ConnectOutput(g) == NtStatus.STATUS_SUCCESS
    assert f.sink is g
    assert f.connect_output(h) == NtStatus.STATUS_UNSUCCESSFUL  # already connected
    assert f.sink is g


@pytest.mark.spec("A2")
def test_disconnect_output_rules(alloc: AllocatorMXF) -> None:
    """A2: DisconnectOutput succeeds if the sink matches or is NULL, pointing output back at the allocator."""
    # g and h typed as the sinks they are: mypy keeps `f.sink` narrowed to g's type after `f.sink is g`,
    # even across the calls that change it, and would then call `f.sink is alloc` non-overlapping.
    f = Passthrough(alloc)
    g: IMXF = Passthrough(alloc)
    h: IMXF = Passthrough(alloc)
    f.connect_output(g)
    assert f.disconnect_output(h) == NtStatus.STATUS_UNSUCCESSFUL
    assert f.sink is g
    assert f.DisconnectOutput(g) == NtStatus.STATUS_SUCCESS
    assert f.sink is alloc
    f.connect_output(h)
    assert f.disconnect_output(None) == NtStatus.STATUS_SUCCESS
    assert f.sink is alloc
    assert f.connect_output(g) == NtStatus.STATUS_SUCCESS


@pytest.mark.spec("A2")
def test_chain_of_filters_ends_at_allocator(alloc: AllocatorMXF) -> None:
    """A2: the allocator is always the last destination in any chain."""
    f, g = Passthrough(alloc), Passthrough(alloc)
    f.connect_output(g)
    f.PutMessage(alloc.get_message())
    assert alloc.stats().outstanding == 0


@pytest.mark.spec("A2")
def test_set_state(alloc: AllocatorMXF) -> None:
    """A2: SetState takes KSSTATE values (STOP 0 .. RUN 3) and rejects others."""
    f = Passthrough(alloc)
    assert f.state is KsState.STOP
    for s in (KsState.ACQUIRE, KsState.PAUSE, KsState.RUN, KsState.STOP):
        assert f.SetState(s) == NtStatus.STATUS_SUCCESS
        assert f.state is s
    assert f.set_state(7) == NtStatus.STATUS_INVALID_PARAMETER  # type: ignore[arg-type]
    assert alloc.set_state(9) == NtStatus.STATUS_INVALID_PARAMETER  # type: ignore[arg-type]
    assert int(KsState.RUN) == 3


@pytest.mark.spec("A2")
def test_filters_and_allocator_are_imxf(alloc: AllocatorMXF) -> None:
    """A2: IAllocatorMXF inherits IMXF; filters implement IMXF."""
    assert isinstance(alloc, IMXF)
    assert isinstance(Passthrough(alloc), IMXF)


@pytest.mark.spec("A2")
def test_nt_status_success_test() -> None:
    """A2: NT_SUCCESS is true for success and informational codes only."""
    assert NtStatus.STATUS_SUCCESS.is_success and NtStatus.STATUS_BUFFER_OVERFLOW.is_success is False
    assert not NtStatus.STATUS_INSUFFICIENT_RESOURCES.is_success
    assert int(NtStatus.STATUS_UNSUCCESSFUL) == 0xC0000001


@pytest.mark.spec("A3")
def test_manual_clock() -> None:
    """A3: the master clock counts 100 ns units and never runs backwards."""
    c = ManualClock(5)
    assert isinstance(c, MasterClock)
    assert c.advance(10) == 15 and c.time_100ns() == 15
    c.set(20)
    with pytest.raises(ValueError, match="cannot go back"):
        c.set(19)
    with pytest.raises(ValueError, match="negative"):
        c.advance(-1)
    with pytest.raises(ValueError, match="negative"):
        ManualClock(-1)


@pytest.mark.spec("A3")
def test_monotonic_clock_never_goes_back() -> None:
    """A3: the real master clock never pauses or goes back."""
    c = MonotonicClock()
    a = c.time_100ns()
    b = c.time_100ns()
    assert 0 <= a <= b

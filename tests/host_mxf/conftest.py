"""Fixtures for host.mxf tests: checked allocators whose books must balance at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from host.mxf.allocator import AllocatorMXF
from host.mxf.clock import ManualClock

MakeAllocator = Callable[..., AllocatorMXF]


@pytest.fixture
def make_allocator() -> Iterator[MakeAllocator]:
    """Factory of checked allocators; every one must be full again when the test ends."""
    made: list[AllocatorMXF] = []

    def make(pool_size: int = 64, **kwargs: Any) -> AllocatorMXF:
        kwargs.setdefault("checked", True)
        alloc = AllocatorMXF(pool_size, name=f"allocator{len(made)}", **kwargs)
        made.append(alloc)
        return alloc

    yield make
    for alloc in made:
        alloc.assert_balanced()


@pytest.fixture
def alloc(make_allocator: MakeAllocator) -> AllocatorMXF:
    """One checked allocator (64 events, 4096-byte buffers, 8-byte pointers)."""
    return make_allocator()


@pytest.fixture
def clock() -> ManualClock:
    """A master clock at time 0 that moves only when the test says."""
    return ManualClock()

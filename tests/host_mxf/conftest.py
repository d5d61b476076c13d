"""Fixtures for host.mxf tests: checked allocators whose books must balance at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import pytest

from host.mxf.allocator import (
    DEFAULT_BUFFER_COUNT,
    DEFAULT_BUFFER_SIZE,
    AllocatorMXF,
    OnExhaustion,
    PackageRule,
)
from host.mxf.allocator_factory import new_allocator
from host.mxf.clock import ManualClock


class MakeAllocator(Protocol):
    """The `make_allocator` fixture: new_allocator's arguments, checked by default."""

    def __call__(
        self,
        pool_size: int = 64,
        *,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        buffer_count: int = DEFAULT_BUFFER_COUNT,
        pointer_size: int = 8,
        checked: bool = True,
        on_exhaustion: OnExhaustion = "status",
        package_rule: PackageRule = "flag",
    ) -> AllocatorMXF: ...


@pytest.fixture(autouse=True)
def every_allocator_balanced(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[AllocatorMXF]]:
    """Every allocator a test creates, however it creates it, must be full again at teardown."""
    made: list[AllocatorMXF] = []
    original = AllocatorMXF.__init__

    def init(self: AllocatorMXF, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(AllocatorMXF, "__init__", init)
    yield made
    for alloc in made:
        alloc.assert_balanced()


@pytest.fixture
def make_allocator(every_allocator_balanced: list[AllocatorMXF]) -> MakeAllocator:
    """Factory of allocators, checked unless told otherwise, named allocator0, allocator1, ..."""
    count = 0

    def make(pool_size: int = 64, **kwargs: Any) -> AllocatorMXF:
        nonlocal count
        kwargs.setdefault("checked", True)
        alloc = new_allocator(pool_size, name=f"allocator{count}", **kwargs)
        count += 1
        return alloc

    return make


@pytest.fixture
def alloc(make_allocator: MakeAllocator) -> AllocatorMXF:
    """One checked allocator (64 events, 4096-byte buffers, 8-byte pointers)."""
    return make_allocator()


@pytest.fixture
def clock() -> ManualClock:
    """A master clock at time 0 that moves only when the test says."""
    return ManualClock()

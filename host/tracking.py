"""Trackers: the `tracking()` blocks of the checked allocators (host.mxf and host.avstream). Inside a
block new allocators are built checked (host.mxf's through new_allocator) and every new one is
recorded, so tests can fail on leaks in allocators built deep inside other code."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Trackers(Generic[T]):
    """The open tracking blocks of one kind of allocator (nested blocks each see every new one)."""

    def __init__(self) -> None:
        self._open: list[list[T]] = []

    def __bool__(self) -> bool:
        """True while a tracking block is open: new allocators must be checked."""
        return bool(self._open)

    def record(self, created: T) -> None:
        """Called by each new allocator: it goes into every open block's list."""
        for tracker in self._open:
            tracker.append(created)

    @contextlib.contextmanager
    def tracking(self) -> Iterator[list[T]]:
        """A block: yields the list of allocators created inside it."""
        created: list[T] = []
        self._open.append(created)
        try:
            yield created
        finally:
            for i, tracker in enumerate(self._open):  # by identity: equal lists may be nested
                if tracker is created:
                    del self._open[i]
                    break


__all__ = ["Trackers"]

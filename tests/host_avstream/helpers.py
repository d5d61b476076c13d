"""Shared builders for the AVStream tests: an initialized allocator, a pin walked to a state."""

from __future__ import annotations

from host.avstream import (
    KSMEMORY_TYPE_KERNEL_NONPAGED,
    DefaultAllocator,
    KsState,
    Pin,
    simple_framing,
)


def allocator(frames: int = 8, size: int = 256, alignment: int = 0) -> DefaultAllocator:
    """A checked default allocator, initialized."""
    a = DefaultAllocator()
    a.initialize(None, simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, frames, alignment, size, size))
    return a


def walk(pin: Pin, target: KsState) -> None:
    """Move a pin one step at a time to `target`."""
    while pin.state != target:
        pin.set_state(KsState(pin.state + (1 if target > pin.state else -1)))


class FakeClock:
    """An injected clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

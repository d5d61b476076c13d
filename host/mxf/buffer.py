"""MxfBuffer: the fixed-size storage IAllocatorMXF::GetBuffer hands out for events too long for uData."""

from __future__ import annotations

from typing import Any


class MxfBuffer(bytearray):
    """A GetBuffer buffer: a bytearray of the allocator's constant GetBufferSize.

    It models the C `PBYTE` a miniport receives. The allocator records which allocator owns it and
    (in checked mode) whether it is free and where it was taken, in private slots.
    """

    __slots__ = ("_freed", "_owner", "_taken_at")

    def __init__(self, size: int, owner: Any) -> None:
        super().__init__(size)
        self._owner = owner
        self._freed = False
        self._taken_at: object = None
        """Where it was taken (checked allocators only): anything whose str() is a traceback."""

    def __repr__(self) -> str:
        state = "free" if self._freed else "in use"
        return f"<MxfBuffer {len(self)} bytes, {state}, id={id(self):#x}>"

    __str__ = __repr__

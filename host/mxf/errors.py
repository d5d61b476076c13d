"""Exceptions of the MXF model; each also inherits the built-in a caller would naturally catch."""

from __future__ import annotations

from host.ks.errors import KsError


class MxfError(KsError):
    """Base of every error host.mxf raises (PoolExhausted is host.ks's, shared with host.avstream)."""


class DoubleFree(MxfError, RuntimeError):
    """An event or buffer was given back to the allocator while it was already free (checked mode)."""


class ForeignEvent(MxfError, ValueError):
    """An event or buffer was given to an allocator that did not hand it out (checked mode)."""


class UseAfterFree(MxfError, RuntimeError):
    """An event or buffer was touched after it went back to its allocator (checked mode)."""


class InvalidEvent(MxfError, ValueError):
    """An event's fields contradict each other (e.g. a package header with inline-sized cbEvent)."""


class LeakError(MxfError, AssertionError):
    """assert_balanced() found events or buffers still out; the message says where each was taken."""


class MalformedBuffer(MxfError, ValueError):
    """A packed DMUS_EVENTHEADER buffer is truncated or inconsistent; `offset` is where it went wrong."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at byte offset {offset})")
        self.offset = offset

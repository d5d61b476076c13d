"""CheckedAllocatorMXF: the allocator with the debugging a test suite wants, at a price in speed.

It catches double frees, foreign events and buffers, use after free (an event touched after it
went back raises at once; a buffer written through its indexing raises, and one written any other
way is found by its poison fill when it is next handed out), and records a short traceback at
every GetMessage/GetBuffer so that leaks() says where each leaked event was taken.
"""

from __future__ import annotations

from typing import Any

from host.ks.status import NtStatus
from host.mxf.allocator import AllocatorMXF, Leak
from host.mxf.buffer import MxfBuffer
from host.mxf.errors import DoubleFree, ForeignEvent, InvalidEvent, UseAfterFree
from host.mxf.event import DMUS_KEF_PACKAGE_EVENT, ZEROED, KernelEvent
from host.where import Where

POISON = 0xDD
"""Byte a checked allocator fills free buffers with; a changed byte means a write after free."""
def _where(skip: int = 3) -> Where:
    """The frames of whoever called the allocator method that calls this."""
    return Where(skip)


_get = object.__getattribute__
_set = object.__setattr__


class CheckedKernelEvent(KernelEvent):
    """A KernelEvent that raises UseAfterFree when a public field is read or written while free."""

    __slots__ = ("_freed", "_freed_at", "_taken_at")

    def __init__(self, pointer_size: int, owner: Any) -> None:
        _set(self, "_freed", False)
        _set(self, "_freed_at", None)
        _set(self, "_taken_at", None)
        super().__init__(pointer_size, owner)

    def __getattribute__(self, name: str) -> Any:
        if name[0] != "_" and _get(self, "_freed"):
            raise UseAfterFree(
                f"{self!r}.{name} read after the event went back to its allocator; freed at:\n"
                f"{_get(self, '_freed_at')}"
            )
        return _get(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name[0] != "_" and _get(self, "_freed"):
            raise UseAfterFree(
                f"{self!r}.{name} written after the event went back to its allocator; freed at:\n"
                f"{_get(self, '_freed_at')}"
            )
        _set(self, name, value)


class CheckedBuffer(MxfBuffer):
    """An MxfBuffer whose indexing raises UseAfterFree while it is free."""

    __slots__ = ("_freed_at",)

    def __init__(self, size: int, owner: Any) -> None:
        super().__init__(size, owner)
        self._freed_at: object = None

    def _check(self, what: str) -> None:
        if self._freed:
            raise UseAfterFree(f"{self!r} {what} after it went back to its allocator; freed at:\n"
                               f"{self._freed_at}")

    def __getitem__(self, key: Any) -> Any:
        self._check("read")
        return super().__getitem__(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._check("written")
        super().__setitem__(key, value)


class CheckedAllocatorMXF(AllocatorMXF):
    """AllocatorMXF with double-free, foreign, use-after-free and leak checks (every call locks)."""

    is_checked = True

    def _install_fast_path(self) -> None:
        """The checked allocator keeps its (slower, checking) methods."""

    def _new_event(self) -> KernelEvent:
        evt = CheckedKernelEvent(self.pointer_size, self)
        _set(evt, "_freed", True)
        _set(evt, "_freed_at", "(never taken: pre-filled pool)")
        _set(evt, "_taken_at", None)
        return evt

    def _new_buffer(self) -> MxfBuffer:
        return CheckedBuffer(self._buffer_size, self)

    def get_message(self) -> KernelEvent | None:
        """IAllocatorMXF::GetMessage, recording where the event was taken."""
        with self._lock:
            try:
                evt = self._pop()
            except IndexError:
                self._exhausted("event")
                return None
            _set(evt, "_freed", False)
            _set(evt, "_taken_at", _where())
            return evt

    def put_message(self, evt: KernelEvent | None) -> NtStatus:
        """IMXF::PutMessage on the allocator, validating the whole chain before freeing anything."""
        with self._lock:
            if evt is None:
                return NtStatus.STATUS_SUCCESS
            events: list[KernelEvent] = []
            buffers: list[MxfBuffer] = []
            self._validate_chain(evt, events, buffers, {}, "chain")
            freed_at = _where()
            for buf in buffers:
                self._release_buffer(buf, freed_at)
            for e in events:
                for name, value in ZEROED:
                    setattr(e, name, value)
                e._puts += 1
                _set(e, "_freed", True)
                _set(e, "_freed_at", freed_at)
                _set(e, "_taken_at", None)
                self._append(e)
            return NtStatus.STATUS_SUCCESS

    def _validate_chain(
        self,
        head: KernelEvent,
        events: list[KernelEvent],
        buffers: list[MxfBuffer],
        seen: dict[int, str],
        what: str,
    ) -> None:
        evt: KernelEvent | None = head
        index = 0
        while evt is not None:
            place = f"{what}[{index}]"
            if not isinstance(evt, KernelEvent):
                raise InvalidEvent(f"{self.name}: {place} is a {type(evt).__name__}, not a KernelEvent")
            self._check_owned(evt, "event", place)
            if id(evt) in seen:
                raise DoubleFree(
                    f"{self.name}: {evt!r} appears twice in one PutMessage ({seen[id(evt)]} and {place})"
                )
            seen[id(evt)] = place
            self._check_fields(evt, place)
            events.append(evt)
            data = evt.u_data
            package = evt.us_flags & DMUS_KEF_PACKAGE_EVENT and (
                self.package_rule == "flag" or evt.cb_event > self._inline)
            if package:
                if isinstance(data, KernelEvent):
                    self._validate_chain(data, events, buffers, seen, f"{place}.pPackageEvt")
                elif data != b"":
                    raise InvalidEvent(
                        f"{self.name}: package {place} {evt!r} has uData {data!r}, not an event chain"
                    )
            elif evt.cb_event > self._inline:
                if isinstance(data, MxfBuffer):
                    self._check_owned(data, "buffer", f"{place}.pbData")
                    if id(data) in seen:
                        raise DoubleFree(
                            f"{self.name}: buffer {data!r} is owned by two events "
                            f"({seen[id(data)]} and {place})"
                        )
                    seen[id(data)] = f"{place}.pbData"
                    buffers.append(data)
                else:
                    raise InvalidEvent(
                        f"{self.name}: {place} {evt!r} has cbEvent {evt.cb_event} > {self._inline} "
                        f"but uData holds "
                        f"{type(data).__name__}, not a buffer; the allocator would free a bogus pointer"
                    )
            elif not isinstance(data, bytes):
                raise InvalidEvent(
                    f"{self.name}: {place} {evt!r} has cbEvent {evt.cb_event} <= {self._inline}, "
                    f"so the allocator "
                    f"reads uData as inline bytes, but it holds a {type(data).__name__}, which would leak"
                )
            evt = evt.p_next_evt
            index += 1

    def _check_fields(self, evt: KernelEvent, place: str) -> None:
        expected = 32 if self.pointer_size == 4 else 40
        if evt.b_reserved != 0:
            raise InvalidEvent(f"{self.name}: {place} {evt!r} bReserved was modified to {evt.b_reserved}")
        if evt.cb_struct != expected:
            raise InvalidEvent(f"{self.name}: {place} {evt!r} cbStruct was modified to {evt.cb_struct}")

    def _check_owned(self, obj: KernelEvent | MxfBuffer, kind: str, place: str) -> None:
        owner = _get(obj, "_owner")
        if owner is not self:
            name = getattr(owner, "name", repr(owner))
            raise ForeignEvent(f"{self.name}: {kind} {place} {obj!r} belongs to {name}, not to this one")
        if _get(obj, "_freed"):
            raise DoubleFree(
                f"{self.name}: {kind} {place} {obj!r} is already free; freed at:\n{_get(obj, '_freed_at')}"
            )

    def _release_buffer(self, buf: MxfBuffer, freed_at: Where) -> None:
        if len(buf) != self._buffer_size:
            raise InvalidEvent(f"{self.name}: {buf!r} was resized from {self._buffer_size} bytes")
        MxfBuffer.__setitem__(buf, slice(None), bytes([POISON]) * self._buffer_size)
        buf._freed = True
        if isinstance(buf, CheckedBuffer):
            buf._freed_at = freed_at
        buf._taken_at = None
        self._free_buffers.append(buf)

    def get_buffer(self) -> MxfBuffer | None:
        """IAllocatorMXF::GetBuffer, checking the poison fill and recording where it was taken."""
        with self._lock:
            try:
                buf = self._free_buffers.pop()
            except IndexError:
                new = self._grow_buffers()
                if new is None:
                    return None
                buf = new
            else:
                if buf.count(POISON) != len(buf):
                    first = next(i for i, b in enumerate(bytes(buf)) if b != POISON)
                    raise UseAfterFree(
                        f"{self.name}: {buf!r} was written after it was freed (byte {first}); freed at:\n"
                        f"{getattr(buf, '_freed_at', None)}"
                    )
            buf._freed = False
            buf._taken_at = _where()
            return buf

    def put_buffer(self, buf: MxfBuffer) -> NtStatus:
        """IAllocatorMXF::PutBuffer, checking owner and double free."""
        with self._lock:
            if not isinstance(buf, MxfBuffer):
                raise InvalidEvent(f"{self.name}: PutBuffer got a {type(buf).__name__}, not an MxfBuffer")
            self._check_owned(buf, "buffer", "PutBuffer")
            self._release_buffer(buf, _where())
            return NtStatus.STATUS_SUCCESS

    def leaks(self) -> list[Leak]:
        """Every event and buffer still out, with the traceback of where it was taken."""
        with self._lock:
            out = [
                Leak("event", e, str(_get(e, "_taken_at") or "?"))
                for e in self._events
                if not _get(e, "_freed")
            ]
            out += [Leak("buffer", b, str(b._taken_at or "?")) for b in self._buffers if not b._freed]
            return out

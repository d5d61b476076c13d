"""DMUS_KERNEL_EVENT as a Python object, with the dmusicks.h flags, constants and macros.

Python attribute names are the C field names in snake case (cbEvent -> cb_event); each attribute's
docstring names the C field. The uData union is one attribute, `u_data`, holding bytes (abData),
an MxfBuffer (pbData) or a KernelEvent (pPackageEvt); which one is meant is decided, as in the
driver, by cbEvent and usFlags, never by the Python type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from host.mxf.buffer import MxfBuffer

DMUS_KEF_EVENT_COMPLETE = 0x0000
"""usFlags: the event holds a whole message (or the last piece of one)."""
DMUS_KEF_EVENT_INCOMPLETE = 0x0001
"""usFlags: the message continues beyond this event; also marks raw capture bytes."""
DMUS_KEF_PACKAGE_EVENT = 0x0002
"""usFlags: uData.pPackageEvt points to a chain that must be handled atomically."""

kBytePositionNone = 0xFFFF_FFFF_FFFF_FFFF
"""dmusicks.h `kBytePositionNone (~(ULONGLONG)0)`: no byte position. Semantics are [UNVERIFIED];
this model only carries the value and never interprets ullBytePosition."""
DONT_HOLD_FOR_SEQUENCING = 0x8000_0000_0000_0000
"""dmusicks.h constant whose meaning is [UNVERIFIED]; carried for completeness, never interpreted."""

CB_STRUCT = {4: 32, 8: 40}
"""sizeof(DMUS_KERNEL_EVENT) per pointer size: 32 on x86 (uData at 28), 40 on x64 (uData at 32)."""

UData = Union[bytes, "MxfBuffer", "KernelEvent"]
"""What `KernelEvent.u_data` holds: abData bytes, a pbData buffer or a pPackageEvt chain."""

ZEROED: tuple[tuple[str, object], ...] = (
    ("cb_event", 0),
    ("us_channel_group", 0),
    ("us_flags", 0),
    ("ull_pres_time_100ns", 0),
    ("ull_byte_position", 0),
    ("p_next_evt", None),
    ("u_data", b""),
)
"""The fields of a zeroed event and their zero values: a new event holds them and PutMessage writes them
back (bReserved and cbStruct are never changed, so never reset). The one statement of "zeroed"."""


class KernelEvent:
    """One DMUS_KERNEL_EVENT from an allocator's pool (C struct `_DMUS_KERNEL_EVENT`).

    Obtain events from `AllocatorMXF.get_message()`; they come back zeroed. `__slots__` keeps the
    allocator's get/put cycle cheap.
    """

    __slots__ = (
        "_owner",
        "_puts",
        "b_reserved",
        "cb_event",
        "cb_struct",
        "p_next_evt",
        "u_data",
        "ull_byte_position",
        "ull_pres_time_100ns",
        "us_channel_group",
        "us_flags",
    )

    b_reserved: int
    """C `BYTE bReserved`: reserved; a miniport must not modify it (always 0 here)."""
    cb_struct: int
    """C `BYTE cbStruct`: sizeof(DMUS_KERNEL_EVENT), 32 or 40 by pointer size; must not be modified."""
    cb_event: int
    """C `USHORT cbEvent`: unrounded number of event bytes referred to by uData."""
    us_channel_group: int
    """C `USHORT usChannelGroup`: which set of 16 MIDI channels (unique within one miniport)."""
    us_flags: int
    """C `USHORT usFlags`: DMUS_KEF_EVENT_INCOMPLETE and/or DMUS_KEF_PACKAGE_EVENT."""
    ull_pres_time_100ns: int
    """C `REFERENCE_TIME ullPresTime100ns`: presentation time in 100 ns against the master clock."""
    ull_byte_position: int
    """C `ULONGLONG ullBytePosition`: byte position; kBytePositionNone when none ([UNVERIFIED])."""
    p_next_evt: KernelEvent | None
    """C `struct _DMUS_KERNEL_EVENT *pNextEvt`: next event of an identically time-stamped chain."""
    u_data: UData
    """C `uData` union: `abData` bytes when cbEvent <= pointer size, else `pbData` (an MxfBuffer), or
    `pPackageEvt` (a KernelEvent chain) when DMUS_KEF_PACKAGE_EVENT is set."""

    def __init__(self, pointer_size: int = 8, owner: Any = None) -> None:
        if pointer_size not in CB_STRUCT:
            raise ValueError(f"pointer_size must be 4 or 8, not {pointer_size!r}")
        self._owner = owner
        self._puts = 0
        self.b_reserved = 0
        self.cb_struct = CB_STRUCT[pointer_size]
        for name, value in ZEROED:
            setattr(self, name, value)

    @property
    def pointer_size(self) -> int:
        """sizeof(PBYTE) for this event's allocator: 4 when cbStruct is 32, else 8."""
        return 4 if self.cb_struct == 32 else 8

    @property
    def ab_data(self) -> bytes:
        """C `uData.abData`: the inline bytes, padded with zeros to the pointer size."""
        raw = self.u_data
        if not isinstance(raw, bytes):
            raise TypeError(f"uData of {self!r} holds a {type(raw).__name__}, not abData bytes")
        return raw.ljust(self.pointer_size, b"\0")

    @property
    def pb_data(self) -> MxfBuffer:
        """C `uData.pbData`: the allocator buffer holding cbEvent bytes (for a long event)."""
        from host.mxf.buffer import MxfBuffer

        raw = self.u_data
        if not isinstance(raw, MxfBuffer):
            raise TypeError(f"uData of {self!r} holds a {type(raw).__name__}, not a pbData buffer")
        return raw

    @property
    def p_package_evt(self) -> KernelEvent | None:
        """C `uData.pPackageEvt`: the package chain of a DMUS_KEF_PACKAGE_EVENT event, else None."""
        raw = self.u_data
        return raw if isinstance(raw, KernelEvent) else None

    @property
    def data(self) -> bytes:
        """The event's cbEvent MIDI bytes, wherever uData keeps them (not for package headers)."""
        cb = self.cb_event
        if self.us_flags & DMUS_KEF_PACKAGE_EVENT and cb > self.pointer_size:
            raise TypeError(f"{self!r} is a package header; its data is in the pPackageEvt chain")
        raw = self.u_data
        if cb <= self.pointer_size:
            if not isinstance(raw, bytes):
                raise TypeError(f"{self!r}: cbEvent {cb} means inline abData but uData holds a buffer")
            return raw[:cb].ljust(cb, b"\0")
        if isinstance(raw, (bytes, KernelEvent)):
            raise TypeError(f"{self!r}: cbEvent {cb} means a pbData buffer but uData holds {raw!r}")
        return bytes(raw[:cb])

    def chain(self) -> list[KernelEvent]:
        """The events of this pNextEvt chain, this one first."""
        out: list[KernelEvent] = []
        evt: KernelEvent | None = self
        while evt is not None:
            out.append(evt)
            evt = evt.p_next_evt
        return out

    def __repr__(self) -> str:
        get = object.__getattribute__
        return (
            f"<KernelEvent cb={get(self, 'cb_event')} grp={get(self, 'us_channel_group')} "
            f"flags={get(self, 'us_flags'):#x} t={get(self, 'ull_pres_time_100ns')} id={id(self):#x}>"
        )


def short_evt(evt: KernelEvent) -> bool:
    """SHORT_EVT(e): cbEvent <= sizeof(PBYTE), i.e. the bytes are inline in uData.abData."""
    return evt.cb_event <= evt.pointer_size


def package_evt(evt: KernelEvent) -> bool:
    """PACKAGE_EVT(e): DMUS_KEF_PACKAGE_EVENT is set."""
    return bool(evt.us_flags & DMUS_KEF_PACKAGE_EVENT)


def incomplete_evt(evt: KernelEvent) -> bool:
    """INCOMPLETE_EVT(e): DMUS_KEF_EVENT_INCOMPLETE is set (the message continues)."""
    return bool(evt.us_flags & DMUS_KEF_EVENT_INCOMPLETE)


def complete_evt(evt: KernelEvent) -> bool:
    """COMPLETE_EVT(e): DMUS_KEF_EVENT_INCOMPLETE is clear."""
    return not evt.us_flags & DMUS_KEF_EVENT_INCOMPLETE


def set_incomplete_evt(evt: KernelEvent) -> None:
    """SET_INCOMPLETE_EVT(e): set DMUS_KEF_EVENT_INCOMPLETE."""
    evt.us_flags |= DMUS_KEF_EVENT_INCOMPLETE


def set_complete_evt(evt: KernelEvent) -> None:
    """SET_COMPLETE_EVT(e): clear DMUS_KEF_EVENT_INCOMPLETE."""
    evt.us_flags &= ~DMUS_KEF_EVENT_INCOMPLETE & 0xFFFF


def set_package_evt(evt: KernelEvent) -> None:
    """SET_PACKAGE_EVT(e): set DMUS_KEF_PACKAGE_EVENT."""
    evt.us_flags |= DMUS_KEF_PACKAGE_EVENT


def clear_package_evt(evt: KernelEvent) -> None:
    """CLEAR_PACKAGE_EVT(e): clear DMUS_KEF_PACKAGE_EVENT."""
    evt.us_flags &= ~DMUS_KEF_PACKAGE_EVENT & 0xFFFF


def make_package(header: KernelEvent, chain: KernelEvent, cb_event: int | None = None) -> None:
    """Turn `header` into a package event whose uData.pPackageEvt is `chain`.

    [UNVERIFIED] No public source says what cbEvent a package header carries. A reader that tests
    `cbEvent <= sizeof(PBYTE)` before PACKAGE_EVT (DMusUART; AllocatorMXF package_rule="cb_event")
    only finds a package whose cbEvent exceeds the pointer size, so by default cbEvent is the chain's
    total byte count, raised to pointer size + 1 when smaller: both package rules find it. Pass
    `cb_event` to choose another value (it must exceed the pointer size).
    """
    if header.cb_event or header.u_data != b"":
        raise ValueError(f"package header {header!r} already holds data; use a zeroed event")
    inline = header.pointer_size
    if cb_event is None:
        total = sum(e.cb_event for e in chain.chain())
        cb_event = min(max(total, inline + 1), 0xFFFF)
    elif not inline < cb_event <= 0xFFFF:
        raise ValueError(f"package cbEvent {cb_event} must exceed the pointer size {inline} and fit a USHORT")
    header.cb_event = cb_event
    header.u_data = chain
    header.us_flags |= DMUS_KEF_PACKAGE_EVENT


SHORT_EVT = short_evt
PACKAGE_EVT = package_evt
INCOMPLETE_EVT = incomplete_evt
COMPLETE_EVT = complete_evt
SET_INCOMPLETE_EVT = set_incomplete_evt
SET_COMPLETE_EVT = set_complete_evt
SET_PACKAGE_EVT = set_package_evt
CLEAR_PACKAGE_EVT = clear_package_evt

"""Targets: what a test or measurement runs against, chosen by one string as pyserial chooses a
port by URL (`loopback`, `emulator`, `board`, `board:SERIAL`, `midi:OUT,IN`).

Every target hands out the same kinds of handles — a pyusb device, OS MIDI port names for
python-rtmidi, a pyserial port — so the code above is the code that drives a real board.
Each kind lives in `rig.targets.<module>` and registers itself with `register`; `rig.targets.factory`
imports the module a --rig string asks for and builds the target (this module never imports a kind).
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self

from rig.errors import CapabilityMissing, UnknownTargetError
from rig.targets.midi_options import NONE_DECLARED, MidiOptions

if TYPE_CHECKING:
    import usb.core

    from rig.links.device_view import DeviceEventSource


class Feature(enum.StrEnum):
    """What a target can do; tests declare what they need and skip with the reason otherwise."""

    USB = "usb"
    """A pyusb device answering standard requests (the `usb` suite: USB 2.0 chapter 9)."""
    USB_MIDI = "usb-midi"
    """MIDIStreaming endpoints declared in its descriptors: raw USB-MIDI 1.0 event packets (`usbmidi`)."""
    CONTRACT = "contract"
    """Our board's contract (vendor requests, modes, counters): only for a device recognised by its
    IDs and its GET_INFO answer; no other device ever receives a vendor request."""
    MIDI_ECHO = "midi-echo"
    """What is sent to its MIDI OUT endpoint comes back on its MIDI IN endpoint: our board in ECHO
    mode, a device declared `echo`, or a DIN loopback cable (`loop`) between its MIDI OUT and IN."""
    MIDI_OS = "midi-os"
    """OS MIDI ports reached through python-rtmidi."""
    FRAMES = "frames"
    """The vendor bulk frame endpoints."""
    CONSOLE = "console"
    """A serial console reached through pyserial."""
    REAL_TIMING = "real-timing"
    """Latency and throughput figures describe a real device (not the emulator or loopback)."""


@dataclass(frozen=True)
class TargetSpec:
    """A parsed --rig string: kind and the optional argument after the first colon."""

    kind: str
    arg: str | None = None

    @classmethod
    def parse(cls, text: str) -> TargetSpec:
        kind, sep, arg = text.strip().partition(":")
        if not kind:
            raise UnknownTargetError(f"empty --rig value {text!r}; expected one of {', '.join(KINDS)}")
        return cls(kind.lower(), arg if sep else None)

    def __str__(self) -> str:
        return self.kind if self.arg is None else f"{self.kind}:{self.arg}"


class Target(abc.ABC):
    """One opened target. Use as a context manager; `close` releases everything it started."""

    spec: TargetSpec
    features: frozenset[Feature]
    midi_options: MidiOptions = NONE_DECLARED
    """What the target string declares about the device's MIDI side (`,echo`, `,cable=N`...)."""

    def __init__(self, spec: TargetSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return str(self.spec)

    def require(self, feature: Feature) -> None:
        """Raise CapabilityMissing naming the target and the feature when it lacks it."""
        if feature not in self.features:
            raise CapabilityMissing(f"target {self.name} has no {feature.value} capability")

    def lacks(self, feature: Feature) -> str:
        """Why the target does not have `feature`, for skip and not-applicable reasons ("" when it has it)."""
        if feature in self.features:
            return ""
        return f"target {self.name} has no {feature.value} capability"

    def foreign_vendor_requests(self) -> list[str]:
        """Vendor requests that reached a device that is not ours, where the rig can see the device's
        side (a `usb:...,bus=` software bus); the suites fail a test that adds to it."""
        return []

    @abc.abstractmethod
    def open(self) -> None:
        """Start or find the device; after this the handles below work."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop what open started; safe to call twice."""

    def usb_device(self) -> usb.core.Device:
        """The board as a pyusb device (Feature.USB)."""
        raise CapabilityMissing(f"target {self.name} has no usb capability")

    def midi_port_names(self) -> tuple[str, str]:
        """(output port to send to the device, input port it answers on), for python-rtmidi."""
        raise CapabilityMissing(f"target {self.name} has no midi-os capability")

    def console_port(self) -> str:
        """A path or URL pyserial opens to reach the board's console (Feature.CONSOLE)."""
        raise CapabilityMissing(f"target {self.name} has no console capability")

    def describe(self) -> dict[str, str]:
        """Facts for reports: target, firmware version, serial number, transport."""
        return {"target": self.name}

    def device_events(self) -> DeviceEventSource | None:
        """Where a capture gets the device-side view of the USB traffic (the emulator's bridge), or
        None for targets that have none."""
        return None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


TargetFactory = Callable[[TargetSpec], Target]

KINDS: dict[str, str] = {
    "loopback": "rig.targets.loopback",
    "emulator": "rig.targets.emulator",
    "board": "rig.targets.board",
    "midi": "rig.targets.midi_cable",
    "labgrid": "rig.labgrid.target",
    "usb": "rig.targets.usb_device",
}
"""Target kind -> the module that registers it (imported only when that kind is asked for)."""

_factories: dict[str, TargetFactory] = {}


def register(kind: str, factory: TargetFactory) -> None:
    """Called by a target module at import time."""
    _factories[kind] = factory


def registered(kind: str) -> TargetFactory | None:
    """The factory a target module registered for `kind` (None before that module is imported)."""
    return _factories.get(kind)

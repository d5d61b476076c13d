"""Target kind "board" / "board:SERIAL": an attached RP2040 reached through libusb (pyusb with
libusb_package's backend), the OS MIDI driver's ports and its CDC console port.

Everything that does not need the physical device takes its inputs as arguments (a pyusb backend,
port-name lists, serial-port records), so the loopback target runs and the tests cover the same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import usb.core

from rig import contract as c
from rig.errors import TargetError
from rig.target import Feature, Target, TargetSpec, register


class BoardNotFound(TargetError, LookupError):
    """No attached board matches (the message says what was looked for and what is there)."""


class AmbiguousBoard(TargetError, LookupError):
    """Several boards match; the message lists their serial numbers."""


@dataclass(frozen=True)
class FoundBoard:
    """One enumerated board: its pyusb device and where it sits."""

    device: usb.core.Device
    serial: str
    bus: int
    address: int

    def __str__(self) -> str:
        return f"{self.serial} (bus {self.bus} address {self.address})"


def libusb_backend() -> Any:
    """pyusb's libusb1 backend on the libusb that libusb_package installs; TargetError when missing."""
    try:
        import libusb_package
    except ImportError as exc:
        raise TargetError(f"libusb_package is not installed ({exc}); pip install libusb-package") from None
    backend = libusb_package.get_libusb1_backend()
    if backend is None:
        raise TargetError("libusb_package found no usable libusb-1.0 library")
    return backend


def _serial_of(device: usb.core.Device) -> str:
    try:
        return str(device.serial_number or "")
    except (usb.core.USBError, ValueError, NotImplementedError) as exc:
        return f"<unreadable: {exc}>"


def find_boards(serial: str | None = None, backend: Any = None, *, vid: int = c.VID,
                pid: int = c.PID) -> list[FoundBoard]:
    """Every attached board with our VID/PID (and `serial`, case-insensitive, when given).
    `backend` defaults to libusb through libusb_package."""
    if backend is None:
        try:
            backend = libusb_backend()
        except TargetError:
            return []
    try:
        devices = list(usb.core.find(find_all=True, idVendor=vid, idProduct=pid, backend=backend))
    except usb.core.NoBackendError:
        return []
    found = [FoundBoard(d, _serial_of(d), int(d.bus or 0), int(d.address or 0)) for d in devices]
    if serial is not None:
        found = [b for b in found if b.serial.upper() == serial.upper()]
    return found


def select_board(boards: Sequence[FoundBoard], serial: str | None,
                 everything: Sequence[FoundBoard]) -> FoundBoard:
    """The one board to use, or a clear error: none attached, none with that serial, or several."""
    if len(boards) == 1:
        return boards[0]
    present = ", ".join(str(b) for b in everything) or "none"
    if not boards:
        wanted = f"serial {serial}" if serial else f"{c.VID:04x}:{c.PID:04x}"
        raise BoardNotFound(f"no rig board with {wanted} is attached (attached rig boards: {present})")
    raise AmbiguousBoard(f"{len(boards)} rig boards are attached ({present}); choose one with "
                         f"--rig=board:SERIAL")


def match_midi_ports(outputs: Sequence[str], inputs: Sequence[str],
                     product: str = c.PRODUCT) -> tuple[str, str]:
    """(output port to send to the board, input port it answers on): the one port of each direction
    whose name contains `product`; TargetError naming the ports seen when none or several match."""
    def one(names: Sequence[str], direction: str) -> str:
        hits = [n for n in names if product in n]
        if len(hits) == 1:
            return hits[0]
        listing = ", ".join(repr(n) for n in names) or "none"
        problem = "no" if not hits else f"{len(hits)}"
        raise TargetError(f"{problem} MIDI {direction} ports named like {product!r} (seen: {listing})")
    return one(outputs, "output"), one(inputs, "input")


def rtmidi_port_names() -> tuple[list[str], list[str]]:
    """(output names, input names) over every compiled python-rtmidi API that opens."""
    try:
        import rtmidi
    except ImportError:
        return [], []
    outs: list[str] = []
    ins: list[str] = []
    for api in rtmidi.get_compiled_api():
        for cls, bucket in ((rtmidi.MidiOut, outs), (rtmidi.MidiIn, ins)):
            try:
                port = cls(rtapi=api)
            except rtmidi.SystemError:
                continue
            try:
                bucket.extend(port.get_ports())
            finally:
                port.delete()
    return outs, ins


def match_console_port(ports: Iterable[Any], serial: str, *, vid: int = c.VID, pid: int = c.PID) -> str:
    """The device path of the CDC port with our VID/PID and `serial` among pyserial ListPortInfo records."""
    candidates = [p for p in ports if (p.vid, p.pid) == (vid, pid)]
    hits = [p for p in candidates if (p.serial_number or "").upper() == serial.upper()]
    if len(hits) == 1:
        return str(hits[0].device)
    seen = ", ".join(f"{p.device} (serial {p.serial_number})" for p in candidates) or "none"
    problem = "no" if not hits else f"{len(hits)}"
    raise TargetError(f"{problem} serial ports for board {serial} (rig ports seen: {seen})")


def describe_board(device: usb.core.Device, name: str, transport: str) -> dict[str, str]:
    """Report facts: target, firmware version (bcdDevice), serial number, transport."""
    bcd = int(device.bcdDevice)
    return {"target": name, "firmware": f"{bcd >> 8}.{(bcd >> 4) & 0xF}.{bcd & 0xF}",
            "serial": _serial_of(device), "transport": transport}


class BoardTarget(Target):
    """An attached board. `backend` (tests) replaces libusb; MIDI and console are found by the OS."""

    def __init__(self, spec: TargetSpec, backend: Any = None) -> None:
        super().__init__(spec)
        self._backend = backend
        self.features = frozenset({Feature.USB, Feature.FRAMES, Feature.REAL_TIMING})
        self._found: FoundBoard | None = None
        self._midi: tuple[str, str] | None = None
        self._console: str | None = None
        self.problems: list[str] = []
        """Why MIDI_OS or CONSOLE is missing, after open()."""

    def open(self) -> None:
        """Find exactly one board, then its OS MIDI ports and its console port if the OS has them."""
        backend = self._backend if self._backend is not None else libusb_backend()
        everything = find_boards(None, backend)
        wanted = [b for b in everything if self.spec.arg is None or b.serial.upper() == self.spec.arg.upper()]
        self._found = select_board(wanted, self.spec.arg, everything)
        features = set(self.features)
        try:
            self._midi = match_midi_ports(*rtmidi_port_names())
            features.add(Feature.MIDI_OS)
        except TargetError as exc:
            self.problems.append(str(exc))
        try:
            from serial.tools import list_ports

            self._console = match_console_port(list_ports.comports(), self._found.serial)
            features.add(Feature.CONSOLE)
        except TargetError as exc:
            self.problems.append(str(exc))
        self.features = frozenset(features)

    def close(self) -> None:
        """Release pyusb's resources; the board itself keeps running."""
        if self._found is not None:
            import usb.util

            usb.util.dispose_resources(self._found.device)
            self._found = None

    def _board(self) -> FoundBoard:
        if self._found is None:
            raise TargetError(f"target {self.name} is not open")
        return self._found

    def usb_device(self) -> usb.core.Device:
        """The board through libusb."""
        return self._board().device

    def midi_port_names(self) -> tuple[str, str]:
        """The OS driver's ports, matched by the product name."""
        self.require(Feature.MIDI_OS)
        assert self._midi is not None
        return self._midi

    def console_port(self) -> str:
        """The CDC port pyserial opens (found by VID/PID/serial)."""
        self.require(Feature.CONSOLE)
        assert self._console is not None
        return self._console

    def describe(self) -> dict[str, str]:
        """Target, firmware version, serial number, transport."""
        return describe_board(self._board().device, self.name, "libusb")


register("board", BoardTarget)

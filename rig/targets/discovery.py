"""Finding devices: boards by VID/PID and serial through pyusb (any backend: libusb, the loopback's,
the emulator's), the OS MIDI ports and serial ports that belong to a board, and the default target.

Everything that does not need the physical device takes its inputs as arguments (a pyusb backend,
port-name lists, serial-port records), so the loopback and emulator targets run this code too.
"""

from __future__ import annotations

import functools
import os
import platform
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import usb.core

from rig import contract as c
from rig.errors import TargetError
from rig.os_midi import jack_ports
from rig.os_midi.jack import client_name


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
    """The device's serial number string ("" without one); when it cannot be read, `<unreadable: ...>`
    naming the request and why, a timeout by name. Not pyusb's `serial_number`: that turns a LANGID
    read that failed or timed out (an emulated board on a loaded machine) into "the device has no
    langid (permission issue, ...)", and a report then shows a wrong reason instead of the serial."""
    import usb.util

    index = int(device.iSerialNumber or 0)
    if not index:
        return ""
    step = "the LANGID table (string descriptor 0)"
    try:
        langids = usb.util.get_langids(device)
        if not langids:
            return "<unreadable: the device lists no LANGID in string descriptor 0>"
        step = f"string descriptor {index} (iSerialNumber)"
        return str(usb.util.get_string(device, index, langids[0]) or "")
    except usb.core.USBTimeoutError as exc:
        return f"<unreadable: reading {step} timed out (timeout {device.default_timeout} ms: {exc})>"
    except (usb.core.USBError, ValueError, NotImplementedError) as exc:
        return f"<unreadable: reading {step} failed: {exc}>"


class BadBoardIds(TargetError, ValueError):
    """RIG_VID or RIG_PID is not a 16-bit hexadecimal number (the message names which and its value)."""


def board_ids(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(VID, PID) of the rig's boards: RIG_VID / RIG_PID (hex, "2e8a" or "0x2e8a") when set, for a
    board flashed with other IDs, else the contract's pid.codes pair."""
    env = os.environ if env is None else env
    ids = []
    for name, default in (("RIG_VID", c.VID), ("RIG_PID", c.PID)):
        text = env.get(name, "").strip()
        if not text:
            ids.append(default)
            continue
        try:
            value = int(text, 16)
        except ValueError:
            raise BadBoardIds(f"{name}={text!r} is not a hexadecimal USB ID "
                              f"(e.g. {name}={default:04x})") from None
        if not 0 <= value <= 0xFFFF:
            raise BadBoardIds(f"{name}={text!r} is outside 0000..ffff")
        ids.append(value)
    return ids[0], ids[1]


def find_boards(serial: str | None = None, backend: Any = None, *, vid: int | None = None,
                pid: int | None = None) -> list[FoundBoard]:
    """Every attached board with the rig's VID/PID (and `serial`, case-insensitive, when given).
    Without `vid`/`pid` the IDs are board_ids() (RIG_VID / RIG_PID, else the contract's); a given
    `backend` (a software board) is also searched for the contract's IDs, which software boards
    always carry. `backend` defaults to libusb through libusb_package."""
    pairs = [board_ids()]
    if vid is not None or pid is not None:
        pairs = [(c.VID if vid is None else vid, c.PID if pid is None else pid)]
    elif backend is not None and pairs[0] != (c.VID, c.PID):
        pairs.append((c.VID, c.PID))
    if backend is None:
        try:
            backend = libusb_backend()
        except TargetError:
            return []
    devices: list[usb.core.Device] = []
    try:
        for v, p in pairs:
            devices += list(usb.core.find(find_all=True, idVendor=v, idProduct=p, backend=backend))
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
        vid, pid = board_ids()
        wanted = f"serial {serial}" if serial else f"{vid:04x}:{pid:04x}"
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


SEQ_GLOBAL_CLIENTS = 16
"""ALSA sequencer clients 0..15 are global (System, Midi Through); card clients start here."""
SEQ_CLIENTS_PER_CARD = 4
"""Statically numbered kernel clients per card: card N's first client is 16 + 4 N (cards 0..27)."""
SEQ_STATIC_CLIENT_END = 128

_ALSA_CLIENT = re.compile(r"\s(\d+):(\d+)$")
"""python-rtmidi's ALSA port names end in "CLIENT:PORT" ("Pico MIDI:Pico MIDI MIDI 1 24:0")."""
_A2J_CLIENT = re.compile(r"\[(\d+)\]")
"""a2jmidid's JACK port names carry the ALSA client in brackets ("a2j:Pico MIDI [24] (playback): ...")."""


def alsa_card_of_port(name: str) -> int | None:
    """The sound card an ALSA sequencer port belongs to, from the client number in the port name
    (ALSA's static numbering: card N's kernel clients are 16 + 4 N .. 16 + 4 N + 3); None when the
    name carries no client number or the client is not a card's (global or dynamically numbered)."""
    m = _ALSA_CLIENT.search(name) or _A2J_CLIENT.search(name)
    if m is None:
        return None
    client = int(m.group(1))
    if not SEQ_GLOBAL_CLIENTS <= client < SEQ_STATIC_CLIENT_END:
        return None
    return (client - SEQ_GLOBAL_CLIENTS) // SEQ_CLIENTS_PER_CARD


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


@dataclass(frozen=True)
class CardUsb:
    """What the OS says about the USB device behind a sound card: serial, and bus/address."""

    card: int
    serial: str | None
    bus: int | None
    address: int | None


def card_usb_device(card: int, root: Path = Path("/")) -> CardUsb | None:
    """The USB device behind sound card `card`, read under `root` (a fake tree in tests):
    /sys/class/sound/cardN/device is the USB interface, whose parent directory is the device with
    its `serial`, `busnum` and `devnum`; /proc/asound/cardN/usbbus ("001/005") gives bus/address
    when sysfs has no serial. None when the card does not exist or is not a USB card."""
    serial: str | None = None
    bus: int | None = None
    address: int | None = None
    link = root / "sys" / "class" / "sound" / f"card{card}" / "device"
    if link.exists():
        interface = link.resolve()
        for candidate in (interface.parent, interface):
            serial = _read(candidate / "serial")
            busnum, devnum = _read(candidate / "busnum"), _read(candidate / "devnum")
            if busnum and devnum and busnum.isdigit() and devnum.isdigit():
                bus, address = int(busnum), int(devnum)
            if serial is not None or bus is not None:
                break
    usbbus = _read(root / "proc" / "asound" / f"card{card}" / "usbbus")
    if usbbus and bus is None:
        left, _, right = usbbus.partition("/")
        if left.isdigit() and right.isdigit():
            bus, address = int(left), int(right)
    if serial is None and bus is None:
        return None
    return CardUsb(card, serial, bus, address)


def match_board_midi_ports(outputs: Sequence[str], inputs: Sequence[str], board: FoundBoard, *,
                           product: str = c.PRODUCT, root: Path = Path("/"),
                           system: str | None = None) -> tuple[str, str]:
    """The OS MIDI ports of one board when several may be attached. On Linux, a port is the board's
    when its ALSA client's sound card sits on the USB device with the board's serial (or bus and
    address), read from sysfs/procfs under `root`; ports that cannot be tied to a card fall back to
    the product-name rule only when exactly one port of that direction matches the name. Elsewhere
    only the name rule exists (said in the error). TargetError names the ports seen."""
    system = system or platform.system()

    def one(names: Sequence[str], direction: str) -> str:
        named = [n for n in names if product in n]
        listing = ", ".join(repr(n) for n in names) or "none"
        if system != "Linux":
            if len(named) == 1:
                return named[0]
            problem = "no" if not named else f"{len(named)}"
            raise TargetError(f"{problem} MIDI {direction} ports named like {product!r} (seen: {listing}); "
                              f"on {system} ports are matched by product name only, so with several boards "
                              f"attached the board {board.serial} cannot be told apart")
        mine: list[str] = []
        unknown: list[str] = []
        for n in named:
            card = alsa_card_of_port(n)
            usb_dev = card_usb_device(card, root) if card is not None else None
            if usb_dev is None:
                unknown.append(n)
            elif (usb_dev.serial is not None and usb_dev.serial.upper() == board.serial.upper()) or (
                    usb_dev.serial is None and (usb_dev.bus, usb_dev.address) == (board.bus, board.address)):
                mine.append(n)
        if len(mine) == 1:
            return mine[0]
        if len(mine) > 1:
            raise TargetError(f"{len(mine)} MIDI {direction} ports belong to board {board.serial}: "
                              f"{', '.join(map(repr, mine))}")
        if len(named) == 1 and unknown:
            return named[0]
        sysfs = root / "sys/class/sound"
        why = (f"{len(unknown)} of them could not be tied to a USB device through {sysfs}" if unknown
               else f"none is on the USB device with serial {board.serial}")
        raise TargetError(f"no MIDI {direction} port found for board {board.serial}: {len(named)} named like "
                          f"{product!r}, {why} (seen: {listing})")
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
                port = jack_ports.open_client(functools.partial(  # a name of its own: see client_name
                    cls, rtapi=api, name=client_name(f"rig discovery {'out' if bucket is outs else 'in'}")))
            except rtmidi.SystemError:
                continue
            try:
                bucket.extend(port.get_ports())
            finally:
                jack_ports.close(port)
    return outs, ins


def match_console_port(ports: Iterable[Any], serial: str, *, vid: int | None = None,
                       pid: int | None = None) -> str:
    """The device path of the CDC port with the rig's VID/PID (board_ids() unless given) and `serial`
    among pyserial ListPortInfo records."""
    default_vid, default_pid = board_ids()
    vid = default_vid if vid is None else vid
    pid = default_pid if pid is None else pid
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


def default_target() -> str:
    """`board` when an attached board is found, else `loopback` (the brief's default)."""
    return "board" if find_boards() else "loopback"

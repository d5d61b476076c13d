"""`rig list`: attached boards (pyusb + libusb_package), every USB-MIDI class device with what it
declares, whether the rig can open it and the --rig string for it, OS MIDI ports (every rtmidi API),
serial ports."""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from rig import contract as c
from rig.cli._out import stdout
from rig.os_midi import jack_ports
from rig.os_midi.jack import client_name
from rig.os_midi.quiet import captured_stderr
from rig.tools.udev import RP2040_BOOTSEL_PID, RP2040_BOOTSEL_VID


@dataclass(frozen=True)
class UsbEntry:
    """One USB device the rig cares about."""

    kind: str
    vid_pid: str
    location: str
    serial: str


def usb_devices() -> tuple[list[UsbEntry], str | None]:
    """Rig boards and RP2040 bootloaders on the bus, or the reason the bus cannot be read."""
    try:
        import libusb_package
        import usb.core

        found: list[UsbEntry] = []
        for kind, vid, pid in (("rig board", c.VID, c.PID),
                               ("RP2040 BOOTSEL", RP2040_BOOTSEL_VID, RP2040_BOOTSEL_PID)):
            for dev in libusb_package.find(find_all=True, idVendor=vid, idProduct=pid):
                try:
                    serial = str(dev.serial_number or "")
                except (usb.core.USBError, ValueError) as exc:
                    serial = f"(unreadable: {exc})"
                found.append(UsbEntry(kind, f"{vid:04x}:{pid:04x}", f"bus {dev.bus} address {dev.address}",
                                      serial))
        return found, None
    except Exception as exc:  # a broken or absent libusb is reported, not raised
        return [], f"cannot list USB devices: {exc}"


def midi_ports() -> list[tuple[str, str, str]]:
    """(API, direction, port name or the reason the API is unusable) for every compiled rtmidi API."""
    import rtmidi

    rows: list[tuple[str, str, str]] = []
    for api in rtmidi.get_compiled_api():
        name = rtmidi.get_api_display_name(api)
        for direction, cls in (("out", rtmidi.MidiOut), ("in", rtmidi.MidiIn)):
            try:
                with captured_stderr():  # JACK/ALSA probe noise on fd 2
                    port = jack_ports.open_client(functools.partial(  # a name of its own: see client_name
                        cls, api, client_name(f"rig list {direction}")))
                    names = port.get_ports()
                    jack_ports.close(port)
            except rtmidi.SystemError as exc:
                rows.append((name, direction, f"unavailable: {exc}"))
                continue
            rows += [(name, direction, n) for n in names] or [(name, direction, "(no ports)")]
    return rows


def serial_ports() -> list[tuple[str, str, str]]:
    """(device, VID:PID, description) of every serial port pyserial sees."""
    from serial.tools import list_ports

    out = []
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        ids = f"{port.vid:04x}:{port.pid:04x}" if port.vid is not None and port.pid is not None else ""
        mark = " (rig board console)" if (port.vid, port.pid) == (c.VID, c.PID) else ""
        out.append((str(port.device), ids, f"{port.description}{mark}"))
    return out


def print_usb_midi_devices(backend: Any = None) -> None:
    """The USB-MIDI class devices table (any VID:PID), or why there is none."""
    from rig.targets.usb_listing import how_to_point, usb_midi_devices

    out = stdout()
    entries, problem = usb_midi_devices(backend)
    if not entries:
        out.print(f"USB-MIDI devices: {problem or 'none attached'}")
        return
    out.print("USB-MIDI devices (any VID:PID):")
    for e in entries:  # one block each: too much for one table row on an 80-column terminal
        serial = f", serial {e.serial}" if e.serial else ""
        for line in (f"  {e.ids} at {e.location}{serial}: MIDI {e.cables}; {e.ports}",
                     f"    access: {e.access}", f"    {how_to_point(e)}"):
            out.print(line, markup=False, highlight=False, soft_wrap=True)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the subcommand."""
    p = sub.add_parser("list", help="list attached boards, USB-MIDI devices, OS MIDI ports and serial ports",
                       description="List rig boards and RP2040 bootloaders on USB, every USB-MIDI class "
                                   "device (any VID:PID: cables, ports, access, the --rig string), the MIDI "
                                   "ports of every python-rtmidi API, and serial ports.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print three tables."""
    out = stdout()
    devices, problem = usb_devices()
    table = Table(title="USB boards", title_justify="left")
    for column in ("kind", "VID:PID", "location", "serial"):
        table.add_column(column)
    for d in devices:
        table.add_row(d.kind, d.vid_pid, d.location, d.serial)
    out.print(table if devices else f"USB boards: {problem or 'none attached'}")
    print_usb_midi_devices()
    table = Table(title="MIDI ports", title_justify="left")
    for column in ("API", "dir", "port"):
        table.add_column(column)
    for row in midi_ports():
        table.add_row(*row)
    out.print(table)
    ports = serial_ports()
    table = Table(title="Serial ports", title_justify="left")
    for column in ("device", "VID:PID", "description"):
        table.add_column(column)
    for row in ports:
        table.add_row(*row)
    out.print(table if ports else "Serial ports: none")
    return 0

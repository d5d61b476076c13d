"""Every USB-MIDI class device on the bus (any VID:PID), for `rig list` and `rig doctor`: what its
descriptors declare (MIDI endpoints, cables, jacks, CDC ports), whether the rig can open it
(permissions, an OS driver on its MIDI interface) and the --rig string that points the rig at it.

Descriptors come from what libusb already read at enumeration (no request to the device); opening
the device only checks access. No vendor request is sent to anything.
"""

from __future__ import annotations

import errno
from collections import Counter
from dataclasses import dataclass
from typing import Any

import usb.core
import usb.util

from rig.checks.capabilities import DeviceCapabilities, capabilities_of
from rig.checks.errors import DescriptorParseError
from rig.checks.parse import parse_configuration, parse_device
from rig.links.descriptor_bytes import configuration_bytes, device_descriptor_bytes
from rig.targets.discovery import libusb_backend
from rig.targets.probe import carries_rig_ids
from rig.targets.usb_device import location_of, serial_of

UDEV_FIX = ("rig udev-rules | sudo tee /etc/udev/rules.d/60-rig.rules (it covers rig boards; for another "
            "device add a line with its idVendor/idProduct), then sudo udevadm control --reload-rules && "
            "sudo udevadm trigger")


@dataclass(frozen=True)
class UsbMidiEntry:
    """One USB-MIDI class device as `rig list` shows it."""

    ids: str
    location: str
    serial: str
    capabilities: DeviceCapabilities
    access: str
    """"can open", or why not (permissions), plus any OS driver the rig would detach."""
    openable: bool
    spec: str
    """The --rig string that points at exactly this device."""
    rig_ids: bool
    """It carries the rig board's VID:PID (the rig asks GET_INFO only of such a device)."""

    @property
    def cables(self) -> str:
        """"OUT 0x01: 1 cable, IN 0x81: 1 cable" style summary of its MIDI endpoints."""
        return ", ".join(f"{'IN' if ep.is_in else 'OUT'} 0x{ep.address:02X} {ep.max_packet} B: {ep.cables} "
                         f"cable{'s' if ep.cables != 1 else ''}" for ep in self.capabilities.midi_endpoints())

    @property
    def ports(self) -> str:
        """CDC ACM ports and external MIDI jacks."""
        jacks = sum(m.external_in_jacks + m.external_out_jacks for m in self.capabilities.midi)
        cdc = len(self.capabilities.cdc)
        return f"{jacks} external jack{'s' if jacks != 1 else ''}" + (f", {cdc} CDC ACM port" if cdc else "")


def _capabilities(dev: usb.core.Device) -> DeviceCapabilities | None:
    backend, handle = dev._ctx.backend, dev._ctx.dev
    try:
        raw_device = device_descriptor_bytes(backend.get_device_descriptor(handle))
        raw_config = configuration_bytes(backend, handle, 0)
        return capabilities_of(parse_device(raw_device), parse_configuration(raw_config))
    except (usb.core.USBError, DescriptorParseError, IndexError, LookupError, ValueError):
        return None


def _access(dev: usb.core.Device, caps: DeviceCapabilities) -> tuple[bool, str]:
    """Open the device (no request is sent) and ask which MIDI interfaces an OS driver holds."""
    try:
        dev._ctx.managed_open()
    except usb.core.USBError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return False, f"no permission to open {location_of(dev)} -> {UDEV_FIX}"
        return False, f"cannot open: {exc}"
    except NotImplementedError as exc:
        return False, f"cannot open: {exc}"
    try:
        held = []
        for interface in caps.midi:
            try:
                if dev.is_kernel_driver_active(interface.number):
                    held.append(interface.number)
            except (usb.core.USBError, NotImplementedError):
                continue
    finally:
        usb.util.dispose_resources(dev)
    if held:
        return True, (f"can open; an OS driver holds MIDI interface {', '.join(map(str, held))} (the rig "
                      f"detaches it only while a suite uses it, then gives it back)")
    return True, "can open"


def _spec(dev: usb.core.Device, caps: DeviceCapabilities, serial: str, same_ids: int) -> str:
    if same_ids == 1:
        return f"usb:{caps.ids}"
    if serial:
        return f"usb:{caps.ids}:{serial}"
    return f"usb:{location_of(dev)}"


def usb_midi_devices(backend: Any = None) -> tuple[list[UsbMidiEntry], str | None]:
    """Every USB-MIDI class device, or the reason the bus cannot be read (libusb missing)."""
    try:
        backend = backend if backend is not None else libusb_backend()
        devices = list(usb.core.find(find_all=True, backend=backend))
    except Exception as exc:  # a broken or absent libusb is reported, not raised
        return [], f"cannot list USB devices: {exc}"
    found = [(dev, caps) for dev in devices if (caps := _capabilities(dev)) is not None and caps.is_usb_midi]
    counts = Counter(caps.ids for _, caps in found)
    entries = []
    for dev, caps in found:
        openable, access = _access(dev, caps)
        serial = serial_of(dev) if openable else ""
        spec = _spec(dev, caps, serial, counts[caps.ids])
        entries.append(UsbMidiEntry(caps.ids, location_of(dev), serial, caps, access, openable, spec,
                                    carries_rig_ids(caps.vid, caps.pid)))
    return entries, None


def how_to_point(entry: UsbMidiEntry) -> str:
    """What to pass as --rig, with the options that unlock more suites."""
    text = f"--rig {entry.spec}"
    if entry.rig_ids:  # ours (if it answers GET_INFO): the contract puts it in ECHO, no option needed
        return text + " or --rig board" + (f":{entry.serial}" if entry.serial else "")
    if entry.capabilities.midi_pair() is not None:
        text += (" (add ,echo if it sends back what it receives, ,loop with a DIN cable from its MIDI OUT "
                 "to IN)")
    return text

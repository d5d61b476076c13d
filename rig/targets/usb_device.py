"""Target kind "usb": any attached USB device through libusb, chosen by `usb:VID:PID[:SERIAL]` or by
where it is plugged in, `usb:BUS-PORT[.PORT...]` (Linux's sysfs name, e.g. `usb:1-1.4`).

Options follow commas: the MIDI declarations `echo`, `loop`, `cable=N`, `listen=S`
(rig.targets.midi_options, shared with `emulator:IMAGE`), and `bus=loopback` or `bus=emulator` (no
hardware: the software board, or
the firmware in the emulator, presented on a software bus with the asked VID:PID and OS drivers
bound as Linux binds them, so this target's code runs in CI; see rig.links.foreign).

What the device can do comes from its descriptors (rig.targets.probe); it is treated as our board
only when it carries the rig's IDs and answers GET_INFO, and no other device is sent a vendor
request. The target claims no interface itself: the suites claim what they use (OS drivers are
detached from those interfaces only and attached again afterwards, rig.client.raw_midi.InterfaceClaim).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import usb.core
import usb.util

from rig import contract as c
from rig.errors import TargetError
from rig.links.foreign import ForeignLink
from rig.links.pyusb_backend import LinkBackend
from rig.links.usb_link import UsbLink, UsbLinkError
from rig.targets.discovery import describe_board, libusb_backend
from rig.targets.midi_options import MIDI_OPTIONS_USAGE, NONE_DECLARED, MidiOptions
from rig.targets.probe import DeviceProbe, carries_rig_ids, probe_device
from rig.targets.reattach import REATTACH_TIMEOUT_S, find_again, identity_of
from rig.targets.registry import Feature, Target, TargetSpec, register

_IDS = re.compile(r"^([0-9a-fA-F]{1,4}):([0-9a-fA-F]{1,4})(?::(.+))?$")
_PATH = re.compile(r"^(\d+)-(\d+(?:\.\d+)*)$")
BUSES = ("loopback", "emulator")


class BadUsbSpec(TargetError, ValueError):
    """A `usb:` target string that does not parse (the message shows the accepted forms)."""


class UsbDeviceNotFound(TargetError, LookupError):
    """No attached device matches (the message lists the USB-MIDI devices that are attached)."""


USAGE = (f"usb:VID:PID[:SERIAL]{MIDI_OPTIONS_USAGE}[,bus=loopback|emulator] or "
         "usb:BUS-PORT[.PORT...][,...] (e.g. usb:1209:0001, usb:1-1.4,echo)")


@dataclass(frozen=True)
class UsbSelector:
    """A parsed `usb:` argument."""

    vid: int | None = None
    pid: int | None = None
    serial: str | None = None
    bus: int | None = None
    ports: tuple[int, ...] = ()
    midi: MidiOptions = NONE_DECLARED
    software_bus: str | None = None

    @classmethod
    def parse(cls, arg: str | None) -> UsbSelector:
        """Parse what follows `usb:`; BadUsbSpec naming the problem."""
        if not arg:
            raise BadUsbSpec(f"usb: needs a device: {USAGE}")
        where, *options = [part.strip() for part in arg.split(",")]
        fields: dict[str, Any] = {}
        midi = NONE_DECLARED
        for option in options:
            name, _, value = option.partition("=")
            if (more := midi.with_option(option)) is not None:
                midi = more
            elif name == "bus" and value in BUSES:
                fields["software_bus"] = value
            else:
                raise BadUsbSpec(f"usb:{arg}: unknown option {option!r}; {USAGE}")
        fields["midi"] = midi
        if m := _IDS.match(where):
            return cls(vid=int(m.group(1), 16), pid=int(m.group(2), 16), serial=m.group(3), **fields)
        if m := _PATH.match(where):
            return cls(bus=int(m.group(1)), ports=tuple(int(p) for p in m.group(2).split(".")), **fields)
        raise BadUsbSpec(f"usb:{arg}: {where!r} is neither VID:PID[:SERIAL] nor BUS-PORT; {USAGE}")

    def matches(self, dev: usb.core.Device) -> bool:
        """True when `dev` is the device this selector names."""
        if self.vid is not None:
            if (dev.idVendor, dev.idProduct) != (self.vid, self.pid):
                return False
            return self.serial is None or serial_of(dev).upper() == self.serial.upper()
        return int(dev.bus or 0) == self.bus and tuple(dev.port_numbers or ()) == self.ports

    def __str__(self) -> str:
        if self.vid is not None:
            return f"{self.vid:04x}:{self.pid:04x}" + (f" serial {self.serial}" if self.serial else "")
        return f"bus {self.bus} port {'.'.join(map(str, self.ports))}"


def serial_of(dev: usb.core.Device) -> str:
    """iSerialNumber, or "" when the device has none or it cannot be read."""
    try:
        return str(dev.serial_number or "") if dev.iSerialNumber else ""
    except (usb.core.USBError, ValueError, NotImplementedError):
        return ""


def location_of(dev: usb.core.Device) -> str:
    """Linux's sysfs name of where the device is plugged in: BUS-PORT[.PORT...]."""
    return f"{int(dev.bus or 0)}-{'.'.join(str(p) for p in (dev.port_numbers or ()))}"


def class_driver_interfaces(link: UsbLink) -> tuple[list[int], tuple[int, int]]:
    """The interfaces a Linux host binds class drivers to on this device — audio control and
    MIDIStreaming (snd-usb-audio), CDC ACM communication and data (cdc_acm) — and its own VID:PID."""
    from rig.checks.capabilities import capabilities_of
    from rig.checks.parse import parse_configuration, parse_device
    from rig.contract.ch9 import DT_CONFIGURATION, DT_DEVICE, GET_DESCRIPTOR

    def get(dtype: int, length: int) -> bytes:
        data = link.control(0x80, GET_DESCRIPTOR, dtype << 8, 0, length, 1000)
        assert isinstance(data, bytes | bytearray)
        return bytes(data)

    head = get(DT_CONFIGURATION, 9)
    caps = capabilities_of(parse_device(get(DT_DEVICE, 18)),
                           parse_configuration(get(DT_CONFIGURATION, int.from_bytes(head[2:4], "little"))))
    numbers = set(caps.audio_control_interfaces) | {m.number for m in caps.midi}
    for port in caps.cdc:
        numbers.add(port.control_interface)
        if port.data_interface is not None:
            numbers.add(port.data_interface)
    return sorted(numbers), (caps.vid, caps.pid)


def software_link(kind: str, image: Path | None = None) -> UsbLink:
    """A new software board for `bus=`: the loopback twin, or the firmware in the emulator (built when
    stale, as the emulator target builds it)."""
    if kind == "loopback":
        from rig.loopback import LoopbackBoard

        return LoopbackBoard()
    from rig.links.emulator import EmulatorLink
    from rig.targets.emulator import DEFAULT_IMAGE, build_if_stale

    if image is None:
        image = build_if_stale(DEFAULT_IMAGE)
    return EmulatorLink(image)


class UsbDeviceTarget(Target):
    """Any USB device: `backend` (tests) replaces libusb; `bus=` in the spec builds a software bus."""

    def __init__(self, spec: TargetSpec, backend: Any = None) -> None:
        super().__init__(spec)
        self.selector = UsbSelector.parse(spec.arg)
        self.midi_options = self.selector.midi
        self._backend = backend
        self.features = frozenset({Feature.USB})
        self.expected_features = frozenset({Feature.USB})
        """After open: what the descriptors (and, for our board, GET_INFO) declare (--rig-strict rule)."""
        self.probe: DeviceProbe | None = None
        self.link: ForeignLink | None = None
        """The software bus's device (bus=...), None on libusb."""
        self._device: usb.core.Device | None = None
        self._found_on: Any = None
        """The backend the device was found on (libusb, the test's, or the software bus's)."""
        self._identity = ""

    def _software_backend(self) -> LinkBackend:
        sel = self.selector
        assert sel.software_bus is not None
        inner = software_link(sel.software_bus)
        try:
            drivers, (own_vid, own_pid) = class_driver_interfaces(inner)
            vid, pid = (own_vid, own_pid) if sel.vid is None or sel.pid is None else (sel.vid, sel.pid)
            self.link = ForeignLink(inner, vid, pid, driver_interfaces=drivers,
                                    refuse_vendor=not carries_rig_ids(vid, pid))
        except BaseException:
            inner.close()
            raise
        return LinkBackend([self.link])

    def _candidates(self, backend: Any) -> list[usb.core.Device]:
        try:
            return list(usb.core.find(find_all=True, backend=backend))
        except usb.core.NoBackendError as exc:
            raise TargetError(f"target {self.name}: libusb is not usable ({exc})") from None

    def open(self) -> None:
        """Find exactly one matching device and read what it can do from its descriptors."""
        if self._device is not None:
            return
        sel = self.selector
        try:
            backend = self._backend
            if backend is None:
                backend = self._software_backend() if sel.software_bus else libusb_backend()
            everything = self._candidates(backend)
            wanted = [d for d in everything if sel.matches(d)]
            if len(wanted) != 1:
                listing = ", ".join(f"{d.idVendor:04x}:{d.idProduct:04x} at {location_of(d)}"
                                    + (f" serial {serial_of(d)}" if serial_of(d) else "") for d in everything)
                if not wanted:
                    raise UsbDeviceNotFound(f"target {self.name}: no USB device with {sel} is attached "
                                            f"(attached: {listing or 'none'}; `rig list` shows the "
                                            f"USB-MIDI ones)")
                raise TargetError(f"target {self.name}: {len(wanted)} devices match {sel} ({listing}); add "
                                  f":SERIAL or use usb:BUS-PORT")
            device = wanted[0]
            self.probe = probe_device(device, sel.midi)
        except BaseException:
            self._close_link()
            raise
        self._device = device
        self._found_on = backend
        self._identity = identity_of(device, serial_of(device))
        real = {Feature.REAL_TIMING} if self.link is None else set()  # a real device, not a software bus
        self.features = self.probe.features | real
        self.expected_features = self.features

    def identity(self) -> str:
        """The open device as VID:PID and serial number (read when it was found): what `reattach`
        finds again."""
        self.usb_device()
        return self._identity

    def reattach(self, timeout_s: float = REATTACH_TIMEOUT_S) -> None:
        """Continue after the device left the bus and enumerated again by itself (a firmware reboot,
        a watchdog reset; docs/protocol.md, *Re-enumeration*): the handle opened before is stale
        (ENODEV). This finds the device again once the host has enumerated it (on libusb the OS does;
        on a software bus this target does, as the OS would), the one the selector names with the
        VID:PID and serial number it had, reads its descriptors again and continues on it. TargetError
        naming the device when it is not back within `timeout_s`: the target stays as it was, or is
        closed when another device answers to its selector (the message names it)."""
        before = self.identity()
        sel = self.selector
        inner = self.link.inner if self.link is not None else None
        if inner is not None:
            enumerate_again = getattr(inner, "reattach", None)
            if enumerate_again is None:
                raise TargetError(f"target {self.name}: the software bus's {sel.software_bus} board never "
                                  f"leaves the bus, so there is nothing to reattach to")
            try:
                enumerate_again(timeout_s)
            except UsbLinkError as exc:
                raise TargetError(f"target {self.name}: device {before} did not enumerate again: "
                                  f"{exc}") from exc
        assert self._device is not None
        usb.util.dispose_resources(self._device)
        device, instead = find_again(
            lambda: [(d, identity_of(d, serial_of(d))) for d in self._candidates(self._found_on)
                     if sel.matches(d)], before, timeout_s)
        if device is None:
            gone = f"target {self.name}: device {before} did not come back within {timeout_s:g} s"
            if not instead:
                raise TargetError(gone)
            self.close()
            raise TargetError(f"{gone}; {sel} is now {', '.join(instead)}")
        self.probe = probe_device(device, sel.midi)
        self._device = device

    def lacks(self, feature: Feature) -> str:
        """Why the device does not have `feature` (from its descriptors or the missing declaration)."""
        if feature in self.features:
            return ""
        if feature in (Feature.MIDI_OS, Feature.CONSOLE, Feature.REAL_TIMING):
            return ("a usb: target is reached through libusb only (no OS MIDI ports or console matched; for "
                    "MIDI through the OS use midi:OUT,IN)")
        if self.probe is None:
            return super().lacks(feature)
        return self.probe.why_missing(feature)

    def foreign_vendor_requests(self) -> list[str]:
        """What the software bus's foreign device was sent as vendor requests (it STALLs each)."""
        if self.link is None or not self.link.refuse_vendor:
            return []
        return list(self.link.vendor_requests)

    def _close_link(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None

    def close(self) -> None:
        """Release pyusb's resources (and stop a software bus's board); safe to call twice."""
        try:
            if self._device is not None:
                usb.util.dispose_resources(self._device)
                self._device = None
        finally:
            self._close_link()

    def usb_device(self) -> usb.core.Device:
        """The device through libusb (or the software bus)."""
        if self._device is None:
            raise TargetError(f"target {self.name} is not open")
        return self._device

    def describe(self) -> dict[str, str]:
        """Target, IDs, firmware (bcdDevice), serial, transport, whether it is our board, and what its
        descriptors declare."""
        dev = self.usb_device()
        assert self.probe is not None
        transport = f"software bus ({self.selector.software_bus})" if self.link is not None else "libusb"
        facts = describe_board(dev, self.name, transport)
        facts["ids"] = self.probe.capabilities.ids
        facts["identity"] = self.probe.identity
        facts["declares"] = self.probe.capabilities.summary()
        return facts


CONTRACT_IDS = f"{c.VID:04x}:{c.PID:04x}"
"""The rig board's VID:PID as a `usb:` target names it."""

register("usb", UsbDeviceTarget)

"""Target kind "emulator": the real firmware image running in rp2040js behind the Node bridge,
reached as a pyusb device (rig.links.pyusb_backend over rig.links.emulator) and a pty console.

`emulator` builds firmware/build/rig_firmware.bin and the model boot ROM beside it when either is
missing or older than its sources (needs arm-none-eabi-gcc);
`emulator:IMAGE[,rom=PATH][,bootsel][,uid=HEX16][,echo][,loop][,cable=N][,listen=S]` runs the given
image of any RP2040 firmware (.uf2, .elf or .bin) instead, with the boot ROM `rom=` names (a real
RP2040 boot ROM the user supplies; env RIG_ROM does the same), else the model ROM built beside the
image, else the repository build's; `bootsel` holds the BOOTSEL button from power-on. An image that
is not our board (another VID:PID) is a plain USB device: the USB capability only, its features
coming from its descriptors, no vendor request sent; the MIDI declarations (`echo`: it sends back
what it receives, `cable=N`... as for `usb:`, rig.targets.midi_options) add what descriptors cannot
say, so the `midi` suite runs on an image declared `echo`. When a real ROM ends up in its own USB
bootloader (2e8a:0003) without `bootsel`, opening fails saying why (bad boot2 CRC...). The emulator
never gives timing figures, so REAL_TIMING is not a feature.

BOOTSEL: when the firmware reboots into the ROM's USB bootloader (REBOOT_BOOTLOADER, or the
1200-baud touch on the console pty) the target behaves like a board that did so: its USB device is
gone (every call raises LinkGone saying BOOTSEL, with the masks), the console pty stops carrying
data, and it stays that way; the bootloader's own USB device is not modelled, so nothing new
appears. `close()` then `open()` is a power cycle: a new bridge boots the image again. The session
target of the pytest plugin is shared by many tests, so tests that reboot open their own
EmulatorTarget (or EmulatorLink).

Re-enumeration (docs/protocol.md): when the device leaves the bus and enumerates again by itself (a
watchdog reset) the handle opened before is stale: every transfer on it fails with DeviceReenumerated
(through pyusb a USBError ENODEV whose text names the image, the flash unique ID and the reset).
`reattach()` finds the same device again on the same emulated board (VID:PID and serial number) and
the target continues with a new pyusb device, console and class driver; the rig never does that by
itself, so a device that rebooted is seen, not hidden.

OS MIDI ports come from the rig's own USB-MIDI class driver (rig.os_midi.class_driver), not from the
OS: no OS driver sees an emulated device, so the rig binds its MIDI interfaces the way snd-usb-audio
binds a real board's (a raw claim gets EBUSY until detach_kernel_driver) and carries them to
python-rtmidi virtual ports, on the MIDI system the loopback target uses (ALSA, or JACK: a running
server or one the target starts itself; RIG_JACK=auto|never|always, rig.os_midi.system).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import usb.core
import usb.util

from rig import contract as c
from rig.errors import TargetError
from rig.links.emulator import REPO, ROM_BOOTLOADER_IDS, ROM_NAME, EmulatorLink, boot_diagnosis, flash_uid_hex
from rig.links.foreign import ForeignLink
from rig.links.pty_line import LineWatcher, open_raw_pty
from rig.links.pyusb_backend import LinkBackend
from rig.links.usb_link import LinkTimeout, UsbLinkError
from rig.os_midi.class_driver import BoundLink, UsbMidiClassDriver
from rig.os_midi.system import midi_possible
from rig.targets.discovery import describe_board, find_boards, select_board
from rig.targets.link_target import ClassDriverPorts
from rig.targets.midi_options import MIDI_OPTIONS_USAGE, NONE_DECLARED, MidiOptions
from rig.targets.probe import DeviceProbe, probe_device
from rig.targets.registry import Feature, TargetSpec, register

FIRMWARE_DIR = REPO / "firmware"
DEFAULT_IMAGE = FIRMWARE_DIR / "build" / "rig_firmware.bin"
SOURCE_GLOBS = ("src/*.c", "src/*.h", "src/*.S", "include/*.h", "boot2/*.S", "emulator/rom/*.S", "tools/*.py",
                "link.ld", "Makefile")
FEATURES = frozenset({Feature.USB, Feature.FRAMES, Feature.CONSOLE, Feature.USB_MIDI, Feature.CONTRACT,
                      Feature.MIDI_ECHO})
"""What the emulator always has; MIDI_OS joins them when a MIDI system exists or can be started."""
OS_MIDI_SOURCE = "rig class driver (rig.os_midi.class_driver), not the OS"
BUILD_TIMEOUT_S = 300
REATTACH_TIMEOUT_S = 10.0
"""How long `reattach` waits for the device to attach again (wall seconds, times the bridge's scale)."""
CDC_SET_LINE_CODING = 0x20


ROM_ENV = "RIG_ROM"
"""Environment variable naming a boot ROM image for emulator targets (as `rom=PATH` does)."""


@dataclass(frozen=True)
class EmulatorArgs:
    """What `emulator:IMAGE[,rom=PATH][,bootsel][,uid=HEX16][,echo...]` asks for (None: the defaults)."""

    image: Path | None = None
    rom: Path | None = None
    bootsel: bool = False
    uid: str | None = None
    """The flash chip's 64-bit unique ID as 16 hex digits, which the firmware reports as its USB
    serial number (a pool of emulated boards needs one each); None: the bridge's default."""
    midi: MidiOptions = NONE_DECLARED
    """`echo`, `loop`, `cable=N`, `listen=S`: what the image's device does with MIDI, as for `usb:`."""


def parse_emulator_arg(arg: str | None, environ: dict[str, str] | None = None) -> EmulatorArgs:
    """The text after `emulator:` (every part optional); rom falls back to env RIG_ROM. An unknown
    option is a TargetError naming it."""
    env = os.environ if environ is None else environ
    image: Path | None = None
    rom: Path | None = None
    bootsel = False
    uid: str | None = None
    midi = NONE_DECLARED
    for i, part in enumerate((arg or "").split(",")):
        key, eq, value = part.partition("=")
        more = midi.with_option(part) if i > 0 else None
        if more is not None:
            midi = more
        elif i == 0 and not eq and part != "bootsel":
            image = Path(part) if part else None
        elif eq and key.strip() == "rom" and value:
            rom = Path(value)
        elif eq and key.strip() == "uid":
            try:
                uid = flash_uid_hex(value)
            except ValueError as exc:
                raise TargetError(f"target emulator:{arg}: {exc}") from None
        elif part == "bootsel":
            bootsel = True
        else:
            raise TargetError(f"target emulator:{arg}: unknown option {part!r}; "
                              f"expected emulator:IMAGE[,rom=PATH][,bootsel][,uid=HEX16]{MIDI_OPTIONS_USAGE}")
    if rom is None and env.get(ROM_ENV):
        rom = Path(env[ROM_ENV])
    return EmulatorArgs(image, rom, bootsel, uid, midi)


class FirmwareBuildError(TargetError):
    """The firmware image is missing or stale and could not be built (the message says why)."""


def image_is_stale(image: Path = DEFAULT_IMAGE) -> bool:
    """True when `image` or the model ROM beside it is missing, or older than any firmware source,
    header or build file."""
    rom = image.parent / ROM_NAME
    if not image.is_file() or not rom.is_file():
        return True
    built = min(image.stat().st_mtime, rom.stat().st_mtime)
    return any(p.stat().st_mtime > built for pattern in SOURCE_GLOBS for p in FIRMWARE_DIR.glob(pattern))


BUILD_LOCK = FIRMWARE_DIR / ".build.lock"
"""Held while this or another process builds the firmware: xdist workers (or two `rig` commands) that
all find the image stale build it once, not at once (two makes writing the same files at once can
leave an image half written: 53 emulator tests errored in a `pytest -n 2` run that rebuilt the
firmware after a source change, the cause inferred)."""


def build_if_stale(image: Path = DEFAULT_IMAGE) -> Path:
    """`image` (our firmware), built first under BUILD_LOCK when it is missing or stale; whoever waited
    for the lock looks again and finds it built."""
    if not image_is_stale(image):
        return image
    with open(BUILD_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also on failure
        if image_is_stale(image):
            build_firmware()
    return image


def build_firmware(python: str = sys.executable) -> Path:
    """Run `make -C firmware`; FirmwareBuildError with make's output tail when it fails."""
    if shutil.which("arm-none-eabi-gcc") is None:
        raise FirmwareBuildError("the firmware image is missing or stale and arm-none-eabi-gcc is not "
                                 "installed to build it (apt-get install gcc-arm-none-eabi, or "
                                 "`make system`)")
    try:
        result = subprocess.run(["make", "-C", str(FIRMWARE_DIR), f"PYTHON={python}"], capture_output=True,
                                text=True, timeout=BUILD_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FirmwareBuildError(f"building the firmware failed: {exc}") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise FirmwareBuildError(f"`make -C firmware` failed with status {result.returncode}:\n{tail}")
    return DEFAULT_IMAGE


class LinkConsole:
    """A pty whose slave path pyserial opens, bridged to the device's CDC bulk endpoints by a thread
    (host bytes to EP_CDC_OUT, EP_CDC_IN bytes back). Like the CDC ACM driver of an OS, every line
    setting a client makes on the port (rig.links.pty_line: rate, data bits, parity, stop bits) goes to
    the device as SET_LINE_CODING; a rate of CONSOLE_BAUD_BOOTSEL is the 1200-baud touch, which the
    firmware answers by rebooting into BOOTSEL through the ROM."""

    POLL_MS = 50

    def __init__(self, link: EmulatorLink) -> None:
        self._link = link
        self._master, self._slave, self.path = open_raw_pty()
        self._stop = threading.Event()
        self._line = LineWatcher(self._slave)
        self._threads = [
            threading.Thread(target=self._to_device, name=f"emulator console out {self.path}", daemon=True),
            threading.Thread(target=self._from_device, name=f"emulator console in {self.path}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _forward_line_coding(self) -> None:
        change = self._line.poll()
        if change is not None:
            with contextlib.suppress(UsbLinkError):  # not configured, or gone: an OS driver drops it too
                self._link.control(0x21, CDC_SET_LINE_CODING, 0, c.IF_CDC_COMM, change.after.pack(), 1000)

    def _to_device(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], self.POLL_MS / 1000)
            self._forward_line_coding()
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return
            while data and not self._stop.is_set():
                try:
                    self._link.write(c.EP_CDC_OUT, data[:c.BULK_PACKET_SIZE - 1], 1000)
                    data = data[c.BULK_PACKET_SIZE - 1:]
                except UsbLinkError:
                    if not self._link.alive:
                        return
                    break  # not configured yet: input is dropped, as by an unopened port

    def _from_device(self) -> None:
        while not self._stop.is_set():
            seen = self._link.ep0_changes
            try:
                data = self._link.read(c.EP_CDC_IN, c.BULK_PACKET_SIZE, 200)  # a packet at a time
            except LinkTimeout:
                continue
            except UsbLinkError:
                if not self._link.alive:
                    return
                # Not configured, or EP_CDC_IN halted: only a request on EP0 or a bus reset changes
                # that, so wait for one rather than ask again at once (that spun at ~7,000 refused
                # reads a second, most of a core between the bridge and this thread).
                self._link.wait_ep0_change(seen, self.POLL_MS / 1000)
                continue
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._master, data)

    def close(self) -> None:
        """Stop the threads and close the pty; safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class EmulatorTarget(ClassDriverPorts):
    """The firmware in rp2040js: a pyusb device over the bridge, a pty console and OS MIDI ports from
    the rig's USB-MIDI class driver."""

    os_midi_source = OS_MIDI_SOURCE

    def __init__(self, spec: TargetSpec, *, jack: str | None = None) -> None:
        super().__init__(spec, jack=jack)
        self.features = FEATURES | ({Feature.MIDI_OS} if midi_possible(self.jack_mode) else set())
        self.expected_features = FEATURES | {Feature.MIDI_OS}
        self.args = parse_emulator_arg(spec.arg)
        self.midi_options = self.args.midi
        self.custom_image = self.args.image is not None
        self.image = self.args.image or DEFAULT_IMAGE
        self.is_our_board = True
        """False once open found a device that is not our board (another VID:PID)."""
        self.link: EmulatorLink | None = None
        self._console: LinkConsole | None = None
        self._foreign: ForeignLink | None = None
        self._probe: DeviceProbe | None = None
        self._identity = ""

    def _ensure_image(self) -> None:
        if self.custom_image:
            if not self.image.is_file():
                raise TargetError(f"target {self.name}: firmware image {self.image} does not exist")
            return
        build_if_stale(self.image)

    def open(self) -> None:
        """Build the image if needed, start the bridge, bind the class driver (OS MIDI ports) and find
        the board through pyusb."""
        if self.link is not None:
            return
        self._ensure_image()
        try:
            link = EmulatorLink(self.image, rom=self.args.rom, bootsel=self.args.bootsel,
                                flash_uid=self.args.uid)
        except UsbLinkError as exc:
            raise TargetError(f"target {self.name}: {exc}") from exc
        self._open_on(link)

    def _open_on(self, link: EmulatorLink) -> None:
        """Find the device on the bridge's bus, bind the class driver (OS MIDI ports) and the console:
        when the target opens, and again after the device re-enumerated (`reattach`). The link is
        closed on failure."""
        if not find_boards(None, LinkBackend([link])):
            self._open_plain(link)
            return
        try:
            self._bind_driver(lambda api, cycle_s: UsbMidiClassDriver(link, api, label="emulator",
                                                                      cycle_s=cycle_s))
            seen: EmulatorLink | BoundLink = link if self.driver is None else BoundLink(link, self.driver)
            self.features = FEATURES | ({Feature.MIDI_OS} if self.driver is not None else set())
            backend = LinkBackend([seen])
            everything = find_boards(None, backend)
            self._device = select_board(everything, None, everything).device
            self._console = LinkConsole(link)
            self._read_identity()
        except BaseException:
            self._close_midi()
            link.close()
            raise
        self.link = link

    def _open_plain(self, link: EmulatorLink) -> None:
        """A device that is not our board: the USB capability only (no contract, console or frames;
        what it can do comes from its descriptors), found as the one device on the link."""
        try:
            device = usb.core.find(backend=LinkBackend([link]))
            if device is None:
                raise TargetError(f"target {self.name}: the emulated firmware enumerated no USB device")
            if (device.idVendor, device.idProduct) == ROM_BOOTLOADER_IDS and not self.args.bootsel:
                raise TargetError(f"target {self.name}: the chip runs the boot ROM's USB bootloader "
                                  f"(2e8a:0003), not {self.image}: {boot_diagnosis(link.info())}")
        except BaseException:
            link.close()
            raise
        # seen through a link that refuses and records vendor requests (none may reach it), and its
        # capabilities read from its descriptors (rig.targets.probe), nothing assumed
        self._foreign = ForeignLink(link, device.idVendor, device.idProduct, refuse_vendor=True)
        device = usb.core.find(backend=LinkBackend([self._foreign]))
        self._probe = probe_device(device, self.args.midi)
        self.is_our_board = False
        self.features = self._probe.features
        self.expected_features = self._probe.features
        self._device = device
        self._read_identity()
        self.link = link

    def identity(self) -> str:
        """The open device as VID:PID and serial number (read when it was found), the identity
        `reattach` finds again."""
        self._opened()
        return self._identity

    def _read_identity(self) -> None:
        device = self._device
        assert device is not None
        serial = usb.util.get_string(device, device.iSerialNumber) if device.iSerialNumber else None
        self._identity = f"{device.idVendor:04x}:{device.idProduct:04x} serial {serial or '(none)'}"

    def reattach(self, timeout_s: float = REATTACH_TIMEOUT_S) -> None:
        """Continue after the device re-enumerated by itself (a watchdog reset): every transfer on the
        handle opened before fails with DeviceReenumerated (a pyusb USBError ENODEV through
        `usb_device()`); this waits until the device has attached again, enumerates it on the same
        emulated board, finds the same device (VID:PID and serial number) and opens a new pyusb device,
        console and class driver on it (docs/protocol.md, *Re-enumeration*). TargetError naming the
        device when it does not attach again within `timeout_s` (the target stays as it was) or when
        another device comes back (the target is closed)."""
        link = self._opened()
        before = self.identity()
        try:
            link.wait_attached(timeout_s)
        except UsbLinkError as exc:
            raise TargetError(f"target {self.name}: device {before} did not enumerate again: {exc}") from exc
        # the stale handle and everything on it go: the console, the class driver, pyusb's device
        self.release_console()
        self._close_midi()
        self._dispose_device()
        self._foreign = None
        self._probe = None
        self.link = None
        try:
            link.reattach(timeout_s)
        except UsbLinkError as exc:
            link.close()
            raise TargetError(f"target {self.name}: device {before} attached again but did not enumerate: "
                              f"{exc}") from exc
        self._open_on(link)
        after = self.identity()
        if after != before:
            self.close()
            raise TargetError(f"target {self.name}: device {before} left the bus and another one, {after}, "
                              "enumerated in its place")

    def lacks(self, feature: Feature) -> str:
        """Why the target lacks `feature`: for a device that is not ours, what its descriptors say."""
        if feature not in self.features and self._probe is not None:
            return f"target {self.name}: {self._probe.why_missing(feature)}"
        return super().lacks(feature)

    def foreign_vendor_requests(self) -> list[str]:
        """Vendor requests that reached a device that is not ours (the suites fail on any)."""
        return list(self._foreign.vendor_requests) if self._foreign is not None else []

    def close(self) -> None:
        """Stop the console and the class driver, release pyusb, stop the bridge and any JACK server
        the target started; safe to call twice."""
        try:
            if self._console is not None:
                self._console.close()
                self._console = None
            self._close_driver()
            self._dispose_device()
            if self.link is not None:
                self.link.close()
                self.link = None
        finally:
            self._close_midi()

    def release_console(self) -> None:
        """Stop bridging the CDC endpoints to the console pty, so a caller (tests.differential) drives
        EP_CDC_OUT / EP_CDC_IN through pyusb itself, as on the loopback; console_port() is gone."""
        if self._console is not None:
            self._console.close()
            self._console = None

    def _opened(self) -> EmulatorLink:
        if self.link is None:
            raise TargetError(f"target {self.name} is not open")
        return self.link

    def usb_device(self) -> usb.core.Device:
        """The emulated board as a pyusb device."""
        self._opened()
        assert self._device is not None
        return self._device

    def console_port(self) -> str:
        """The pty path bridged to the board's CDC console."""
        self._opened()
        assert self._console is not None
        return self._console.path

    def device_events(self) -> EmulatorLink:
        """The bridge: it reports what the firmware arms, in emulated time (rig.links.device_view)."""
        return self._opened()

    def describe(self) -> dict[str, str]:
        """Target, firmware version, serial number, transport, the image that runs and where the OS
        MIDI ports come from (the rig's class driver)."""
        self._opened()
        assert self._device is not None
        facts = describe_board(self._device, self.name, "rp2040js emulator (Node bridge)")
        facts["image"] = str(self.image)
        facts["rom"] = str(self._opened().rom)
        if not self.is_our_board:
            facts["device"] = f"{self._device.idVendor:04x}:{self._device.idProduct:04x} (not our board)"
            return facts
        facts["os_midi"] = self.os_midi_system()
        return facts


register("emulator", EmulatorTarget)

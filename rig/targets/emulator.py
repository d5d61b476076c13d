"""Target kind "emulator": the real firmware image running in rp2040js behind the Node bridge,
reached as a pyusb device (rig.links.pyusb_backend over rig.links.emulator) and a pty console.

`emulator` builds firmware/build/rig_firmware.bin and the model boot ROM beside it when either is
missing or older than its sources (needs arm-none-eabi-gcc); `emulator:PATH` runs the given flash
image instead (with the ROM built beside it, else the repository build's). The emulator never gives
timing figures, so REAL_TIMING is not a feature.

BOOTSEL: when the firmware reboots into the ROM's USB bootloader (REBOOT_BOOTLOADER, or the
1200-baud touch on the console pty) the target behaves like a board that did so: its USB device is
gone (every call raises LinkGone saying BOOTSEL, with the masks), the console pty stops carrying
data, and it stays that way; the bootloader's own USB device is not modelled, so nothing new
appears. `close()` then `open()` is a power cycle: a new bridge boots the image again. The session
target of the pytest plugin is shared by many tests, so tests that reboot open their own
EmulatorTarget (or EmulatorLink).

OS MIDI ports come from the rig's own USB-MIDI class driver (rig.os_midi.class_driver), not from the
OS: no OS driver sees an emulated device, so the rig binds its MIDI interfaces the way snd-usb-audio
binds a real board's (a raw claim gets EBUSY until detach_kernel_driver) and carries them to
python-rtmidi virtual ports, on the MIDI system the loopback target uses (ALSA, or JACK: a running
server or one the target starts itself; RIG_JACK=auto|never|always, rig.os_midi.system).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import usb.core

from rig import contract as c
from rig.errors import TargetError
from rig.links.emulator import REPO, ROM_NAME, EmulatorLink
from rig.links.pty_line import LineWatcher, open_raw_pty
from rig.links.pyusb_backend import LinkBackend
from rig.links.usb_link import UsbLinkError
from rig.os_midi.class_driver import BoundLink, UsbMidiClassDriver
from rig.os_midi.system import midi_possible
from rig.targets.discovery import describe_board, find_boards, select_board
from rig.targets.link_target import ClassDriverPorts
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
CDC_SET_LINE_CODING = 0x20


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
            try:
                data = self._link.read(c.EP_CDC_IN, c.BULK_PACKET_SIZE, 200)  # a packet at a time
            except UsbLinkError:
                if not self._link.alive:
                    return
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

    expected_features = FEATURES | {Feature.MIDI_OS}

    def __init__(self, spec: TargetSpec, *, jack: str | None = None) -> None:
        super().__init__(spec, jack=jack)
        self.features = FEATURES | ({Feature.MIDI_OS} if midi_possible(self.jack_mode) else set())
        self.image = Path(spec.arg) if spec.arg else DEFAULT_IMAGE
        self.link: EmulatorLink | None = None
        self._console: LinkConsole | None = None

    def _ensure_image(self) -> None:
        if self.spec.arg:
            if not self.image.is_file():
                raise TargetError(f"target {self.name}: firmware image {self.image} does not exist")
            return
        if image_is_stale(self.image):
            build_firmware()

    def open(self) -> None:
        """Build the image if needed, start the bridge, bind the class driver (OS MIDI ports) and find
        the board through pyusb."""
        if self.link is not None:
            return
        self._ensure_image()
        try:
            link = EmulatorLink(self.image)
        except UsbLinkError as exc:
            raise TargetError(f"target {self.name}: {exc}") from exc
        try:
            self._bind_driver(lambda api: UsbMidiClassDriver(link, api, label="emulator"))
            seen: EmulatorLink | BoundLink = link if self.driver is None else BoundLink(link, self.driver)
            self.features = FEATURES | ({Feature.MIDI_OS} if self.driver is not None else set())
            backend = LinkBackend([seen])
            everything = find_boards(None, backend)
            self._device = select_board(everything, None, everything).device
            self._console = LinkConsole(link)
        except BaseException:
            self._close_midi()
            link.close()
            raise
        self.link = link

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

    def describe(self) -> dict[str, str]:
        """Target, firmware version, serial number, transport, the image that runs and where the OS
        MIDI ports come from (the rig's class driver)."""
        self._opened()
        assert self._device is not None
        facts = describe_board(self._device, self.name, "rp2040js emulator (Node bridge)")
        facts["image"] = str(self.image)
        facts["os_midi"] = self.os_midi_system()
        return facts


register("emulator", EmulatorTarget)

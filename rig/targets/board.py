"""Target kind "board" / "board:SERIAL": an attached RP2040 reached through libusb (pyusb with
libusb_package's backend), the OS MIDI driver's ports and its CDC console port.

Finding the board and its ports is rig.targets.discovery, which the loopback and emulator targets share.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import usb.core
import usb.util

from rig.errors import TargetError
from rig.targets.discovery import (
    FoundBoard,
    describe_board,
    find_boards,
    libusb_backend,
    match_board_midi_ports,
    match_console_port,
    rtmidi_port_names,
    select_board,
)
from rig.targets.probe import DeviceProbe, probe_device
from rig.targets.reattach import POLL_S, REATTACH_TIMEOUT_S, find_again, identity_of
from rig.targets.registry import Feature, Target, TargetSpec, register


class BoardTarget(Target):
    """An attached board. `backend` (tests) replaces libusb; MIDI and console are found by the OS."""

    def __init__(self, spec: TargetSpec, backend: Any = None, *, sys_root: Path = Path("/")) -> None:
        super().__init__(spec)
        self._backend = backend
        self._sys_root = sys_root
        """Where /sys and /proc are read from to tie OS MIDI ports to this board (a fake tree in tests)."""
        self.features = frozenset({Feature.USB, Feature.FRAMES, Feature.REAL_TIMING})
        self.probe: DeviceProbe | None = None
        """What its descriptors declare and whether it answered GET_INFO as our board (after open)."""
        self._found: FoundBoard | None = None
        self._midi: tuple[str, str] | None = None
        self._console: str | None = None
        self.problems: list[str] = []
        """Why MIDI_OS or CONSOLE is missing, after open()."""

    def open(self) -> None:
        """Find exactly one board, then its OS MIDI ports and its console port if the OS has them."""
        if self._backend is None:
            libusb_backend()  # a missing libusb is an error here, not "no boards"
        everything = find_boards(None, self._backend)
        wanted = [b for b in everything if self.spec.arg is None or b.serial.upper() == self.spec.arg.upper()]
        self._open_on(select_board(wanted, self.spec.arg, everything))

    def _open_on(self, found: FoundBoard) -> None:
        """Probe `found` (GET_INFO) and look up its OS MIDI ports and console port."""
        self._found = found
        self.probe = probe_device(found.device)
        features = set(self.probe.features) | {Feature.REAL_TIMING}
        self.problems = []
        try:
            self._midi = match_board_midi_ports(*rtmidi_port_names(), found, root=self._sys_root)
            features.add(Feature.MIDI_OS)
        except TargetError as exc:
            self.problems.append(str(exc))
        try:
            from serial.tools import list_ports

            self._console = match_console_port(list_ports.comports(), found.serial)
            features.add(Feature.CONSOLE)
        except TargetError as exc:
            self.problems.append(str(exc))
        self.features = frozenset(features)

    def reattach(self, timeout_s: float = REATTACH_TIMEOUT_S) -> None:
        """Continue after the board left the bus and enumerated again by itself (a firmware reboot, a
        watchdog reset; docs/protocol.md, *Re-enumeration*): once the OS has enumerated it again, the
        board with the serial number it had is found again and probed, and its OS MIDI ports and
        console port are looked up again (waited for, within `timeout_s`, where it had them before:
        the OS creates them after libusb sees the device). TargetError naming the board when it is not
        back within `timeout_s`; the target stays as it was."""
        found = self._board()
        before = identity_of(found.device, found.serial)
        had = self.features
        usb.util.dispose_resources(found.device)
        deadline = time.monotonic() + timeout_s
        device, instead = find_again(
            lambda: [(b.device, identity_of(b.device, b.serial)) for b in find_boards(None, self._backend)],
            before, timeout_s)
        if device is None:
            raise TargetError(f"target {self.name}: board {before} did not come back within {timeout_s:g} s"
                              + (f" (attached: {', '.join(instead)})" if instead else ""))
        again = FoundBoard(device, found.serial, int(device.bus or 0), int(device.address or 0))
        while True:
            self._open_on(again)
            if self.features >= had or time.monotonic() > deadline:
                return
            time.sleep(POLL_S)

    def lacks(self, feature: Feature) -> str:
        """Why the board lacks `feature`: its probe's reason, else the generic one."""
        why = self.probe.why_missing(feature) if self.probe is not None else ""
        return why if why and feature not in self.features else super().lacks(feature)

    def close(self) -> None:
        """Release pyusb's resources; the board itself keeps running."""
        if self._found is not None:
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
        """The OS driver's ports: on Linux those whose sound card is this board's USB device (by
        serial), elsewhere matched by the product name."""
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

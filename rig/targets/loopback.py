"""Target kind "loopback": the software board (rig.loopback) reached through the same pyusb,
python-rtmidi and pyserial calls as a real board. `loopback:SERIAL16HEX` picks the unique ID.

Found with the board target's own `find_boards`, so that code path runs on every CI run.
"""

from __future__ import annotations

import usb.core

from rig.errors import TargetError
from rig.loopback import LoopbackBoard
from rig.loopback.os_midi import OsMidiPorts, OsMidiUnavailable, os_midi_api
from rig.target import Feature, Target, TargetSpec, register
from rig.targets.board import describe_board, find_boards, select_board
from rig.usb_backend import LinkBackend

BASE_FEATURES = frozenset({Feature.USB, Feature.FRAMES, Feature.CONSOLE})


class LoopbackTarget(Target):
    """A LoopbackBoard, its pyusb device, its pty console and (with ALSA or JACK) OS MIDI ports."""

    expected_features = BASE_FEATURES | {Feature.MIDI_OS}

    def __init__(self, spec: TargetSpec) -> None:
        super().__init__(spec)
        self.unique_id = self._unique_id(spec.arg)
        self.features = BASE_FEATURES | ({Feature.MIDI_OS} if os_midi_api() is not None else set())
        self.board: LoopbackBoard | None = None
        self._device: usb.core.Device | None = None
        self._ports: OsMidiPorts | None = None
        self.midi_problem = ""
        """Why MIDI_OS is missing (empty when present)."""

    @staticmethod
    def _unique_id(arg: str | None) -> bytes | None:
        if not arg:
            return None
        try:
            raw = bytes.fromhex(arg)
        except ValueError:
            raw = b""
        if len(raw) != 8:
            raise TargetError(f"loopback:{arg}: the argument is the board's unique ID, 16 hex digits")
        return raw

    def open(self) -> None:
        """Start the board, find it through pyusb, and open OS MIDI ports when a MIDI system exists."""
        if self.board is not None:
            return
        board = LoopbackBoard(self.unique_id) if self.unique_id else LoopbackBoard()
        try:
            backend = LinkBackend([board])
            everything = find_boards(None, backend)
            found = select_board([b for b in everything if b.serial == board.serial_number],
                                 board.serial_number, everything)
            self._device = found.device
            features = set(BASE_FEATURES)
            try:
                self._ports = OsMidiPorts(board)
                features.add(Feature.MIDI_OS)
            except (OsMidiUnavailable, ImportError) as exc:
                self.midi_problem = str(exc)
            except Exception as exc:  # rtmidi.SystemError and friends: the MIDI system refused us
                self.midi_problem = f"opening virtual MIDI ports failed: {exc}"
            self.features = frozenset(features)
        except BaseException:
            board.close()
            raise
        self.board = board

    def close(self) -> None:
        """Delete the MIDI ports, release pyusb and stop the board; safe to call twice."""
        if self._ports is not None:
            self._ports.close()
            self._ports = None
        if self._device is not None:
            import usb.util

            usb.util.dispose_resources(self._device)
            self._device = None
        if self.board is not None:
            self.board.close()
            self.board = None

    def _open_board(self) -> LoopbackBoard:
        if self.board is None:
            raise TargetError(f"target {self.name} is not open")
        return self.board

    def usb_device(self) -> usb.core.Device:
        """The board as a pyusb device on the loopback backend."""
        self._open_board()
        assert self._device is not None
        return self._device

    def midi_port_names(self) -> tuple[str, str]:
        """(virtual input the host sends to, virtual output the host listens on)."""
        self.require(Feature.MIDI_OS)
        if self._ports is None:
            raise TargetError(f"target {self.name}: no OS MIDI ports ({self.midi_problem or 'not open'})")
        return self._ports.port_names()

    def console_port(self) -> str:
        """The pty path of the board's console."""
        return self._open_board().console_path

    def describe(self) -> dict[str, str]:
        """Target, firmware version, serial number, transport."""
        self._open_board()
        assert self._device is not None
        return describe_board(self._device, self.name, "loopback (in-process)")


register("loopback", LoopbackTarget)

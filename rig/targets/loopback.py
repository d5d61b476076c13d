"""Target kind "loopback": the software board (rig.loopback) reached through the same pyusb,
python-rtmidi and pyserial calls as a real board. `loopback:SERIAL16HEX` picks the unique ID.

Its MIDI side is also OS MIDI ports: python-rtmidi virtual ports the rig's USB-MIDI class driver
(rig.os_midi.class_driver, shared with the emulator) carries to and from the board's MIDI endpoints.
Where there is no MIDI system (no ALSA sequencer, no reachable JACK server: a CI container) the
target starts a private JACK dummy
server under a unique name and stops it on close, so the pytest plugin, `rig run`, `rig test` and
`rig latency` all get Feature.MIDI_OS the same way. The RIG_JACK environment variable (or the `jack`
argument) chooses: `auto` (default; needs jackd installed), `never`, `always` (a private server even
where another MIDI system exists; a missing jackd is then an error). See rig.os_midi.jack.

Found with `rig.targets.discovery.find_boards`, as the board target finds a board, so that code path runs
on every CI run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rig.errors import TargetError
from rig.links.pyusb_backend import LinkBackend
from rig.loopback import LoopbackBoard
from rig.os_midi.class_driver import UsbMidiClassDriver
from rig.os_midi.system import OsMidiUnavailable, midi_possible, os_midi_api
from rig.targets.discovery import describe_board, find_boards, select_board
from rig.targets.link_target import ClassDriverPorts
from rig.targets.probe import probe_device
from rig.targets.registry import Feature, TargetSpec, register

if TYPE_CHECKING:
    import usb.core

class OsMidiPorts(UsbMidiClassDriver):
    """The class driver bound to `board`: hosts send to `input_name`, listen on `output_name`; the board
    reports it as the kernel driver of its MIDI interfaces until close()."""

    def __init__(self, board: LoopbackBoard, api: int | None = None, cycle_s: float | None = None) -> None:
        chosen = api if api is not None else os_midi_api()
        if chosen is None:
            raise OsMidiUnavailable("no MIDI system for virtual ports: no ALSA sequencer (/dev/snd/seq) "
                                    "and no JACK server (start one with rig.os_midi.jack.JackServer)")
        super().__init__(board, chosen, label="loopback", tag=board.serial_number[-6:], cycle_s=cycle_s)
        self._board = board
        board.attach_os_driver(self)

    def close(self) -> None:
        """Unregister from the board, stop the driver's threads and delete its ports; safe to call twice."""
        self._board.attach_os_driver(None)
        super().close()


BASE_FEATURES = frozenset({Feature.USB, Feature.FRAMES, Feature.CONSOLE, Feature.USB_MIDI, Feature.CONTRACT,
                           Feature.MIDI_ECHO})


class LoopbackTarget(ClassDriverPorts):
    """A LoopbackBoard, its pyusb device, its pty console and OS MIDI ports (ALSA, or JACK: a running
    server or one the target starts itself)."""

    expected_features = BASE_FEATURES | {Feature.MIDI_OS}

    def __init__(self, spec: TargetSpec, *, jack: str | None = None) -> None:
        super().__init__(spec, jack=jack)
        self.unique_id = self._unique_id(spec.arg)
        self.features = BASE_FEATURES | ({Feature.MIDI_OS} if self._midi_possible() else set())
        self.board: LoopbackBoard | None = None

    def _midi_possible(self) -> bool:
        """Before open: whether OS MIDI ports are expected (a MIDI system exists or can be started)."""
        return midi_possible(self.jack_mode)

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
        """Start the board, find it through pyusb, and open OS MIDI ports (starting JACK if need be)."""
        if self.board is not None:
            return
        board = LoopbackBoard(self.unique_id) if self.unique_id else LoopbackBoard()
        try:
            backend = LinkBackend([board])
            everything = find_boards(None, backend)
            found = select_board([b for b in everything if b.serial == board.serial_number],
                                 board.serial_number, everything)
            self._device = found.device
            probed = probe_device(found.device).features  # what its descriptors and GET_INFO say
            self._bind_driver(lambda api, cycle_s: OsMidiPorts(board, api, cycle_s))
            os_midi = {Feature.MIDI_OS} if self.driver is not None else set()
            self.features = probed | {Feature.CONSOLE} | os_midi
        except BaseException:
            self._close_midi()
            board.close()
            raise
        self.board = board

    def close(self) -> None:
        """Delete the MIDI ports, release pyusb, stop the board and any JACK server it started; safe
        to call twice."""
        try:
            self._close_driver()
            self._dispose_device()
            if self.board is not None:
                self.board.close()
                self.board = None
        finally:
            self._close_midi()

    def _open_board(self) -> LoopbackBoard:
        if self.board is None:
            raise TargetError(f"target {self.name} is not open")
        return self.board

    def usb_device(self) -> usb.core.Device:
        """The board as a pyusb device on the loopback backend."""
        self._open_board()
        assert self._device is not None
        return self._device

    def console_port(self) -> str:
        """The pty path of the board's console."""
        return self._open_board().console_path

    def describe(self) -> dict[str, str]:
        """Target, firmware version, serial number, transport, OS MIDI system."""
        self._open_board()
        assert self._device is not None
        facts = describe_board(self._device, self.name, "loopback (in-process)")
        facts["os_midi"] = self.os_midi_system()
        return facts


register("loopback", LoopbackTarget)

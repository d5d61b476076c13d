"""Target methods shared by the targets whose OS MIDI ports come from the rig's own USB-MIDI class
driver (loopback and emulator): the RIG_JACK mode, opening the MIDI system and binding the driver
(or saying why there are no ports), port names, closing, and releasing the pyusb device."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rig.errors import TargetError
from rig.os_midi.jack import JackError, JackMissing, JackMode, JackServer, jack_mode, jack_period
from rig.os_midi.system import MidiSystem, OsMidiUnavailable, open_midi_system
from rig.targets.registry import Feature, Target, TargetSpec

if TYPE_CHECKING:
    import usb.core

    from rig.os_midi.class_driver import UsbMidiClassDriver


class ClassDriverPorts(Target):
    """A Target with a pyusb device (`_device`) and an optional class driver (`driver`) whose
    virtual ports are the target's OS MIDI ports; `midi_problem` says why there are none."""

    os_midi_source = "rig class driver (rig.os_midi.class_driver)"
    """Where the ports come from, for reports."""

    def __init__(self, spec: TargetSpec, *, jack: str | None = None) -> None:
        super().__init__(spec)
        try:
            self.jack_mode = jack_mode(jack)
            self.jack_period = jack_period()
        except ValueError as exc:
            raise TargetError(f"target {spec}: {exc}") from None
        self._device: usb.core.Device | None = None
        self.driver: UsbMidiClassDriver | None = None
        """The rig class driver bound to the board's MIDI interfaces (None: no OS MIDI)."""
        self.midi_system: MidiSystem | None = None
        self.midi_problem = ""
        """Why MIDI_OS is missing (empty when present)."""

    @property
    def jack(self) -> JackServer | None:
        """The JACK server this target started (None when it uses ALSA or a server it found)."""
        return None if self.midi_system is None else self.midi_system.jack

    def _bind_driver(self, make: Callable[[int, float | None], UsbMidiClassDriver]) -> None:
        """Open the MIDI system (starting a private JACK server when the mode says so) and the class
        driver on it (`make(api, JACK cycle in seconds or None)`), or set `midi_problem` saying why
        there are none; a missing jackd raises only under RIG_JACK=always."""
        self.midi_problem = ""
        try:
            self.midi_system = open_midi_system(self.jack_mode, self.jack_period)
            self.driver = make(self.midi_system.api, self.midi_system.cycle_s())
        except JackMissing:
            if self.jack_mode is JackMode.ALWAYS:
                raise
            self.midi_problem = "jackd is missing"
        except (OsMidiUnavailable, JackError, ImportError) as exc:
            self.midi_problem = str(exc)
        except Exception as exc:  # rtmidi.SystemError and friends: the MIDI system refused us
            self.midi_problem = f"opening virtual MIDI ports failed: {exc}"
        if self.driver is None:
            self._close_midi()

    def _close_driver(self) -> None:
        """Delete the virtual ports and unbind the driver, once."""
        if self.driver is not None:
            self.driver.close()
            self.driver = None

    def _close_midi(self) -> None:
        """The driver, then the MIDI system (stopping a JACK server the target started); safe twice."""
        try:
            self._close_driver()
        finally:
            if self.midi_system is not None:
                self.midi_system.close()
                self.midi_system = None

    def os_midi_system(self) -> str:
        """Where the OS MIDI ports come from and which MIDI system carries them, for reports (or why
        there are none)."""
        if self.driver is None or self.midi_system is None:
            return f"none ({self.midi_problem or 'not open'})"
        return f"{self.os_midi_source}, on {self.midi_system.describe()}"

    def midi_port_names(self) -> tuple[str, str]:
        """(virtual input the host sends to, virtual output it listens on), from the rig class driver."""
        self.require(Feature.MIDI_OS)
        if self.driver is None:
            raise TargetError(f"target {self.name}: no OS MIDI ports ({self.midi_problem or 'not open'})")
        return self.driver.port_names()

    def midi_api(self) -> int | None:
        """The rtmidi API the class driver's ports were opened with (None when there are none)."""
        return None if self.driver is None else self.driver.api

    def _dispose_device(self) -> None:
        """Release pyusb's resources on the device, once."""
        if self._device is not None:
            import usb.util

            usb.util.dispose_resources(self._device)
            self._device = None

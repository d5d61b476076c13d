"""Target methods shared by the targets whose OS MIDI ports come from the rig's own USB-MIDI class
driver (loopback and emulator): port names, the rtmidi API, and releasing the pyusb device."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rig.errors import TargetError
from rig.target import Feature, Target

if TYPE_CHECKING:
    import usb.core

    from rig.os_midi.class_driver import UsbMidiClassDriver


class ClassDriverPorts(Target):
    """A Target with a pyusb device (`_device`) and an optional class driver (`driver`) whose
    virtual ports are the target's OS MIDI ports; `midi_problem` says why there are none."""

    _device: usb.core.Device | None
    driver: UsbMidiClassDriver | None
    midi_problem: str

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

"""The software-loopback board: the firmware's contract in Python, reached through pyusb (as a
`UsbLink` under `rig.links.pyusb_backend.LinkBackend`), python-rtmidi virtual ports and a pty console."""

from rig.loopback.clock import Clock, ManualClock, MonotonicClock
from rig.loopback.twin import LoopbackBoard

__all__ = ["Clock", "LoopbackBoard", "ManualClock", "MonotonicClock"]

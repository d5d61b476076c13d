"""The software-loopback board: the firmware's contract in Python, reached through pyusb (as a
`UsbLink` under `rig.usb_backend.LinkBackend`), python-rtmidi virtual ports and a pty console."""

from rig.loopback.board import LoopbackBoard
from rig.loopback.clock import Clock, ManualClock, MonotonicClock

__all__ = ["Clock", "LoopbackBoard", "ManualClock", "MonotonicClock"]

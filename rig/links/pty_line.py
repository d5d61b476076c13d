"""A raw pty for a console, and the line settings a pyserial client makes on its slave side, read
back from termios as CDC line coding: what a CDC ACM driver sends as SET_LINE_CODING when a program
changes the port's settings. Shared by the consoles that serve a pty (the loopback board's and the
emulator target's); each polls `LineWatcher.poll()` from its own thread.
"""

from __future__ import annotations

import os
import struct
import termios
import tty
from dataclasses import dataclass

from rig import contract as c

_BAUDS = (50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600,
          115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000,
          3000000, 3500000, 4000000)
_SPEEDS: dict[int, int] = {getattr(termios, f"B{baud}"): baud for baud in _BAUDS
                           if hasattr(termios, f"B{baud}")}
"""termios speed constants (B1200 is not 1200) to bits per second."""
_DATA_BITS = {termios.CS5: 5, termios.CS6: 6, termios.CS7: 7, termios.CS8: 8}


def open_raw_pty() -> tuple[int, int, str]:
    """A new pty in raw mode: (master fd, non-blocking; slave fd; the slave's path for pyserial)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    return master, slave, os.ttyname(slave)


@dataclass(frozen=True)
class LineCoding:
    """CDC line coding (PSTN 6.3.11): rate, stop bits (0: 1, 2: 2), parity (0 none, 1 odd, 2 even),
    data bits."""

    baud: int
    char_format: int = 0
    parity: int = 0
    data_bits: int = 8

    def pack(self) -> bytes:
        """The 7 bytes of SET_LINE_CODING's data stage."""
        return struct.pack("<IBBB", self.baud, self.char_format, self.parity, self.data_bits)


def line_coding(fd: int) -> LineCoding | None:
    """The line coding termios holds for `fd`, or None when it cannot be read (a closed fd)."""
    try:
        attrs = termios.tcgetattr(fd)
    except termios.error:
        return None
    cflag = int(attrs[2])
    parity = 0 if not cflag & termios.PARENB else 1 if cflag & termios.PARODD else 2
    return LineCoding(_SPEEDS.get(int(attrs[5]), 0), 2 if cflag & termios.CSTOPB else 0, parity,
                      _DATA_BITS.get(cflag & termios.CSIZE, 8))


@dataclass(frozen=True)
class LineChange:
    """The slave's line coding changed from `before` to `after`."""

    before: LineCoding | None
    after: LineCoding

    @property
    def is_touch(self) -> bool:
        """The rate became CONSOLE_BAUD_BOOTSEL: the 1200-baud touch that reboots a board into BOOTSEL."""
        was = self.before is not None and self.before.baud == c.CONSOLE_BAUD_BOOTSEL
        return self.after.baud == c.CONSOLE_BAUD_BOOTSEL and not was


class LineWatcher:
    """Watches a pty slave's termios for changes a client makes (pyserial's baudrate, bytesize,
    parity, stopbits). A rate of 0 (B0, hang-up) is not a line coding and is not reported."""

    def __init__(self, slave_fd: int) -> None:
        self._fd = slave_fd
        self.coding = line_coding(slave_fd)
        """The coding last seen."""

    def poll(self) -> LineChange | None:
        """The change since the last poll, or None."""
        now = line_coding(self._fd)
        if now is None or now == self.coding or now.baud == 0:
            return None
        change = LineChange(self.coding, now)
        self.coding = now
        return change

"""labgrid resources for a rig board, published by an exporter under their class names (plain
NetworkResources: the exporter passes their parameters on as they are, so no labgrid fork or export
class is needed). One group per board, e.g. on lab1:

    rig-board-1:
      RigBoard:                       # its USB device: a rig target spec on that host
        host: lab1.example.org
        spec: board:E66138935F2B2B2C  # board:SERIAL (VID:PID from the contract or RIG_VID/RIG_PID), usb:...
        workdir: /srv/midi-usb-rig    # a checkout with its .venv (default: the same path as here)
      RigConsole:                     # its CDC console port
        host: lab1.example.org
        port: /dev/serial/by-id/usb-rig_midi_E66138935F2B2B2C-if02   # empty: the target's own console
      RigBootselDrive:                # where its BOOTSEL mass-storage drive is mounted
        host: lab1.example.org
        path: /media/lab/RPI-RP2
"""

from __future__ import annotations

import attr
from labgrid.factory import target_factory
from labgrid.resource.common import NetworkResource

_text = attr.validators.instance_of(str)


@target_factory.reg_resource
@attr.s(eq=False)
class RigBoard(NetworkResource):
    """The board's USB device (or any rig target) attached to `host`, named by its rig target `spec`
    there (board:SERIAL finds it by VID:PID and serial number)."""

    spec: str = attr.ib(validator=_text)
    workdir: str = attr.ib(default="", validator=_text)
    """The rig checkout on `host` (its .venv runs the commands); empty: this checkout's path."""


@target_factory.reg_resource
@attr.s(eq=False)
class RigConsole(NetworkResource):
    """The board's CDC console port on `host`: `port` is its device path there (a stable
    /dev/serial/by-id/ name); empty: the console of the RigBoard's target, found when it opens (an
    emulated board's console is a pty that exists only while its target is open)."""

    port: str = attr.ib(default="", validator=_text)


@target_factory.reg_resource
@attr.s(eq=False)
class RigBootselDrive(NetworkResource):
    """The board's BOOTSEL mass-storage drive on `host`: `path` is where it is mounted (or a directory
    it is mounted under), as `rig flash --drive-search` takes it.

    `emulated: true` for an emulated board (RigBoard spec `emulator:IMAGE,...`): the drive is a
    directory on `host` holding the INFO_UF2.TXT the ROM's drive carries; a UF2 copied there replaces
    IMAGE, the file the emulated board's flash is, so the next session of the place boots it. The
    emulator does not model the ROM's USB mass-storage device itself (rig.labgrid.flashing)."""

    path: str = attr.ib(validator=_text)
    emulated: bool = attr.ib(default=False, converter=bool)

"""labgrid's view of a rig board, loaded into labgrid through an environment's `imports:`
(`imports: [rig.labgrid.board]`, no fork of labgrid): importing this module registers the resources
RigBoard (its USB device), RigConsole (its CDC console port) and RigBootselDrive (its BOOTSEL drive)
and the drivers RigDriver (rig commands), RigFlashDriver (flash a .uf2) and RigConsoleDriver.
"""

from __future__ import annotations

from rig.labgrid.driver import RigConsoleDriver, RigDriver, RigFlashDriver
from rig.labgrid.hosts import ENV_SSH_CONFIG
from rig.labgrid.resources import RigBoard, RigBootselDrive, RigConsole

__all__ = ["ENV_SSH_CONFIG", "RigBoard", "RigBootselDrive", "RigConsole", "RigConsoleDriver", "RigDriver",
           "RigFlashDriver"]

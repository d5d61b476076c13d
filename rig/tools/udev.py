"""udev rules that let one group (not everybody) reach the board, its BOOTSEL bootloader and console.

The rules use MODE 0660 with a GROUP: world-writable 0666 would let any local user reflash the board.
"""

from __future__ import annotations

import re

from rig import contract as c
from rig.errors import RigError

RP2040_BOOTSEL_VID = 0x2E8A
"""Raspberry Pi's vendor ID, used by the RP2040 ROM bootloader."""
RP2040_BOOTSEL_PID = 0x0003
"""The RP2040 ROM bootloader (BOOTSEL: mass storage + PICOBOOT)."""
RULES_FILE = "/etc/udev/rules.d/60-rig.rules"

_GROUP_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
"""Used with fullmatch: `$` would also match before a trailing newline and let 'plugdev\\n' through."""


class BadGroupName(RigError, ValueError):
    """The group name cannot be a Unix group (so the rules would never match it)."""


class BadUsbId(RigError, ValueError):
    """A vendor or product ID is not a 16-bit number."""


def render_rules(group: str = "plugdev", vid: int = c.VID, pid: int = c.PID) -> str:
    """The rules file text granting `group` read/write access to the board, BOOTSEL and console."""
    if not _GROUP_NAME.fullmatch(group):
        raise BadGroupName(f"group {group!r} is not a valid Unix group name "
                           f"(lower-case letter or _, then up to 31 of a-z 0-9 _ -)")
    for name, value in (("vid", vid), ("pid", pid)):
        if not 0 <= value <= 0xFFFF:
            raise BadUsbId(f"{name} {value} is not a 16-bit USB ID (0000-ffff)")
    attrs = f'ATTRS{{idVendor}}=="{vid:04x}", ATTRS{{idProduct}}=="{pid:04x}"'
    boot = f'ATTRS{{idVendor}}=="{RP2040_BOOTSEL_VID:04x}", ATTRS{{idProduct}}=="{RP2040_BOOTSEL_PID:04x}"'
    access = f'MODE="0660", GROUP="{group}"'
    return "\n".join([
        f"# rig: access for group {group} to the rig RP2040 test board ({vid:04x}:{pid:04x}),",
        "# its BOOTSEL bootloader and its console. Install with:",
        f"#   rig udev-rules --group {group} | sudo tee {RULES_FILE}",
        "#   sudo udevadm control --reload-rules && sudo udevadm trigger",
        f"#   (and be a member of {group}: sudo usermod -aG {group} $USER, then log in again)",
        f'SUBSYSTEM=="usb", ENV{{DEVTYPE}}=="usb_device", {attrs}, {access}',
        f'SUBSYSTEM=="usb", ENV{{DEVTYPE}}=="usb_device", {boot}, {access}',
        f'SUBSYSTEM=="tty", {attrs}, {access}',
        "",
    ])

"""`rig doctor`: check everything the rig needs on this machine, each with exactly what to do.

Each check returns a `Check`; none raises for a missing thing (that is the point of the report).
The probes (which commands exist, which files exist, running a command) are injectable for tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rig import contract as c

OK = "OK"
MISSING = "MISSING"
NOT_APPLICABLE = "N/A"

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    status: str
    """OK, MISSING, or N/A when there is nothing to check (e.g. no board attached)."""
    detail: str
    fix: str = ""
    """Exactly what to do when the status is MISSING."""

    @property
    def ok(self) -> bool:
        """True unless MISSING."""
        return self.status != MISSING


def _run(argv: list[str], timeout_s: float = 5.0) -> tuple[int, str]:
    env = {**os.environ, "JACK_NO_START_SERVER": "1"}  # probing must not start a JACK server
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


@dataclass
class Probes:
    """How the doctor looks at the machine (replaced in tests)."""

    which: Callable[[str], str | None] = shutil.which
    run: Callable[[list[str]], tuple[int, str]] = _run
    exists: Callable[[Path], bool] = lambda p: p.exists()
    access_rw: Callable[[Path], bool] = lambda p: os.access(p, os.R_OK | os.W_OK)
    libusb_path: Callable[[], str | None] = field(default=lambda: _libusb_path())
    board_nodes: Callable[[], list[Path]] = field(default=lambda: _board_nodes())
    repo_root: Path = REPO_ROOT
    usb_midi_devices: Callable[[], list[tuple[str, bool, str]]] = field(default=lambda: _usb_midi_devices())
    """(--rig string, the rig can open it, access detail) of every USB-MIDI class device attached."""
    jack_mode: Callable[[], str] = field(default=lambda: _jack_mode())
    """$RIG_JACK as rig.os_midi.jack reads it ('auto', 'never', 'always'), or the error naming a bad value."""


def _usb_midi_devices() -> list[tuple[str, bool, str]]:
    from rig.targets.usb_listing import usb_midi_devices

    entries, _problem = usb_midi_devices()  # no libusb: the libusb line says so
    return [(e.spec, e.openable, e.access) for e in entries]


def _jack_mode() -> str:
    from rig.os_midi.jack import jack_mode

    try:
        return jack_mode().value
    except ValueError as exc:
        return str(exc)


def _libusb_path() -> str | None:
    try:
        import libusb_package

        path = libusb_package.get_library_path()
    except Exception:  # any failure here means "not found"
        return None
    return str(path) if path else None


def _board_nodes() -> list[Path]:
    """/dev/bus/usb/BBB/DDD of every attached rig board (found through libusb)."""
    try:
        import libusb_package

        devices = list(libusb_package.find(find_all=True, idVendor=c.VID, idProduct=c.PID))
    except Exception:
        return []
    return [Path(f"/dev/bus/usb/{d.bus:03d}/{d.address:03d}") for d in devices]


def check_libusb(p: Probes) -> Check:
    """libusb is what pyusb talks to a real board through."""
    path = p.libusb_path()
    if path:
        return Check("libusb", OK, f"found {path}")
    return Check("libusb", MISSING, "no libusb library found",
                 "pip install libusb-package (into .venv: make venv), or apt-get install libusb-1.0-0")


def check_usb_permissions(p: Probes) -> Check:
    """Every attached board's device node must be readable and writable by this user."""
    nodes = p.board_nodes()
    if not nodes:
        return Check("USB permissions", NOT_APPLICABLE,
                     f"no board {c.VID:04x}:{c.PID:04x} attached; nothing to check")
    denied = [n for n in nodes if not p.access_rw(n)]
    if not denied:
        return Check("USB permissions", OK, "read/write on " + ", ".join(map(str, nodes)))
    return Check("USB permissions", MISSING, "no read/write access to " + ", ".join(map(str, denied)),
                 "rig udev-rules --group plugdev | sudo tee /etc/udev/rules.d/60-rig.rules && "
                 "sudo udevadm control --reload-rules && sudo udevadm trigger; "
                 "then sudo usermod -aG plugdev $USER and log in again")


def check_usb_midi_devices(p: Probes) -> Check:
    """Every attached USB-MIDI class device (any VID:PID) must be openable by this user; each is named
    by the --rig string that points the rig at it."""
    devices = p.usb_midi_devices()
    if not devices:
        return Check("USB-MIDI devices", NOT_APPLICABLE,
                     "no USB-MIDI class device attached; nothing to check")
    listing = "; ".join(f"{spec}: {access}" for spec, _ok, access in devices)
    denied = [spec for spec, ok, _access in devices if not ok]
    if not denied:
        return Check("USB-MIDI devices", OK,
                     listing + " (rig test --rig SPEC; `rig list` shows cables and ports)")
    return Check("USB-MIDI devices", MISSING, f"cannot open {', '.join(denied)} ({listing})",
                 "give this user read/write on the device node: rig udev-rules | sudo tee "
                 "/etc/udev/rules.d/60-rig.rules (add a line with the device's idVendor/idProduct if it is "
                 "not a rig board), sudo udevadm control --reload-rules && sudo udevadm trigger")


def check_alsa(p: Probes) -> Check:
    """The ALSA sequencer is one MIDI system python-rtmidi can use on Linux."""
    seq = Path("/dev/snd/seq")
    if not p.exists(seq):
        return Check("ALSA sequencer", MISSING, f"{seq} does not exist",
                     "sudo modprobe snd-seq (a container needs --device /dev/snd); "
                     "or use JACK instead (see the JACK line)")
    if not p.access_rw(seq):
        return Check("ALSA sequencer", MISSING, f"{seq} is not readable/writable by you",
                     "sudo usermod -aG audio $USER, then log in again")
    return Check("ALSA sequencer", OK, f"{seq} usable")


def check_jack(p: Probes) -> Check:
    """A running JACK server is the other MIDI system (and what CI uses, with the dummy driver)."""
    if p.which("jackd") is None:
        return Check("JACK server", MISSING, "jackd is not installed",
                     "sudo apt-get install jackd2 (then: jackd -d dummy &)")
    if p.which("jack_lsp") is None:
        return Check("JACK server", MISSING, "jack_lsp (JACK tools) not installed",
                     "sudo apt-get install jackd2")
    code, _ = p.run(["jack_lsp"])
    if code == 0:
        return Check("JACK server", OK, "a JACK server is running")
    mode = p.jack_mode()
    if mode in ("auto", "always"):
        return Check("JACK server", OK, f"none running; RIG_JACK={mode}: the loopback and emulator targets "
                     "start their own dummy server (a board's OS MIDI ports need ALSA or a server of yours)")
    if mode == "never":
        return Check("JACK server", MISSING, "jackd is installed but no server is running and RIG_JACK=never",
                     "start one: jackd --no-realtime -d dummy &  (or unset RIG_JACK)")
    return Check("JACK server", MISSING, mode, "set RIG_JACK to auto, never or always")


def check_node(p: Probes) -> Check:
    """Node.js and npm run the emulator bridge (rp2040js)."""
    node, npm = p.which("node"), p.which("npm")
    if node is None or npm is None:
        missing = " and ".join(n for n, w in (("node", node), ("npm", npm)) if w is None)
        return Check("Node.js + npm", MISSING, f"{missing} not found",
                     "sudo apt-get install nodejs npm (Node 18 or newer)")
    code, version = p.run(["node", "--version"])
    return Check("Node.js + npm", OK if code == 0 else MISSING,
                 f"node {version}" if code == 0 else f"node --version failed: {version}",
                 "" if code == 0 else "reinstall nodejs")


def check_arm_gcc(p: Probes) -> Check:
    """arm-none-eabi-gcc builds the firmware (`make firmware`)."""
    path = p.which("arm-none-eabi-gcc")
    if path is None:
        return Check("arm-none-eabi-gcc", MISSING, "not found",
                     "sudo apt-get install --no-install-recommends gcc-arm-none-eabi")
    code, out = p.run(["arm-none-eabi-gcc", "--version"])
    first = out.splitlines()[0] if out else ""
    return Check("arm-none-eabi-gcc", OK if code == 0 else MISSING, first or path,
                 "" if code == 0 else "reinstall gcc-arm-none-eabi")


def _emulator_package_dirs(root: Path) -> list[Path]:
    """Directories under firmware/ whose package.json depends on rp2040js."""
    out: list[Path] = []
    base = root / "firmware"
    if not base.is_dir():
        return out
    for pkg in sorted(base.rglob("package.json")):
        if "node_modules" in pkg.parts:
            continue
        try:
            meta = json.loads(pkg.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        deps = {**meta.get("dependencies", {}), **meta.get("devDependencies", {})}
        if "rp2040js" in deps:
            out.append(pkg.parent)
    return out


def check_emulator_packages(p: Probes) -> Check:
    """The emulator's npm packages (rp2040js) must be installed next to its package.json."""
    dirs = _emulator_package_dirs(p.repo_root)
    if not dirs:
        return Check("emulator npm packages", MISSING,
                     f"no package.json depending on rp2040js under {p.repo_root / 'firmware'}",
                     "update the checkout (the emulator bridge lives under firmware/)")
    missing = [d for d in dirs if not p.exists(d / "node_modules" / "rp2040js" / "package.json")]
    if missing:
        return Check("emulator npm packages", MISSING, "rp2040js not installed in "
                     + ", ".join(map(str, missing)),
                     " && ".join(f"(cd {d} && npm ci || npm install)" for d in missing))
    return Check("emulator npm packages", OK, "rp2040js installed in " + ", ".join(map(str, dirs)))


CHECKS: tuple[Callable[[Probes], Check], ...] = (
    check_libusb, check_usb_permissions, check_usb_midi_devices, check_alsa, check_jack, check_node,
    check_arm_gcc, check_emulator_packages,
)


def run_checks(probes: Probes | None = None) -> list[Check]:
    """Every check, in a fixed order; one MIDI system is enough (see one_midi_system_is_enough)."""
    p = probes or Probes()
    return one_midi_system_is_enough([check(p) for check in CHECKS])


def one_midi_system_is_enough(checks: list[Check]) -> list[Check]:
    """ALSA and JACK are alternatives: a missing ALSA sequencer is not MISSING (N/A) when the JACK
    line is OK, so the exit status says what the output says."""
    jack_ok = any(ch.name == "JACK server" and ch.status == OK for ch in checks)
    if not jack_ok:
        return checks
    return [Check(ch.name, NOT_APPLICABLE, f"{ch.detail}; not needed: JACK provides OS MIDI (see the JACK "
                                           f"line; {ch.fix})")
            if ch.name == "ALSA sequencer" and ch.status == MISSING else ch for ch in checks]


def format_line(check: Check) -> str:
    """`STATUS  name: detail` and, when MISSING, ` -> fix`: one line per check."""
    line = f"{check.status:<7} {check.name}: {check.detail}"
    return line + (f" -> {check.fix}" if check.status == MISSING and check.fix else "")

"""The lab the labgrid tests share (issue #13): the real labgrid coordinator and exporter from PyPI on
127.0.0.1 with four places backed by emulator boards (the exporter publishes RigBoard resources;
the client loads rig.labgrid.board through an environment's `imports:`), and the subprocesses the
tests start against it. Each test file starts a lab of its own (test_labgrid.py: sessions
contending for places; test_labgrid_remote.py: flashing, the console and a host reached over ssh),
so that under xdist the two halves run on two workers."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rig.labgrid.place import client_session, close_client_session
from rig.links.emulator import bridge_installed, node_executable
from rig.pytest_plugin.testing import missing, require_module

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SUITE = "tests/conformance_usb/test_descriptors.py"
BOARDS = {"place-a": "emulator:uid=E0000000000000A1", "place-b": "emulator:uid=E0000000000000B2"}
"""Places whose boards are attached to this host (as the exporter publishes them: host 127.0.0.1)."""
REMOTE = ("place-r", "emulator:{lab}/place-r/flash.uf2,uid=E0000000000000C3")
"""A place whose exporter names another host (an ssh alias for an sshd the test starts on 127.0.0.1):
commands for it go over ssh, as to a lab machine. Its board boots the file {lab}/place-r/flash.uf2
(the lab's directory), which its emulated BOOTSEL drive replaces when it is flashed."""
FLASHABLE = ("place-f", "emulator:{lab}/place-f/flash.uf2,uid=E0000000000000F4")
"""A place on this host whose emulated board is flashed through its RigBootselDrive."""
FIRMWARE_UF2 = REPO / "firmware" / "build" / "rig_firmware.uf2"
PLAIN_UF2 = REPO / "firmware" / "build" / "plain.uf2"
"""A class-compliant USB-MIDI image that is not our board: 1209:0002."""
PLACES = [*BOARDS, REMOTE[0], FLASHABLE[0]]
SSH_HOST = "rig-lab-host"
STARTUP_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    """A coordinator and an exporter on 127.0.0.1 with one place per board."""

    coordinator: str
    directory: Path

    def client(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "labgrid-client"), "-x", self.coordinator, *args],
                              capture_output=True, text=True, timeout=60, cwd=self.directory)

    def session(self) -> Any:
        """labgrid's client session of this process on the lab's coordinator (the one a labgrid target
        opened here uses too), with the places and resources as the coordinator has them now."""
        session = client_session(self.coordinator)
        assert session.loop.run_until_complete(session.sync_with_coordinator()), "the coordinator is gone"
        return session

    def acquired(self) -> dict[str, str]:
        """Place -> who holds it, for every place that is acquired (asked after almost every test: in
        this process, where a labgrid-client would cost ~0.4 s CPU to start)."""
        places = sorted(self.session().places.items())
        return {name: place.acquired for name, place in places if place.acquired}

    def spec(self, place: str, wait_s: float) -> str:
        return f"labgrid:{place},coordinator={self.coordinator},wait={wait_s:g}"


def listening(server: subprocess.Popen[bytes], address: str, log: Path) -> None:
    """Return once `address` (HOST:PORT) accepts a TCP connection; fail with the log if the server
    exits or STARTUP_S passes first."""
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1.0).close()
            return
        except OSError:
            assert server.poll() is None, f"the server for {address} exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"nothing listens on {address}: {log.read_text()}"
            time.sleep(0.05)



@contextlib.contextmanager
def running_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A coordinator and an exporter on 127.0.0.1 serving PLACES, each emulated board with our
    firmware to start with; stopped (and this process's labgrid client session closed) at the end."""
    require_module("labgrid", "pip install '.[labgrid]' (make venv installs it)")
    if node_executable() is None or not bridge_installed():
        missing("the emulator bridge is not installed (Node.js 18+ and `npm ci` in firmware/emulator)")
    directory = tmp_path_factory.mktemp("lab")
    address = f"127.0.0.1:{free_port()}"
    for place in (REMOTE[0], FLASHABLE[0]):  # each emulated board starts out with our firmware
        (directory / place).mkdir()
        shutil.copyfile(FIRMWARE_UF2, directory / place / "flash.uf2")
    (directory / "exporter.yaml").write_text("".join(
        f"rig-{place}:\n  RigBoard:\n    host: 127.0.0.1\n    spec: '{spec}'\n"
        for place, spec in BOARDS.items()) + "".join(
        f"rig-{place}:\n  RigBoard:\n    host: {host}\n    spec: '{spec.format(lab=directory)}'\n"
        f"    workdir: '{REPO}'\n  RigConsole:\n    host: {host}\n    port: ''\n"
        f"  RigBootselDrive:\n    host: {host}\n    path: '{directory / place / 'drive'}'\n"
        "    emulated: true\n"
        for (place, spec), host in ((REMOTE, SSH_HOST), (FLASHABLE, "127.0.0.1"))))
    # The places, as the coordinator keeps them in places.yaml in its working directory and loads them
    # at start: one place per board, matching that board's resource group on exporter lab1 (what
    # `labgrid-client -p PLACE create` and `add-match lab1/rig-PLACE/*` store, without 8 client starts).
    (directory / "places.yaml").write_text("".join(
        f"{place}:\n  matches:\n  - {{exporter: lab1, group: rig-{place}, cls: '*'}}\n" for place in PLACES))
    logs = [open(directory / name, "w") for name in ("coordinator.log", "exporter.log")]  # noqa: SIM115
    coordinator = subprocess.Popen([str(BIN / "labgrid-coordinator"), "-l", address], cwd=directory,
                                   stdout=logs[0], stderr=subprocess.STDOUT)
    # the exporter gives up at once (exit 100, to be restarted) when the coordinator is not listening
    # yet: start it only once the coordinator accepts connections
    listening(coordinator, address, directory / "coordinator.log")
    exporter = subprocess.Popen([str(BIN / "labgrid-exporter"), "-c", address, "-n", "lab1", "--hostname",
                                 "127.0.0.1", "exporter.yaml"], cwd=directory,
                                stdout=logs[1], stderr=subprocess.STDOUT)
    the_lab = Lab(address, directory)
    try:
        deadline = time.monotonic() + STARTUP_S
        while sum(entry.cls == "RigBoard" for groups in the_lab.session().resources.values()
                  for group in groups.values() for entry in group.values()) < len(PLACES):
            assert coordinator.poll() is None and exporter.poll() is None, \
                (directory / "coordinator.log").read_text() + (directory / "exporter.log").read_text()
            assert time.monotonic() < deadline, "the exporter's resources never reached the coordinator"
            time.sleep(0.2)
        places = the_lab.client("-v", "places").stdout
        for place in PLACES:
            assert f"Place '{place}':" in places and f"lab1/rig-{place}/*" in places, places
        yield the_lab
    finally:
        close_client_session()  # before its coordinator goes; a later lab starts its own
        for proc in (exporter, coordinator):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()




def session(lab: Lab, name: str, *args: str) -> subprocess.Popen[str]:
    """A pytest session in a subprocess with its own lock directory (as on its own host)."""
    env = dict(os.environ, RIG_LOCK_DIR=str(lab.directory / f"locks-{name}"))
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen[str]) -> str:
    out, _ = proc.communicate(timeout=600)
    return out


def rig(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`rig ARGS` in a subprocess (the command line a user types)."""
    return subprocess.run([sys.executable, "-m", "rig.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env=env)



"""Boards shared through labgrid (issue #13): the real labgrid coordinator and exporter from PyPI on
127.0.0.1, two places backed by emulator boards (the exporter publishes RigBoard resources; the
client loads rig.labgrid.board through an environment's `imports:`), and pytest sessions and `rig`
commands contending for them. Locking works, everything finishes, and no place is left acquired.

Each session gets its own lock directory, as sessions on two hosts would: only labgrid's locking
keeps them apart.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rig.errors import TargetError
from rig.labgrid.place import client_session, close_client_session
from rig.labgrid.remote import labgrid_spec, take_option
from rig.labgrid.target import place_options
from rig.links.emulator import bridge_installed, node_executable
from rig.pytest_plugin.testing import missing, require_module
from rig.targets.registry import TargetSpec

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


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
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


def test_the_lab_sees_a_held_place(lab: Lab) -> None:
    """Every test below ends with `lab.acquired() == {}`: that check sees a place that is held."""
    assert lab.client("-p", "place-a", "acquire").returncode == 0
    try:
        held = lab.acquired()
    finally:
        assert lab.client("-p", "place-a", "release").returncode == 0
    assert list(held) == ["place-a"] and held["place-a"].endswith(f"/{getpass.getuser()}"), held
    assert lab.acquired() == {}


def test_two_sessions_share_out_two_places_and_release_both(lab: Lab) -> None:
    pool = ";".join(lab.spec(place, 0) for place in BOARDS)
    runs = [session(lab, name, SUITE, "--rig-pool", pool, "--junitxml", str(lab.directory / f"{name}.xml"))
            for name in ("first", "second")]
    outputs = [finish(run) for run in runs]
    for run, out in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out[-3000:]
        assert "16 passed" in out
    junit = {name: (lab.directory / f"{name}.xml").read_text() for name in ("first", "second")}
    used = [{place for place in BOARDS if f'value="labgrid:{place},' in text} for text in junit.values()]
    assert all(len(places) == 1 for places in used), used
    assert set.union(*used) == set(BOARDS)  # one place each: the second found the first's place taken
    assert lab.acquired() == {}


def test_two_sessions_wanting_one_place_take_turns(lab: Lab) -> None:
    spec = lab.spec("place-a", 300)
    runs = [session(lab, name, SUITE, "-k", "device_descriptor", f"--rig={spec}") for name in ("one", "two")]
    outputs = [finish(run) for run in runs]
    for run, out in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out[-3000:]
    assert lab.acquired() == {}


def test_a_failing_session_releases_its_place(lab: Lab) -> None:
    run = session(lab, "failing", "tests/pool/killed", "-o", "python_files=check_*.py",
                  f"--rig={lab.spec('place-b', 0)}")
    out = finish(run)
    assert run.returncode == 1 and "3 failed" in out, out[-3000:]
    assert lab.acquired() == {}


def test_rig_test_runs_on_the_boards_host_and_releases(lab: Lab) -> None:
    done = subprocess.run([sys.executable, "-m", "rig.cli", "test", f"--rig={lab.spec('place-a', 0)}",
                           "--suite", "tests/conformance_usb", "-k", "device_descriptor"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"labgrid place place-a: {BOARDS['place-a']} on 127.0.0.1" in done.stdout
    assert lab.acquired() == {}


def test_ctrl_c_releases_the_place(lab: Lab) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "rig.cli", "test", f"--rig={lab.spec('place-b', 0)}",
                             "--suite", "tests/conformance_usb"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until the place is held and the suite started on its board
        if "labgrid place place-b:" in line:
            break
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C reaches the whole process group
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-3000:]
    assert lab.acquired() == {}


def test_a_place_that_does_not_exist_is_named(lab: Lab) -> None:
    run = session(lab, "missing", SUITE, f"--rig={lab.spec('place-z', 0)}")
    out = finish(run)
    assert run.returncode != 0 and "place-z" in out, out[-3000:]


@pytest.mark.parametrize(("arg", "message"), [
    ("", "which place"), ("p,colour=red", "unknown option 'colour=red'"), ("p,wait=soon", "not a number"),
])
def test_a_bad_labgrid_spec_is_named(arg: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        place_options(TargetSpec("labgrid", arg or None))


def test_the_rig_option_is_found_and_taken_out() -> None:
    argv = ["run", "--rig", "labgrid:p", "--report-dir=out", "-x"]
    assert labgrid_spec(argv) == "labgrid:p"
    assert take_option(argv, "--rig") == (["run", "--report-dir=out", "-x"], "labgrid:p")
    assert take_option(argv, "--report-dir") == (["run", "--rig", "labgrid:p", "-x"], "out")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An sshd on 127.0.0.1 that lets this user in with a key made here; the ssh_config naming it
    SSH_HOST (given to the rig as RIG_SSH_CONFIG, so the user's own ssh files are never read)."""
    daemon = Path("/usr/sbin/sshd")
    if not daemon.is_file() or shutil.which("ssh") is None:
        missing("openssh-server and openssh-client are not installed (make system installs them)")
    if os.geteuid() != 0:
        missing("the test sshd needs root (its privilege separation directory /run/sshd)")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    directory = tmp_path_factory.mktemp("ssh")
    for key in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / key)],
                       check=True)
    (directory / "authorized_keys").write_text((directory / "user_key.pub").read_text())
    port = free_port()
    proc = subprocess.Popen([str(daemon), "-D", "-e", "-f", "/dev/null", "-p", str(port),
                             "-o", "ListenAddress=127.0.0.1", "-h", str(directory / "host_key"),
                             "-o", f"AuthorizedKeysFile={directory / 'authorized_keys'}", "-o", "UsePAM=no",
                             "-o", "StrictModes=no", "-o", "PidFile=none"],
                            stdout=subprocess.DEVNULL, stderr=open(directory / "sshd.log", "w"))  # noqa: SIM115
    config = directory / "ssh_config"
    config.write_text(f"Host {SSH_HOST}\n  HostName 127.0.0.1\n  Port {port}\n  User {getpass.getuser()}\n"
                      f"  IdentityFile {directory / 'user_key'}\n  IdentitiesOnly yes\n"
                      "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
    try:
        deadline = time.monotonic() + STARTUP_S
        while subprocess.run(["ssh", "-F", str(config), "-o", "BatchMode=yes", SSH_HOST, "true"],
                             capture_output=True).returncode != 0:
            assert proc.poll() is None, (directory / "sshd.log").read_text()
            assert time.monotonic() < deadline, "sshd never let us in"
            time.sleep(0.2)
        yield config
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_rig_run_on_a_board_of_another_host_goes_over_ssh_and_brings_the_report_back(
        lab: Lab, sshd: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    env = dict(os.environ, RIG_SSH_CONFIG=str(sshd))
    done = subprocess.run([sys.executable, "-m", "rig.cli", "test", f"--rig={lab.spec(REMOTE[0], 0)}",
                           "--suite", "tests/conformance_usb", "-k", "device_descriptor", "--rig-report",
                           str(report)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"labgrid place {REMOTE[0]}: {REMOTE[1].format(lab=lab.directory)} on {SSH_HOST}" in done.stdout
    assert f"reports from {SSH_HOST} copied to {report}" in done.stdout
    text = (report / "report.md").read_text()
    assert "**Verdict: PASS**" in text and "C3 |" in text  # the remote board's serial came back
    assert lab.acquired() == {}


def test_the_pytest_plugin_refuses_a_board_on_another_host_naming_what_to_run(lab: Lab) -> None:
    run = session(lab, "remote", SUITE, f"--rig={lab.spec(REMOTE[0], 0)}")
    out = finish(run)
    assert run.returncode != 0
    assert f"is attached to {SSH_HOST}" in out and f"rig test --rig=labgrid:{REMOTE[0]}" in out, out[-3000:]
    assert lab.acquired() == {}


def rig(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`rig ARGS` in a subprocess (the command line a user types)."""
    return subprocess.run([sys.executable, "-m", "rig.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env=env)


def test_flashing_a_place_boots_the_new_image_in_its_next_session(lab: Lab) -> None:
    """rig flash --rig=labgrid:PLACE goes through the place's RigFlashDriver and its emulated BOOTSEL
    drive (rig.tools.flash's sequence); the place's next session boots what was flashed."""
    from rig.targets.factory import make_target

    spec = lab.spec(FLASHABLE[0], 300)
    done = rig("flash", str(PLAIN_UF2), f"--rig={spec}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"copied to {lab.directory / FLASHABLE[0] / 'drive' / 'plain.uf2'}" in done.stdout
    assert "USB device 1209:0002" in done.stdout  # the emulator booted the flashed image to check
    session = make_target(spec)  # the place's next session
    session.open()
    try:
        device = session.usb_device()
        assert (device.idVendor, device.idProduct) == (0x1209, 0x0002)
    finally:
        session.close()
    assert lab.acquired() == {}
    done = rig("flash", str(FIRMWARE_UF2), f"--rig={spec}")
    assert done.returncode == 0 and "USB device 1209:0001" in done.stdout, done.stdout + done.stderr
    reply = rig("console", f"--rig={spec}", "--command", "version")  # through the RigConsoleDriver
    assert reply.returncode == 0 and reply.stdout.startswith("firmware "), reply.stdout + reply.stderr
    assert lab.acquired() == {}


def test_flashing_a_bad_image_is_refused_by_name_and_changes_nothing(lab: Lab, tmp_path: Path) -> None:
    bad = tmp_path / "bad.uf2"
    bad.write_bytes(b"\0" * 700)
    flash = lab.directory / FLASHABLE[0] / "flash.uf2"
    before = flash.read_bytes()
    done = rig("flash", str(bad), f"--rig={lab.spec(FLASHABLE[0], 300)}")
    assert done.returncode == 1
    assert "700 bytes is not a whole number of 512-byte UF2 blocks" in done.stderr, done.stdout + done.stderr
    assert flash.read_bytes() == before
    assert lab.acquired() == {}


def test_a_place_without_a_bootsel_drive_cannot_be_flashed(lab: Lab) -> None:
    done = rig("flash", str(FIRMWARE_UF2), f"--rig={lab.spec('place-a', 0)}")
    assert done.returncode == 1
    assert "place-a: no usable RigBoard and RigBootselDrive for RigFlashDriver" in done.stderr, done.stderr
    assert lab.acquired() == {}


def test_flash_and_console_on_a_board_of_another_host_go_over_ssh(lab: Lab, sshd: Path) -> None:
    env = dict(os.environ, RIG_SSH_CONFIG=str(sshd))
    spec = lab.spec(REMOTE[0], 300)
    done = rig("flash", str(FIRMWARE_UF2), f"--rig={spec}", env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"onto {REMOTE[1].format(lab=lab.directory)} on {SSH_HOST}" in done.stdout
    assert "USB device 1209:0001" in done.stdout  # the steps ran on the board's host and came back
    reply = rig("console", f"--rig={spec}", "--command", "version", env=env)
    assert reply.returncode == 0 and reply.stdout.startswith("firmware "), reply.stdout + reply.stderr
    assert lab.acquired() == {}


def test_a_measurement_on_another_host_joins_the_local_history_with_its_place(
        lab: Lab, sshd: Path, tmp_path: Path) -> None:
    """The remote command stores its runs in a history file of its own (not the lab host user's),
    which comes back with the reports; the runs join this machine's history (RIG_HISTORY, isolated
    here) marked with the place and host, and --baseline latest, applied here, finds the earlier one
    (and, as for any emulator run, refuses to compare runs without timing figures: exit 1 saying so)."""
    from rig.measure.history import History

    history = tmp_path / "history.sqlite"
    env = dict(os.environ, RIG_SSH_CONFIG=str(sshd), RIG_HISTORY=str(history))
    origin = f"labgrid:{REMOTE[0]} on {SSH_HOST}"
    outputs = []
    for n in (1, 2):
        done = rig("latency", f"--rig={lab.spec(REMOTE[0], 300)}", "--path", "midi-usb", "--count", "5",
                   "--warmup", "0", "--no-progress", "--baseline", "latest",
                   "--report-dir", str(tmp_path / f"r{n}"), env=env)
        assert done.returncode == n - 1, done.stdout[-3000:] + done.stderr[-2000:]
        said = " ".join(done.stdout.split())  # as printed, lines wrapped at the terminal's width
        assert f"history: 1 run(s) from {origin} stored as run {n} in {history}" in said, done.stdout
        assert not (tmp_path / f"r{n}" / ".rig-history.sqlite").exists()  # imported, then removed
        assert list((tmp_path / f"r{n}").glob("latency-midi-usb-*.json"))  # the reports came back
        outputs.append(said)
    assert "no earlier run to compare with; gate skipped" in outputs[0]
    assert "history: run 2 has no timing figures to compare" in outputs[1], outputs[1]  # run 1 was found
    with History(history) as h:
        rows = h.runs()
    assert [(r.run_id, r.kind, r.path, r.origin) for r in rows] == [
        (2, "latency", "midi-usb", origin), (1, "latency", "midi-usb", origin)]
    assert rows[0].target == REMOTE[1].format(lab=lab.directory)  # the board's own spec on its host
    assert lab.acquired() == {}

"""Boards behind labgrid places (issue #13): flashing through a place's RigBootselDrive, its console,
and places whose board is attached to another host (an sshd started on 127.0.0.1 stands in for the
lab host): `rig` commands run there and bring their reports and history back. Every test ends with
no place acquired (tests/pool/labgrid_lab.py's lab)."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.pytest_plugin.testing import missing

from .labgrid_lab import (
    FIRMWARE_UF2,
    FLASHABLE,
    PLAIN_UF2,
    REMOTE,
    REPO,
    SSH_HOST,
    STARTUP_S,
    Lab,
    free_port,
    rig,
    running_lab,
)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory) as started:
        yield started


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

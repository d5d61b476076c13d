"""`rig latency` and `rig throughput` on a device that is not ours: over raw USB-MIDI when it echoes
(round trips only, no device time stamps, no vendor request), a clear error when it does not."""

from __future__ import annotations

from pathlib import Path

from rig.measure.runner import available_paths
from rig.targets.factory import make_target

from .test_main import rig

ECHO = "usb:cafe:4001,bus=loopback,echo"


def test_paths_follow_what_the_device_can_do() -> None:
    with make_target(ECHO) as echo:
        assert available_paths(echo) == ["midi-usb"]
    with make_target("usb:cafe:4001,bus=loopback") as silent:
        assert available_paths(silent) == []
    with make_target("usb:1209:0001,bus=loopback") as ours:
        assert available_paths(ours) == ["midi-usb", "frames"]


def test_latency_over_raw_usb_midi_on_an_echoing_foreign_device(tmp_path: Path) -> None:
    done = rig("latency", "--rig", ECHO, "--count", "50", "--no-history", "--no-progress", "--report-dir",
               str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sent 50, received 50, lost 0" in done.stdout
    assert "no device time stamps" in done.stdout and "verdict: PASS" in done.stdout


def test_throughput_over_raw_usb_midi_on_an_echoing_foreign_device(tmp_path: Path) -> None:
    done = rig("throughput", "--rig", ECHO, "--midi-events", "500", "--no-history", "--no-progress",
               "--report-dir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # the table wraps its cells where the figures' widths put the line ends: words compared, not lines
    assert "over raw USB-MIDI (device echo)" in " ".join(done.stdout.replace("\u2502", " ").split())
    assert "verdict: PASS" in done.stdout


def test_throughput_on_a_foreign_device_that_does_not_echo_says_what_to_declare(tmp_path: Path) -> None:
    done = rig("throughput", "--rig", "usb:cafe:4001,bus=loopback", "--no-history", "--no-progress",
               "--report-dir", str(tmp_path), cwd=tmp_path)
    assert done.returncode != 0
    assert "not declared as echoing" in (done.stdout + done.stderr).replace("\n", " ")
    assert "Traceback" not in done.stdout + done.stderr

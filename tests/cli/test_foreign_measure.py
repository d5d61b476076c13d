"""`rig latency` and `rig throughput` on a device that is not ours: over raw USB-MIDI when it echoes
(round trips only, no device time stamps, no vendor request), a clear error when it does not; `rig
console` on it is a one-line error at once (it used to wait for a prompt that never came)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rig.cli import main
from rig.links.foreign import ForeignLink
from rig.measure.runner import available_paths
from rig.targets import probe
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


@pytest.mark.parametrize("probe_broken", [False, True], ids=["foreign", "probe-broken"])
def test_latency_and_throughput_send_no_vendor_request_to_a_foreign_device(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        probe_broken: bool) -> None:
    """Issue #8: no command sends a vendor request to a device that is not ours. In process, every
    software-bus device the commands open records the vendor requests it is sent (and STALLs them):
    none for `rig latency` and `rig throughput` on an echoing foreign device. The check can fail:
    with the probe broken to take every device for ours (`probe-broken`), its GET_INFO is recorded."""
    opened: list[ForeignLink] = []
    init = ForeignLink.__init__

    def recording_init(self: ForeignLink, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(ForeignLink, "__init__", recording_init)
    if probe_broken:  # every device is asked GET_INFO; the software bus still knows cafe:4001 is not ours
        monkeypatch.setattr(probe, "carries_rig_ids", lambda vid, pid: True)
    common = ["--rig", ECHO, "--no-history", "--no-progress", "--report-dir", str(tmp_path)]
    assert main(["latency", *common, "--count", "20"]) == 0, capsys.readouterr()
    assert main(["throughput", *common, "--midi-events", "200"]) == 0, capsys.readouterr()
    assert len(opened) >= 2 and all(not link.refuse_vendor or link.vid == 0xCAFE for link in opened)
    sent = [request for link in opened for request in link.vendor_requests]
    if probe_broken:
        assert sent and all("bRequest 0x01" in request for request in sent), sent
    else:
        assert sent == []


def test_console_on_a_foreign_device_says_it_has_none(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "--rig", "usb:cafe:4001,bus=loopback", "--command", "version"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "rig: error: target usb:cafe:4001,bus=loopback has no console capability", err

"""rig doctor: one OK/MISSING/N-A line per check, with exactly what to do when MISSING."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rig.cli import main
from rig.tools import doctor
from rig.tools.doctor import MISSING, OK, Probes, format_line, run_checks

LINE = re.compile(r"^(OK|MISSING|N/A) +\S.*: .+")


def _nothing_installed(tmp_path: Path) -> Probes:
    return Probes(which=lambda name: None, run=lambda argv: (1, "no"), exists=lambda p: False,
                  access_rw=lambda p: False, libusb_path=lambda: None,
                  board_nodes=lambda: [Path("/dev/bus/usb/001/007")], repo_root=tmp_path,
                  usb_midi_devices=lambda: [("usb:cafe:4001", False, "no permission to open 1-3")])


def _everything_installed(tmp_path: Path) -> Probes:
    pkg = tmp_path / "firmware" / "emu"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text('{"dependencies": {"rp2040js": "1.4.1"}}')
    return Probes(which=lambda name: f"/usr/bin/{name}", run=lambda argv: (0, f"{argv[0]} 1.0"),
                  exists=lambda p: True, access_rw=lambda p: True, libusb_path=lambda: "/lib/libusb.so",
                  board_nodes=lambda: [Path("/dev/bus/usb/001/007")], repo_root=tmp_path,
                  usb_midi_devices=lambda: [("usb:cafe:4001", True, "can open")])


def test_everything_missing_gives_a_fix_on_every_line(tmp_path: Path) -> None:
    checks = run_checks(_nothing_installed(tmp_path))
    assert len(checks) == len(doctor.CHECKS)
    assert all(ch.status == MISSING for ch in checks)
    for ch in checks:
        line = format_line(ch)
        assert LINE.match(line), line
        assert " -> " in line and ch.fix, f"{ch.name} says nothing about what to do"
    text = "\n".join(map(format_line, checks))
    assert "udev-rules" in text and "apt-get install jackd2" in text and "gcc-arm-none-eabi" in text
    assert "npm" in text


def test_everything_present_is_ok(tmp_path: Path) -> None:
    checks = run_checks(_everything_installed(tmp_path))
    assert [ch.status for ch in checks] == [OK] * len(checks), [format_line(ch) for ch in checks]
    assert all(" -> " not in format_line(ch) for ch in checks)


def test_missing_emulator_packages_name_the_directory(tmp_path: Path) -> None:
    probes = _everything_installed(tmp_path)
    probes.exists = lambda p: "node_modules" not in p.parts
    check = doctor.check_emulator_packages(probes)
    assert check.status == MISSING
    assert str(tmp_path / "firmware" / "emu") in check.fix and "npm" in check.fix


def test_jack_installed_but_not_running(tmp_path: Path) -> None:
    """No server is only a problem when RIG_JACK=never: otherwise the targets start their own."""
    probes = _everything_installed(tmp_path)
    probes.run = lambda argv: (1, "not running") if argv[0] == "jack_lsp" else (0, "ok")
    probes.jack_mode = lambda: "never"
    check = doctor.check_jack(probes)
    assert check.status == MISSING and "jackd" in check.fix and "RIG_JACK=never" in check.detail
    probes.jack_mode = lambda: "auto"
    check = doctor.check_jack(probes)
    assert check.status == "OK" and "start their own" in check.detail


def test_bad_rig_jack_value_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIG_JACK", "sometimes")
    probes = _everything_installed(tmp_path)
    probes.run = lambda argv: (1, "not running") if argv[0] == "jack_lsp" else (0, "ok")
    probes.jack_mode = doctor.Probes().jack_mode
    check = doctor.check_jack(probes)
    assert check.status == MISSING and "'sometimes'" in check.detail and "auto" in check.fix


def test_no_board_means_nothing_to_check(tmp_path: Path) -> None:
    probes = _nothing_installed(tmp_path)
    probes.board_nodes = lambda: []
    assert doctor.check_usb_permissions(probes).status == "N/A"


def test_cli_output_is_one_line_per_check_and_exit_code_follows(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["doctor"])
    lines = capsys.readouterr().out.strip().splitlines()
    checks, summary = lines[:-1], lines[-1]
    assert len(checks) == len(doctor.CHECKS)
    assert all(LINE.match(line) for line in checks), lines
    missing = sum(line.startswith("MISSING") for line in checks)
    assert code == (1 if missing else 0)
    assert summary == (f"{missing} missing" if missing else "everything the rig needs is here")


def test_missing_alsa_is_not_a_failure_when_jack_covers_os_midi(tmp_path: Path) -> None:
    """One MIDI system is enough: no ALSA sequencer with JACK OK says so and is not MISSING (exit 0)."""
    probes = _everything_installed(tmp_path)
    probes.exists = lambda p: p != Path("/dev/snd/seq")
    checks = {ch.name: ch for ch in run_checks(probes)}
    assert checks["JACK server"].status == OK
    alsa = checks["ALSA sequencer"]
    assert alsa.status != MISSING and "JACK" in alsa.detail, format_line(alsa)
    probes.which = lambda name: None if name == "jackd" else f"/usr/bin/{name}"
    checks = {ch.name: ch for ch in run_checks(probes)}
    assert checks["ALSA sequencer"].status == MISSING and checks["JACK server"].status == MISSING

"""`rig test` / `rig run` pick the suites that apply to the target and say, per suite, why the others
do not: `usb` for any device, `usbmidi` for a USB-MIDI class device, `midi` for one that echoes,
`board` for ours only."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.cli._suite import SUITE_DIR, SUITES, TESTS, pick_suites, suite_args
from rig.pytest_plugin.run_report import RunRecord
from rig.targets.registry import Feature, Target, TargetSpec

from .test_main import WHOLE_SUITES_TIMEOUT_S, rig


class Fake(Target):
    """A target with exactly the given features (nothing to open)."""

    def __init__(self, name: str, *features: Feature) -> None:
        super().__init__(TargetSpec.parse(name))
        self.features = frozenset(features)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass


def names(paths: tuple[Path, ...]) -> list[str]:
    return [str(p.relative_to(TESTS)) for p in paths]


def test_our_board_gets_every_suite_and_the_os_midi_tests_inside_its_own() -> None:
    board = Fake("loopback", *Feature)
    picked = pick_suites([board])
    assert names(picked.paths) == ["conformance_usb", "conformance_usbmidi", "conformance_midi",
                                   "conformance"]
    assert all(line.endswith(" runs") for line in picked.lines)


def test_a_foreign_device_gets_what_its_descriptors_allow_and_the_reasons_for_the_rest() -> None:
    plain = Fake("usb:cafe:4001", Feature.USB)
    picked = pick_suites([plain])
    assert names(picked.paths) == ["conformance_usb"]
    skipped = [line for line in picked.lines if "not applicable" in line]
    assert len(skipped) == 4 and all("has no" in line for line in skipped)


def test_a_midi_cable_target_gets_the_os_midi_tests_only() -> None:
    cable = Fake("midi:a,b", Feature.MIDI_OS, Feature.REAL_TIMING)
    assert pick_suites([cable]).paths == (SUITE_DIR / "test_midi_os.py",)


def test_several_targets_run_the_union() -> None:
    picked = pick_suites([Fake("usb:cafe:4001", Feature.USB, Feature.USB_MIDI),
                          Fake("midi:a,b", Feature.MIDI_OS)])
    assert names(picked.paths) == ["conformance_usb", "conformance_usbmidi", "conformance/test_midi_os.py"]


def test_suite_args_cut_conftest_search_at_the_first_suite() -> None:
    args = suite_args(None, [SUITES[0].path, SUITE_DIR / "test_midi_os.py"])
    assert args[-2:] == ["--confcutdir", str(SUITES[0].path)]
    assert suite_args(None, [SUITE_DIR / "test_midi_os.py"])[-1] == str(SUITE_DIR)


def test_rig_test_lists_what_does_not_apply_and_runs_the_rest() -> None:
    done = rig("test", "--rig", "usb:cafe:4001,bus=loopback", "-q", "-k",
               "device_descriptor_is_well_formed or midi_descriptors_conform")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "suite usbmidi (USB-MIDI 1.0 class) runs" in done.stdout
    assert "suite midi (MIDI 1.0 behaviour over raw USB-MIDI) not applicable: the device is not declared " \
           "as echoing" in done.stdout.replace("\n", " ")
    assert "suite board (our board's contract, docs/protocol.md) not applicable: not our board" in done.stdout
    assert " passed" in done.stdout and "skipped" not in done.stdout


@pytest.mark.parametrize("spec", ["usb:cafe:4001,bus=loopback,echo"])
def test_rig_run_writes_the_suites_into_the_report(tmp_path: Path, spec: str) -> None:
    report = tmp_path / "r"
    done = rig("run", "--rig", spec, "--report-dir", str(report), "--no-latency", cwd=tmp_path,
               timeout_s=WHOLE_SUITES_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    record = RunRecord.load(report)
    assert any("suite board" in line and "not applicable" in line for line in record.extra["suites"])
    assert "## Suites" in (report / "report.md").read_text()
    assert record.ok and not record.totals().get("skipped")

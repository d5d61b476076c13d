"""The rig command in-process and as a subprocess, against the loopback target."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rig.cli import main
from rig.pytest_plugin.run_report import RunRecord

TIMEOUT_S = 120
WHOLE_SUITES_TIMEOUT_S = 600
"""`rig run` on the loopback runs four suites (usb, usbmidi, midi, board): minutes on a loaded 2-core host."""


def rig(*args: str, cwd: Path | None = None,
        timeout_s: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """`rig ARGS` as a subprocess (python -m rig.cli, the same entry point as the console script)."""
    return subprocess.run([sys.executable, "-m", "rig.cli", *args], capture_output=True, text=True,
                          timeout=timeout_s, cwd=cwd, check=False)


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("list", "doctor", "test", "run", "console", "flash", "udev-rules"):
        assert command in out


def test_unknown_command_and_stray_arguments_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["udev-rules", "--bogus"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_unknown_target_is_a_one_line_error() -> None:
    done = rig("console", "--rig", "nonsense", "--command", "version")
    assert done.returncode == 1
    assert done.stderr.strip() == ("rig: error: unknown target 'nonsense'; expected one of loopback, "
                                   "emulator, board, midi, labgrid, usb")


def test_list_prints_three_sections(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "USB boards" in out and "MIDI ports" in out and "Serial ports" in out


def test_console_command_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "--rig", "loopback", "--command", "version"]) == 0
    assert capsys.readouterr().out.strip().startswith("firmware ")


def test_console_command_that_the_board_refuses_exits_non_zero(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "--rig", "loopback", "--command", "bogus"]) == 1
    assert "unknown command 'bogus'" in capsys.readouterr().out


def test_console_command_as_subprocess() -> None:
    done = rig("console", "--rig", "loopback", "--command", "stats")
    assert done.returncode == 0, done.stderr
    names = [line.split("=")[0] for line in done.stdout.strip().splitlines()]
    from rig import contract as c

    assert names == list(c.STATS.names)


def test_console_interactive_reads_stdin_until_exit() -> None:
    done = subprocess.run([sys.executable, "-m", "rig.cli", "console", "--rig", "loopback"],
                          input="time\nbogus\nexit\n", capture_output=True, text=True, timeout=TIMEOUT_S,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "connected to" in done.stdout and "unknown command 'bogus'" in done.stdout


def test_rig_test_runs_the_suite_and_writes_junit(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    selection = "test_info_matches_contract or test_get_time_is_monotonic"
    code = main(["test", "--rig", "loopback", "--junit", str(junit), "-k", selection, "-q",
                 "-p", "no:cacheprovider"])
    assert code == 0
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and int(suite.get("tests", "0")) == 2
    assert int(suite.get("failures", "1")) == 0 and int(suite.get("errors", "1")) == 0
    names = [case.get("name", "") for case in suite.iter("testcase")]
    assert sorted(names) == ["test_get_time_is_monotonic_and_advances[loopback]",
                             "test_info_matches_contract_and_descriptors[loopback]"]


SMALL_SUITE = '''
import pytest

pytestmark = pytest.mark.needs("usb")


def test_info(board):
    assert board.info().contract_version == 1


def test_broken(board):
    assert board.time_us() < 0, "device time is never negative"


@pytest.mark.needs("real-timing")
def test_timing(board):
    pass
'''


def test_run_is_the_main_job_and_fails_when_a_test_fails(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_small.py").write_text(SMALL_SUITE)
    report = tmp_path / "report"
    # A few latency samples per path prove the latency step runs and reports; tests/measure measures.
    done = rig("run", "--rig", "loopback", "--report-dir", str(report), "--suite", str(suite),
               "--latency-count", "5", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED" in done.stdout and "test_broken" in done.stdout
    assert "device time is never negative" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    record = RunRecord.load(report)
    assert {t.nodeid.split("::")[-1]: t.outcome for t in record.tests} == {
        "test_info[loopback]": "passed", "test_broken[loopback]": "failed",
        "test_timing[loopback]": "skipped"}
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED ")]
    assert len(skipped) == 1 and "test_timing[loopback]: target loopback lacks real-timing" in skipped[0]
    text = (report / "report.md").read_text()
    assert "**Verdict: FAIL" in text and "firmware" in text and "0.1.0" in text
    assert "## Device counters" in text
    assert (report / "junit.xml").exists()


def test_run_on_the_whole_conformance_suite_passes(tmp_path: Path) -> None:
    report = tmp_path / "r"
    # The latency step's verdict depends on the machine's load (JACK drops messages on a starved
    # host); tests/measure/test_verdict.py covers that step deterministically.
    done = rig("run", "--rig", "loopback", "--report-dir", str(report), "--no-latency", cwd=tmp_path,
               timeout_s=WHOLE_SUITES_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED" in done.stdout and str(report / "report.md") in done.stdout
    record = RunRecord.load(report)
    assert record.ok and len(record.tests) > 50
    assert record.targets["loopback"]["firmware"] == "0.1.0"


def test_run_default_report_dir_is_a_utc_timestamp(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_one.py").write_text("def test_one(board):\n    board.info()\n")
    done = rig("run", "--rig", "loopback", "--suite", str(suite), "--no-latency", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    dirs = list((tmp_path / "reports").iterdir())
    assert len(dirs) == 1 and dirs[0].name.endswith("Z") and (dirs[0] / "report.md").exists()


def test_run_with_a_target_that_cannot_open_reports_the_cause_once(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_small.py").write_text(SMALL_SUITE + "\n\ndef test_third(board):\n    pass\n")
    done = rig("run", "--rig", "loopback:XYZ", "--report-dir", str(tmp_path / "r"), "--suite", str(suite))
    assert done.returncode == 1
    lines = [line for line in done.stdout.splitlines() if line.startswith("ERROR ")]
    assert len(lines) == 1, done.stdout
    assert lines[0].startswith("ERROR 4 tests (") and "target loopback:XYZ: could not open:" in lines[0]


def test_run_and_test_refuse_an_unknown_target_in_one_line() -> None:
    for command in ("run", "test"):
        done = rig(command, "--rig", "nonsense")
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [
            "rig: error: unknown target 'nonsense'; expected one of loopback, emulator, board, midi, "
            "labgrid, usb"]


def test_a_midi_target_whose_ports_do_not_exist_is_one_line(tmp_path: Path) -> None:
    """`rig test` and `rig latency` on midi:nonexistent,nope: one line naming the port and listing the
    ports there are (no plugin tracebacks, no JACK or ALSA library noise first)."""
    for command in (["test"], ["latency", "--no-history", "--no-progress"]):
        done = rig(*command, "--rig", "midi:nonexistent,nope", cwd=tmp_path)
        assert done.returncode != 0
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        wanted = "MIDI output port 'nonexistent' matches no port (available:"
        cause = [line for line in lines if wanted in line]
        assert len(cause) == 1, lines
        noise = [line for line in done.stderr.splitlines() if line.strip() and line != cause[0]]
        assert not noise, done.stderr
        assert "Traceback" not in done.stdout + done.stderr

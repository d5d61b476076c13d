"""One verdict per run: computed once from every step, written at the top of every report, and the
exit status. A lost message is a FAIL on every target unless --loss-tolerance allows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.cli import main
from rig.measure import runner
from rig.measure.model import Run
from rig.pytest_plugin.run_report import REPORT_FILE, RunRecord, write_report

from .cli_runner import run_cli


def lose_the_last_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every latency run on the loopback loses its last measured message (as the emulator once did)."""
    real = runner.measure_path

    def lossy(*args: object, **kwargs: object) -> Run:
        run = real(*args, **kwargs)  # type: ignore[arg-type]
        sample = run.measured[-1]
        sample.lost, sample.received_ns = True, None
        run.arrival_order.remove(sample.seq)
        return run

    monkeypatch.setattr(runner, "measure_path", lossy)


def test_a_lost_message_fails_rig_latency_on_the_loopback_unless_tolerated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    lose_the_last_message(monkeypatch)
    common = ("latency", "--rig", "loopback", "--path", "midi-usb", "--count", "20", "--warmup", "2",
              "--no-history", "--no-progress", "--jack", "never", "--format", "md")
    assert run_cli(*common, "--report-dir", str(tmp_path / "strict")) == 1
    out = capsys.readouterr().out
    assert "verdict: FAIL" in out and "lost 1 of 20" in out
    [page] = (tmp_path / "strict").glob("*.md")
    head = page.read_text().splitlines()[:4]
    assert any("FAIL" in line and "lost 1 of 20" in line for line in head), head
    assert run_cli(*common, "--loss-tolerance", "1", "--report-dir", str(tmp_path / "tolerant")) == 0
    assert "verdict: PASS" in capsys.readouterr().out


def test_rig_run_has_one_verdict_from_the_suite_and_every_latency_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The suite passes, a latency path loses one message: console, report.md and every latency page
    say FAIL at the top, and the exit status is 1; with --loss-tolerance 1 all say PASS and it is 0."""
    monkeypatch.setenv("RIG_JACK", "never")
    lose_the_last_message(monkeypatch)

    def suite_passes(argv: list[str], plugins: object) -> int:
        record = RunRecord()
        record.result("test_x.py::test_ok[loopback]", "loopback")
        write_report(record, Path(argv[argv.index("--rig-report") + 1]))
        return 0

    monkeypatch.setattr(pytest, "main", suite_passes)
    for tolerance, expected in (("0", "FAIL"), ("1", "PASS")):
        report = tmp_path / tolerance
        rc = main(["run", "--rig", "loopback", "--report-dir", str(report), "--suite", str(tmp_path),
                   "--latency-count", "20", "--loss-tolerance", tolerance])
        out = capsys.readouterr().out
        assert rc == (1 if expected == "FAIL" else 0), out
        assert "" not in out.splitlines(), out  # piped: no blank lines left by progress bars
        verdicts = [line for line in out.splitlines() if line.startswith(("PASSED", "FAILED"))]
        assert verdicts and all(line.startswith(expected) for line in verdicts), out
        text = (report / REPORT_FILE).read_text()
        assert any(line.startswith(f"**Verdict: {expected}") for line in text.splitlines()[:4]), text
        assert "## Latency" in text and "[latency-midi-usb](latency/latency-midi-usb.md)" in text
        # the figures come first, right under the verdict: one row per path, its loss and verdict
        top = text.split("## Summary")[0]
        assert "| path | p50 | p99 | max | lost | verdict |" in top, text
        row = next(line for line in top.splitlines() if line.startswith("| midi-usb |"))
        assert " us |" in row and ("| 1 of 20 | FAIL" if expected == "FAIL" else "| PASS") in row, row
        assert "Warning:** Target kind 'loopback' has no real timing" in top
        pages = sorted((report / "latency").glob("*.md"))
        assert pages
        for page in pages:
            assert any(f"Verdict: {expected}" in line for line in page.read_text().splitlines()[:4]), page


def test_piped_rig_latency_output_has_no_blank_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    """With the progress bar on (the default) and stdout not a terminal, nothing but text lines."""
    rc = run_cli("latency", "--rig", "loopback", "--path", "midi-usb", "--count", "20", "--warmup", "2",
                 "--no-history", "--jack", "never", "--format", "md", "--report-dir", str(tmp_path))
    out = capsys.readouterr().out
    assert rc == 0 and "verdict: PASS" in out
    assert "" not in out.splitlines(), out


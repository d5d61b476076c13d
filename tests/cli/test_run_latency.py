"""`rig run`'s latency step: its report links land in report.md and a faulted run fails the job."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.cli import run_cmd
from rig.measure import runner
from rig.measure.report import ReportFiles
from rig.pytest_plugin.run_report import REPORT_FILE


def _files(directory: Path, stem: str, ok: bool) -> ReportFiles:
    return ReportFiles(json=directory / f"{stem}.json", csv=directory / f"{stem}.csv", pngs={},
                       report=directory / f"{stem}.md", ok=ok)


@pytest.mark.parametrize("oks, expected", [((True, True), True), ((True, False), False)])
def test_latency_step_links_reports_and_reflects_faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       oks: tuple[bool, ...], expected: bool) -> None:
    (tmp_path / REPORT_FILE).write_text("# rig conformance report\n")
    calls: list[tuple[str | None, Path, int]] = []

    def fake(spec: str | None, directory: Path, *, count: int, console: object,
             capture: Path | None = None) -> list[ReportFiles]:
        calls.append((spec, directory, count))
        return [_files(directory, f"latency-{i}", ok) for i, ok in enumerate(oks)]

    monkeypatch.setattr(runner, "latency_report_for", fake)
    assert run_cmd._latency("loopback", tmp_path, 7) is expected
    assert calls == [("loopback", tmp_path / "latency", 7)]
    text = (tmp_path / REPORT_FILE).read_text()
    assert "## Latency" in text
    assert "[latency-0](latency/latency-0.md)" in text and "[latency-1](latency/latency-1.md)" in text

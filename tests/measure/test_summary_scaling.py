"""Run.summary() is linear in the sample count: how often it walks the samples does not grow with N
(it once recomputed the first measured seq for every arrival: 8k samples took 0.6 s). No timing."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.measure import report
from rig.measure.model import Run
from rig.measure.verdict import of_run

from .synthetic import latency_run


def walks_of_the_samples(monkeypatch: pytest.MonkeyPatch, run: Run) -> int:
    """How many times summary() builds the list of measured samples."""
    calls = {"n": 0}
    real = Run.measured

    def counting(self: Run) -> object:
        calls["n"] += 1
        return real.fget(self)  # type: ignore[attr-defined]

    with monkeypatch.context() as patch:
        patch.setattr(Run, "measured", property(counting))
        run.summary()
    return calls["n"]


def test_summary_walks_the_samples_a_fixed_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    small = walks_of_the_samples(monkeypatch, latency_run(1_000))
    large = walks_of_the_samples(monkeypatch, latency_run(50_000))
    assert small == large <= 5, (small, large)


def test_an_interrupted_50k_sample_run_is_reported_and_marked(tmp_path: Path) -> None:
    run = latency_run(50_000, stamps=False)
    run.interrupted = True
    files = report.write_all(run, tmp_path, fmt="md", stem="big", verdict=of_run(run))
    text = files.report.read_text()
    assert "INTERRUPTED" in text.splitlines()[2] and "interrupted" in text
    assert len(files.csv.read_text().splitlines()) == 50_006


def test_writing_the_reports_computes_the_summary_once(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """JSON and the Markdown/HTML page share one summary (each used to compute its own)."""
    run = latency_run(100)
    calls = {"n": 0}
    real = Run.summary

    def counting(self: Run) -> dict[str, object]:
        calls["n"] += 1
        return real(self)

    monkeypatch.setattr(Run, "summary", counting)
    for fmt in ("md", "html"):
        calls["n"] = 0
        report.write_all(run, tmp_path, fmt=fmt, stem=fmt)
        assert calls["n"] == 1, fmt

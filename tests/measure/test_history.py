"""SQLite history: store, list, reload samples, and the regression gate's thresholds."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.measure.history import History, HistoryError, RunNotFound, Thresholds, compare, default_path

from .synthetic import latency_run, throughput_run


def test_store_list_and_reload(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as h:
        run = latency_run(n=100, lost_every=25)
        run_id = h.store(run)
        assert run.run_id == run_id
        h.store(throughput_run())
        rows = h.runs()
        assert [r.kind for r in rows] == ["throughput", "latency"]
        assert rows[1].firmware == "0.1.0" and not rows[1].real_timing
        assert "p50" in rows[1].headline() and "bulk-out" in rows[0].headline()
        # in the units a person reads, not "800kB/s"
        assert rows[0].headline() == "bulk-out 1024 B 800 kB/s, bulk-in 1024 B 560 kB/s"
        assert rows[1].headline() == "p50 324.0 us, p99 349.0 us, n=96, lost 4"
        samples = h.samples(run_id)
        assert len(samples) == len(run.samples)
        assert [s.lost for s in samples] == [s.lost for s in run.samples]
        assert samples[7].received_ns == run.samples[7].received_ns
        assert h.latest(kind="latency").run_id == run_id
        with pytest.raises(RunNotFound, match="no run 999"):
            h.row(999)
        with pytest.raises(LookupError):
            h.latest(kind="latency", before=run_id)


def test_default_path_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RIG_HISTORY", str(tmp_path / "x.sqlite"))
    assert default_path() == tmp_path / "x.sqlite"
    monkeypatch.delenv("RIG_HISTORY")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_path() == tmp_path / "rig" / "history.sqlite"


def test_gate_passes_equal_runs_and_fails_a_slower_one(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as h:
        base = h.row(h.store(latency_run(base_us=300)))
        same = h.row(h.store(latency_run(base_us=300)))
        slow = h.row(h.store(latency_run(base_us=400)))
        lossy = h.row(h.store(latency_run(base_us=300, lost_every=10)))
    ok = compare(same, base, Thresholds())
    assert ok.passed and {c.name for c in ok.checks} == {"p50_ratio", "p99_ratio", "lost"}
    bad = compare(slow, base, Thresholds())
    assert not bad.passed
    failed = [c for c in bad.checks if not c.passed]
    assert failed[0].name == "p50_ratio" and "FAIL" in failed[0].line() and "limit <= 1.1" in failed[0].line()
    assert compare(slow, base, Thresholds(p50_ratio=1.5, p99_ratio=1.5)).passed
    assert not compare(lossy, base, Thresholds()).passed
    assert compare(lossy, base, Thresholds.parse("max_lost=off")).passed


def test_gate_on_throughput(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as h:
        base = h.row(h.store(throughput_run(800_000)))
        slow = h.row(h.store(throughput_run(600_000)))
    verdict = compare(slow, base, Thresholds())
    assert not verdict.passed and len(verdict.checks) == 2
    assert all(">=" in c.line() for c in verdict.checks)
    assert compare(base, base, Thresholds()).passed


def test_threshold_parsing_names_bad_input() -> None:
    t = Thresholds.parse("p50_ratio=1.05, p99_ratio=off")
    assert t.p50_ratio == 1.05 and t.p99_ratio is None
    with pytest.raises(HistoryError, match="bad threshold 'p42=1'"):
        Thresholds.parse("p42=1")
    with pytest.raises(ValueError, match="needs a number"):
        Thresholds.parse("max_lost=many")


def test_comparing_different_kinds_is_refused(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as h:
        a = h.row(h.store(latency_run()))
        b = h.row(h.store(throughput_run()))
    with pytest.raises(HistoryError, match="is throughput but baseline"):
        compare(b, a, Thresholds())


def test_comparing_different_paths_is_refused_naming_both(tmp_path: Path) -> None:
    """midi-os figures against frames figures would gate nothing meaningful: refused, not a note."""
    other = latency_run()
    other.path = "midi-os"
    with History(tmp_path / "h.sqlite") as h:
        frames = h.row(h.store(latency_run()))
        midi_os = h.row(h.store(other))
    with pytest.raises(HistoryError, match=r"run 2 is on path midi-os but baseline 1 is on path frames"):
        compare(midi_os, frames, Thresholds())

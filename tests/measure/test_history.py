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


def test_runs_of_another_history_are_imported_with_their_origin(tmp_path: Path) -> None:
    """What a remote command measured (its own history file, brought back) joins this history, marked
    with where it was taken, and the gate's `latest` baseline finds it."""
    with History(tmp_path / "remote.sqlite") as remote:
        first = latency_run(n=50)
        remote.store(first)
        remote.store(throughput_run())
    with History(tmp_path / "local.sqlite") as local:
        local_id = local.store(latency_run(n=20))
        ids = local.import_runs(tmp_path / "remote.sqlite", "labgrid:pico-1 on lab1")
        assert ids == [local_id + 1, local_id + 2]
        rows = {r.run_id: r for r in local.runs()}
        assert rows[local_id].origin is None
        assert [rows[i].origin for i in ids] == ["labgrid:pico-1 on lab1"] * 2
        assert [rows[i].kind for i in ids] == ["latency", "throughput"]
        assert [s.sent_ns for s in local.samples(ids[0])] == [s.sent_ns for s in first.samples]
        assert local.latest(kind="latency").run_id == ids[0]


def test_importing_a_file_that_is_not_a_history_changes_nothing(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not sqlite at all" * 100)
    with History(tmp_path / "local.sqlite") as local:
        with pytest.raises(HistoryError, match=r"junk\.sqlite: not a usable rig history"):
            local.import_runs(junk, "labgrid:p on h")
        with pytest.raises(HistoryError, match="no history file"):
            local.import_runs(tmp_path / "missing.sqlite", "labgrid:p on h")
        assert local.runs() == []


def test_a_history_from_before_origins_gains_the_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    with History(path) as h:
        h.store(latency_run(n=10))
    db = sqlite3.connect(path)  # as written before the origin column existed
    db.execute("ALTER TABLE runs DROP COLUMN origin")
    db.commit()
    db.close()
    with History(path) as h:
        assert [r.origin for r in h.runs()] == [None]

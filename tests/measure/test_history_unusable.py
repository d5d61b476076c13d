"""A corrupt or foreign history database ($RIG_HISTORY pointing at garbage) is named with its problem;
the measurement goes on, every report is written, and the exit status is non-zero."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rig.measure.history import History, HistoryError

from .cli_runner import run_cli
from .synthetic import latency_run


def garbage(path: Path) -> Path:
    path.write_bytes(b"this is not a database\n" * 200)
    return path


def foreign(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, colour TEXT)")
        db.execute("INSERT INTO runs (colour) VALUES ('blue')")
    db.close()
    return path


@pytest.mark.parametrize("make", [garbage, foreign])
def test_unusable_history_is_named_and_every_path_is_still_measured(
        make: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    bad = make(tmp_path / "history.sqlite")  # type: ignore[operator]
    monkeypatch.setenv("RIG_HISTORY", str(bad))
    rc = run_cli("latency", "--rig", "loopback", "--count", "10", "--warmup", "1", "--sync", "4",
                 "--report-dir", str(tmp_path / "r"), "--no-progress", "--jack", "never", "--format", "md")
    out = capsys.readouterr().out
    assert rc == 1
    assert str(bad) in out and "not a usable rig history database" in out
    pages = sorted(p.name for p in (tmp_path / "r").glob("*.md"))
    assert [name.split("-")[1] for name in pages] == ["frames", "midi"], pages  # both USB paths measured
    for page in (tmp_path / "r").glob("*.md"):
        assert "history" in page.read_text().splitlines()[2]


def test_garbage_json_in_a_history_row_is_a_history_error(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with History(path) as h:
        h.store(latency_run())
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET summary_json = '{not json'")
    db.close()
    with History(path) as h, pytest.raises(HistoryError, match=f"{path}: not a usable rig history database"):
        h.runs()

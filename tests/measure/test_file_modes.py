"""Files the rig writes do not take a permissive umask: reports and their directories are 0644/0755
at most, the history directory 0755 and the history database 0600 (it holds host facts)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.measure import report
from rig.measure.history import History
from rig.measure.verdict import of_run
from rig.pytest_plugin.run_report import RunRecord, write_report

from .synthetic import latency_run


@pytest.fixture
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_reports_are_at_most_0644_in_0755_directories(tmp_path: Path, umask_000: None) -> None:
    out = tmp_path / "a" / "b"
    run = latency_run(20)
    for fmt in ("md", "html"):
        report.write_all(run, out, fmt=fmt, stem=f"x-{fmt}", verdict=of_run(run))
    write_report(RunRecord(), out / "suite")
    for path in [tmp_path / "a", *out.rglob("*"), out]:
        limit = 0o755 if path.is_dir() else 0o644
        assert mode(path) & ~limit == 0, f"{path} is {oct(mode(path))}"


def test_history_directory_0755_and_database_0600(tmp_path: Path, umask_000: None) -> None:
    path = tmp_path / "share" / "rig" / "history.sqlite"
    with History(path) as h:
        h.store(latency_run(5))
    assert mode(path) == 0o600
    for directory in (tmp_path / "share", tmp_path / "share" / "rig"):
        assert mode(directory) & ~0o755 == 0, f"{directory} is {oct(mode(directory))}"

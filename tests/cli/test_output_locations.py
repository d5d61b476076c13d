"""Every output location is checked before any work starts: a report directory that cannot be
written is one line naming it, before a target is opened or a test is run."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.cli import main
from rig.measure import runner


def blocked(tmp_path: Path) -> Path:
    """A directory path that cannot be created: its parent is a regular file."""
    (tmp_path / "file").write_text("not a directory")
    return tmp_path / "file" / "reports"


def nothing_may_start(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started before the output locations were checked")

    monkeypatch.setattr(runner, "open_target", refuse)
    monkeypatch.setattr(pytest, "main", refuse)


@pytest.mark.parametrize("command", [["latency", "--path", "midi-usb"], ["throughput", "--direction", "out"],
                                     ["run"]])
def test_unwritable_report_dir_is_refused_before_any_work(
        command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    nothing_may_start(monkeypatch)
    where = blocked(tmp_path)
    assert main([*command, "--rig", "loopback", "--report-dir", str(where)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(where) in err[0] and "report" in err[0], err


def test_unwritable_history_dir_is_refused_before_any_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    nothing_may_start(monkeypatch)
    history = blocked(tmp_path) / "history.sqlite"
    assert main(["latency", "--rig", "loopback", "--report-dir", str(tmp_path / "r"),
                 "--history", str(history)]) == 1
    err = capsys.readouterr().err
    assert str(history.parent) in err and "history" in err

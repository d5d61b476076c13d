"""`rig latency`, `rig throughput` and `rig history` for real on --rig=loopback (pyusb through the
loopback backend), writing reports and history into tmp_path. No timing assertions."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig.cli import history_cmd, latency_cmd, measure_options, throughput_cmd
from rig.measure import runner
from rig.measure.history import History
from rig.os_midi.jack import jackd_installed
from rig.os_midi.system import os_midi_api
from rig.pytest_plugin.testing import require
from rig.targets.registry import Feature

from .cli_runner import run_cli


def require_midi_system() -> None:
    """A MIDI system, or jackd for the loopback to start one (CI installs jackd: a failure there)."""
    require(jackd_installed() or os_midi_api() is not None,
            "no MIDI system and no jackd (apt-get install jackd2)")


@pytest.fixture
def history(tmp_path: Path) -> str:
    return str(tmp_path / "history.sqlite")


def test_latency_frames_and_midi_usb_on_loopback(tmp_path: Path, history: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for path in ("frames", "midi-usb"):
        rc = run_cli("latency", "--rig", "loopback", "--path", path, "--count", "40", "--warmup", "3",
                     "--sync", "8", "--report-dir", str(tmp_path / path), "--history", history,
                     "--no-progress", "--jack", "never")
        assert rc == 0
        docs = list((tmp_path / path).glob("*.json"))
        assert len(docs) == 1
        doc = json.loads(docs[0].read_text())
        assert doc["meta"]["target_kind"] == "loopback" and doc["meta"]["real_timing"] is False
        assert doc["caveat"] and doc["summary"]["sequence"]["lost"] == 0
        assert doc["summary"]["rtt_us"]["count"] == 40 and len(doc["samples"]) == 43
        assert (doc["summary"]["clock"] is not None) == (path == "frames")
        assert list((tmp_path / path).glob("*.html"))
    out = capsys.readouterr().out
    assert "WARNING" in out and "stored as run 2" in out
    assert run_cli("history", "--history", history) == 0
    listing = capsys.readouterr().out
    assert "frames" in listing and "midi-usb" in listing


def test_sysex_latency_and_gate_against_latest(tmp_path: Path, history: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    common = ("latency", "--rig", "loopback", "--path", "midi-usb", "--message", "sysex",
              "--sysex-size", "100",
              "--count", "30", "--warmup", "2", "--report-dir", str(tmp_path), "--history", history,
              "--no-progress", "--jack", "never", "--format", "md")
    assert run_cli(*common) == 0
    # Generous thresholds: the gate runs and prints every check; the figures themselves are not asserted.
    assert run_cli(*common, "--baseline", "latest", "--thresholds", "p50_ratio=1000,p99_ratio=1000") == 0
    out = capsys.readouterr().out
    assert "PASS p50_ratio" in out and "PASS lost" in out and "gate: run 2 vs baseline 1: PASS" in out
    # An impossible threshold fails the gate with exit 1.
    assert run_cli("history", "--history", history, "--compare", "2", "1", "--thresholds", "p50_ratio=0") == 1
    assert "FAIL p50_ratio" in capsys.readouterr().out


def test_throughput_on_loopback(tmp_path: Path, history: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = run_cli("throughput", "--rig", "loopback", "--sizes", "64,1000", "--frames", "50", "--midi-events",
                 "200", "--midi-rate", "50000", "--report-dir", str(tmp_path), "--history", history,
                 "--no-progress", "--jack", "never")
    assert rc == 0
    doc = json.loads(next(tmp_path.glob("*.json")).read_text())
    directions = [(t["direction"], t["payload_len"]) for t in doc["summary"]["throughput"]]
    assert directions == [("bulk-out", 64), ("bulk-out", 1000), ("bulk-in", 64), ("bulk-in", 1000),
                          ("midi-out", 0), ("midi-in", 0), ("midi-mxf", 0)]
    for t in doc["summary"]["throughput"]:
        assert t["device_count"] == t["items"] and t["lost"] == 0, t
        assert t["ceiling_per_s"] > 0
    assert "ceiling" in capsys.readouterr().out


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        run_cli("latency", "--gap", "3:1")
    with pytest.raises(runner.MeasureError, match="--sizes"):
        run_cli("throughput", "--rig", "loopback", "--sizes", "big", "--no-history", "--jack", "never",
                "--report-dir", str(tmp_path))


def test_latency_midi_os_on_loopback_through_jack(tmp_path: Path, history: str) -> None:
    """The OS path for real: python-rtmidi ports on a dummy JACK server the loopback target starts."""
    require_midi_system()
    rc = run_cli("latency", "--rig", "loopback", "--path", "midi-os", "--count", "12", "--warmup", "2",
                 "--in-flight", "2", "--gap", "0.5:1", "--report-dir", str(tmp_path), "--history", history,
                 "--no-progress", "--jack", "auto")
    assert rc == 0
    doc = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert doc["meta"]["path"] == "midi-os"
    assert doc["summary"]["sequence"]["received"] == 12, (doc["summary"], doc["meta"]["notes"])
    assert doc["summary"]["sequence"]["lost"] == 0
    rc = run_cli("throughput", "--rig", "loopback", "--direction", "midi-os", "--midi-events", "40",
                 "--report-dir", str(tmp_path / "tp"), "--history", history, "--no-progress",
                 "--jack", "auto")
    assert rc == 0
    doc = json.loads(next((tmp_path / "tp").glob("*.json")).read_text())
    [result] = doc["summary"]["throughput"]
    assert result["direction"] == "midi-os" and result["items"] == 40 and result["lost"] == 0


def test_latency_report_for_a_spec(tmp_path: Path, history: str) -> None:
    files = runner.latency_report_for("loopback", tmp_path, count=10, jack="never", history=history)
    assert {f.report.name for f in files} >= {"latency-midi-usb.md", "latency-frames.md"}


def test_latency_report_for_rig_run(tmp_path: Path, history: str) -> None:
    from rich.console import Console

    from rig.targets.factory import make_target

    with make_target("loopback") as target:
        target.features = target.features - {Feature.MIDI_OS}  # no JACK needed for this one
        files = runner.latency_report(target, tmp_path, count=20, warmup=2, history=history,
                                   console=Console(record=True))
    assert [f.report.name for f in files] == ["latency-midi-usb.md", "latency-frames.md"]
    assert all(f.json.exists() and f.csv.exists() for f in files)
    # histogram and over time; the one-way split where device time stamps come back (frames)
    assert [sorted(f.pngs) for f in files] == [["latency_histogram", "latency_over_time"],
                                               ["latency_histogram", "latency_one_way", "latency_over_time"]]


def test_rig_run_latency_step_reports_progress_per_path(tmp_path: Path, history: str) -> None:
    """`rig run`'s latency step shows each path's progress as `rig latency` does (issue #17)."""
    from rich.console import Console

    from rig.targets.factory import make_target

    seen: dict[str, list[tuple[int, int]]] = {}

    @contextlib.contextmanager
    def progress(label: str) -> Iterator[Callable[[int, int], None]]:
        seen[label] = []
        yield lambda done, total: seen[label].append((done, total))

    with make_target("loopback") as target:
        target.features = target.features - {Feature.MIDI_OS}  # no JACK needed for this one
        runner.latency_report(target, tmp_path, count=20, warmup=2, history=history,
                              console=Console(record=True), progress=progress)
    assert list(seen) == ["latency midi-usb", "latency frames"]
    assert all(updates and updates[-1][0] == updates[-1][1] for updates in seen.values()), seen


def test_ctrl_c_keeps_and_reports_the_samples_so_far(tmp_path: Path, history: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """KeyboardInterrupt raised by the sample source after 15 sends: exit 130, files and history kept."""
    from rig.measure import latency

    real_send = latency.UsbMidiLink.send
    sends = {"n": 0}

    def send(self: latency.UsbMidiLink, payload: bytes) -> None:
        sends["n"] += 1
        if sends["n"] > 15:
            raise KeyboardInterrupt
        real_send(self, payload)

    monkeypatch.setattr(latency.UsbMidiLink, "send", send)
    rc = run_cli("latency", "--rig", "loopback", "--path", "midi-usb", "--count", "100", "--warmup", "5",
                 "--report-dir", str(tmp_path), "--history", history, "--no-progress", "--jack", "never")
    assert rc == 130
    doc = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert doc["meta"]["interrupted"] is True
    assert len(doc["samples"]) == 15 and doc["summary"]["rtt_us"]["count"] == 10
    with History(history) as h:
        assert h.runs()[0].interrupted


def test_hooks_into_the_rig_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """The measurement commands are part of the rig CLI; errors print one line."""
    import rig.cli

    assert {latency_cmd, throughput_cmd, history_cmd} <= set(rig.cli.COMMANDS)
    history = str(tmp_path / "h.sqlite")
    assert rig.cli.main(["history", "--history", history]) == 0
    assert "no runs stored yet" in capsys.readouterr().out
    assert rig.cli.main(["history", "--history", history, "--compare", "1", "2"]) == 1
    assert "rig: error: no run 1" in capsys.readouterr().err


def test_latency_and_throughput_on_a_midi_cable_target(tmp_path: Path, history: str) -> None:
    """`midi:OUT,IN` driven through its own code path: here the 'cable' is the loopback's OS ports on
    a dummy JACK server (so the figures are meaningless; the path is what is tested)."""
    from rig.targets.factory import make_target

    require_midi_system()
    with make_target("loopback") as loop:
        if Feature.MIDI_OS not in loop.features:
            pytest.fail(f"loopback has no OS MIDI ports under JACK: {getattr(loop, 'midi_problem', '')}")
        out_name, in_name = loop.midi_port_names()
        spec = f"midi:{out_name},{in_name}"
        common = ("--rig", spec, "--history", history, "--no-progress", "--jack", "never")
        assert run_cli("latency", "--count", "10", "--warmup", "1", "--report-dir", str(tmp_path / "l"),
                       *common) == 0
        assert run_cli("throughput", "--midi-events", "20", "--report-dir", str(tmp_path / "t"), *common) == 0
    lat = json.loads(next((tmp_path / "l").glob("*.json")).read_text())
    assert lat["meta"]["target_kind"] == "midi" and lat["meta"]["path"] == "midi-os"
    assert lat["summary"]["sequence"]["received"] == 10
    tput = json.loads(next((tmp_path / "t").glob("*.json")).read_text())
    [result] = tput["summary"]["throughput"]
    assert result["direction"] == "midi-os" and result["items"] == 20
    assert result["ceiling_per_s"] == pytest.approx(31250 / 10 / 3)


def test_board_target_paths_and_report(tmp_path: Path) -> None:
    """The board target's code path (libusb replaced by the loopback backend, as the board target's
    own tests do): frames and raw USB-MIDI, reported as REAL_TIMING because the kind is 'board'."""
    from rig.links.pyusb_backend import LinkBackend
    from rig.loopback import LoopbackBoard
    from rig.measure import report
    from rig.measure.latency import LatencySettings
    from rig.targets.board import BoardTarget
    from rig.targets.registry import TargetSpec

    board = LoopbackBoard()
    try:
        with BoardTarget(TargetSpec("board"), backend=LinkBackend([board])) as target:
            assert runner.available_paths(target)[-2:] == ["midi-usb", "frames"]
            frame_settings = LatencySettings(count=20, warmup=2, message="frame", size=256)
            frames = runner.measure_path(target, "frames", frame_settings, 16, None)
            usb = runner.measure_path(target, "midi-usb", LatencySettings(count=20, warmup=2), 16, None)
    finally:
        board.close()
    assert frames.real_timing and frames.target_kind == "board" and report.caveat(frames) is None
    assert frames.clock is not None and frames.summary()["rtt_us"]["count"] == 20
    assert usb.summary()["sequence"]["received"] == 20
    assert frames.facts["firmware"] == "0.1.0"


def _close_board_after(monkeypatch: pytest.MonkeyPatch, resolved: int) -> None:
    """Unplug the loopback board (close it) once `resolved` samples are in, through the progress
    callback the CLI hands the runner."""
    opened: dict[str, object] = {}
    real_open = runner.open_target

    @contextlib.contextmanager
    def open_target(spec: str | None, jack: str | None = None) -> Iterator[object]:
        with real_open(spec, jack) as target:
            opened["target"] = target
            yield target

    @contextlib.contextmanager
    def progress_bar(enabled: bool, label: str) -> Iterator[Callable[[int, int], None]]:
        def update(done: int, total: int) -> None:
            board = getattr(opened["target"], "board", None)
            if done >= resolved and board is not None:
                board.close()

        yield update

    monkeypatch.setattr(runner, "open_target", open_target)
    monkeypatch.setattr(measure_options, "progress_bar", progress_bar)


@pytest.mark.parametrize("path", ["midi-usb", "frames"])
def test_unplugged_board_mid_run_keeps_samples_and_reports_the_error(
        path: str, tmp_path: Path, history: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The loopback board is closed (unplugged) after 12 samples: exit 1, the 12 samples are in the
    JSON, CSV and history, the run is marked incomplete with an error naming board, transfer and fault."""
    _close_board_after(monkeypatch, 12)
    rc = run_cli("latency", "--rig", "loopback", "--path", path, "--count", "100", "--warmup", "2",
                 "--sync", "4", "--report-dir", str(tmp_path), "--history", history, "--jack", "never")
    assert rc == 1
    doc = json.loads(next(tmp_path.glob("*.json")).read_text())
    error = doc["meta"]["error"]
    assert doc["summary"]["incomplete"] and doc["summary"]["error"] == error
    assert "BoardGone" in error and "4C4F4F504241434B" in error and "failed sending message 12" in error
    assert len(doc["samples"]) == 12 and doc["summary"]["rtt_us"]["count"] == 10
    assert len(next(tmp_path.glob("*.csv")).read_text().splitlines()) == 13
    out = capsys.readouterr().out
    assert "ERROR:" in out and "run incomplete" in out
    with History(history) as h:
        [row] = h.runs()
        assert row.interrupted and row.summary["error"] == error
        assert len(h.samples(row.run_id)) == 12


def test_unplugged_board_mid_throughput_keeps_the_partial_result(
        tmp_path: Path, history: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _close_board_after(monkeypatch, 64)
    rc = run_cli("throughput", "--rig", "loopback", "--direction", "out", "--sizes", "64,512",
                 "--frames", "2000", "--report-dir", str(tmp_path), "--history", history, "--jack", "never")
    assert rc == 1
    doc = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert "BoardGone" in doc["meta"]["error"] and "bulk OUT of 64-byte frames" in doc["meta"]["error"]
    [partial] = doc["summary"]["throughput"]
    assert 0 < partial["items"] < 2000 and partial["device_count"] is None
    with History(history) as h:
        assert h.runs()[0].summary["error"] == doc["meta"]["error"]


def test_throughput_stopped_early_never_passes_its_functional_check(
        tmp_path: Path, history: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A throughput run without timing figures that stopped early is INCOMPLETE, not PASS as well."""
    monkeypatch.setattr(runner, "emulated_timing", lambda target, facts: runner.EMULATED_TIMING)
    _close_board_after(monkeypatch, 64)
    rc = run_cli("throughput", "--rig", "loopback", "--direction", "out", "--sizes", "64",
                 "--frames", "2000", "--report-dir", str(tmp_path), "--history", history, "--jack", "never")
    out = capsys.readouterr().out
    assert rc == 1
    assert "INCOMPLETE" in out
    assert not [line for line in out.splitlines() if "PASS" in line], out

"""The emulator gives no timing figures: `rig latency` and `rig throughput` on a target whose timing
is emulated run as a functional check (messages counted, exit status from losses) and report and
store no latency or throughput statistics, saying why. The loopback still reports its figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from rig.links.emulator import bridge_installed, node_executable
from rig.measure import runner
from rig.measure.history import History, HistoryError, Thresholds, compare
from rig.measure.latency import LatencySettings
from rig.measure.verdict import of_run
from rig.pytest_plugin.testing import missing
from rig.targets.registry import TargetSpec

from .cli_runner import run_cli

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "firmware" / "build" / "rig_firmware.bin"


def need_emulator() -> None:
    """Node, the bridge's rp2040js and a built firmware image (fail under CI, skip elsewhere)."""
    if node_executable() is None or not bridge_installed():
        missing("the emulator bridge needs Node.js and `npm ci` in firmware/emulator")
    if not IMAGE.exists():
        missing(f"no firmware image at {IMAGE}: run `make firmware`")


def test_emulator_latency_is_a_functional_check_without_timing(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    need_emulator()
    history = str(tmp_path / "h.sqlite")
    for path in ("midi-usb", "frames"):  # the USB paths: no MIDI system needed
        rc = run_cli("latency", "--rig", f"emulator:{IMAGE}", "--path", path, "--count", "20",
                     "--warmup", "2", "--sync", "8", "--report-dir", str(tmp_path), "--history", history,
                     "--no-progress", "--jack", "never")
        assert rc == 0
    out = capsys.readouterr().out
    assert "NOT MEANINGFUL" not in out and "verdict (functional check, no timing figures): PASS" in out
    assert "round trip (us)" in out and "not reported" in out and "p50" not in out
    assert out.count("emulated time") == 2  # the caveat once per command (two commands), not per row
    docs = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*.json"))]
    assert {d["meta"]["path"] for d in docs} == {"midi-usb", "frames"}
    for doc in docs:
        summary = doc["summary"]
        assert summary["no_timing"] and "emulated time" in summary["no_timing"]
        assert summary["rtt_us"] is None and summary["one_way_us"] == {} and summary["clock"] is None
        assert summary["sequence"]["received"] == 22 - 2 and summary["sequence"]["lost"] == 0
        assert all(s["rtt_us"] is None and s["received_ns"] is None and s["device_rx_us"] is None
                   for s in doc["samples"])
        assert doc["caveat"].startswith("No timing figures")
    assert not list(tmp_path.glob("*.png"))
    with History(history) as h:
        rows = h.runs()
        assert all(r.headline().startswith("functional check (no timing)") for r in rows)
        assert all(s.received_ns is None for s in h.samples(rows[0].run_id))
        with pytest.raises(HistoryError, match="no timing figures"):
            compare(rows[0], rows[1], Thresholds())


def test_emulator_throughput_reports_counts_not_rates(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    need_emulator()
    rc = run_cli("throughput", "--rig", f"emulator:{IMAGE}", "--direction", "out", "--sizes", "64",
                 "--frames", "30", "--report-dir", str(tmp_path), "--no-history", "--no-progress")
    assert rc == 0
    out = capsys.readouterr().out
    assert "rate not reported" in out and "verdict (functional check, no timing figures): PASS" in out
    assert out.count("emulated time") == 1  # the caveat once, at the top, not in every row
    doc = json.loads(next(tmp_path.glob("*.json")).read_text())
    [result] = doc["summary"]["throughput"]
    assert result["items"] == 30 and result["rate_per_s"] is None and result["series"] == []
    assert len(next(tmp_path.glob("*.csv")).read_text().splitlines()) == 1  # header only


def test_emulated_timing_is_decided_by_kind_transport_or_flag() -> None:
    class Fake:
        spec = TargetSpec("loopback")

    fake = Fake()
    assert runner.emulated_timing(fake, {"transport": "loopback (in-process)"}) is None  # type: ignore[arg-type]
    assert runner.emulated_timing(fake, {"transport": "rp2040js emulator (Node bridge)"})  # type: ignore[arg-type]
    fake.spec = TargetSpec("emulator")
    assert runner.emulated_timing(fake, {}) == runner.EMULATED_TIMING  # type: ignore[arg-type]


def test_functional_check_fails_on_loss_and_the_loopback_keeps_its_figures() -> None:
    """A lost message on a no-timing run fails the check (the exit status); the loopback run of
    the same path keeps its statistics, labelled as the rig's floor."""
    from rig.targets.factory import make_target

    with make_target("loopback") as target:
        run = runner.measure_path(target, "midi-usb", LatencySettings(count=10, warmup=0), 4, None)
    assert run.no_timing is None and run.summary()["rtt_us"]["count"] == 10
    run.no_timing = runner.EMULATED_TIMING
    console = Console(record=True)
    assert of_run(run).passed
    run.samples[3].lost, run.samples[3].received_ns = True, None
    run.arrival_order.remove(3)
    verdict = of_run(run)
    assert not verdict.passed
    runner.print_verdict(console, verdict, run)
    assert "functional check, no timing figures): FAIL: lost 1" in console.export_text()

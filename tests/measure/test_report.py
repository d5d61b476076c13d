"""Report files exist and parse: JSON schema, CSV row count, valid PNGs, HTML with the figures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from rich.console import Console

from rig.measure import report

from .synthetic import latency_run, throughput_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_latency_report_files(tmp_path: Path) -> None:
    run = latency_run(n=300, lost_every=50)
    files = report.write_all(run, tmp_path, fmt="html", stem="r")
    doc = json.loads(files.json.read_text())
    assert doc["schema"] == report.SCHEMA
    assert set(doc) == {"schema", "meta", "caveat", "summary", "samples"}
    assert len(doc["samples"]) == len(run.samples) == 305
    assert doc["summary"]["rtt_us"]["count"] == 300 - 6
    assert doc["summary"]["sequence"]["lost"] == 6
    assert doc["meta"]["target_kind"] == "loopback" and "not a device" in doc["caveat"]
    assert set(doc["summary"]["one_way_us"]) == {"host_to_device", "device_internal", "device_to_host"}
    with files.csv.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(run.samples)
    assert tuple(rows[0]) == report.CSV_COLUMNS
    assert sum(int(r["lost"]) for r in rows) == 6
    assert set(files.pngs) == {"latency_histogram", "latency_over_time", "latency_one_way"}
    for p in files.pngs.values():
        assert p.read_bytes().startswith(PNG_MAGIC)
    page = files.report.read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "Warning" in page and "firmware" in page and "hostname" in page and "setting count" in page


def test_throughput_report_markdown(tmp_path: Path) -> None:
    run = throughput_run()
    files = report.write_all(run, tmp_path, fmt="md", stem="t")
    with files.csv.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(len(t.series) for t in run.throughput)
    text = files.report.read_text()
    assert "![throughput_over_time](t-throughput_over_time.png)" in text
    assert "ceiling" in text and "19 x 64 B per 1 ms frame" in text
    assert files.pngs["throughput_over_time"].read_bytes().startswith(PNG_MAGIC)


def test_real_timing_runs_carry_no_caveat_and_console_summary_prints(tmp_path: Path) -> None:
    run = latency_run(n=20, real_timing=True, stamps=False)
    assert report.caveat(run) is None
    console = Console(record=True, width=200)
    report.print_summary(run, console)
    text = console.export_text()
    assert "round trip" in text and "WARNING" not in text
    console = Console(record=True, width=200)
    report.print_summary(latency_run(n=20), console)
    assert "WARNING" in console.export_text()


def test_one_way_figures_are_flagged_when_the_clock_bound_is_too_wide() -> None:
    from rig.measure.clocksync import Exchange, fit

    run = latency_run(n=50)
    assert run.summary()["one_way_meaningful"] is True
    run.clock = fit([Exchange(0, 0, 10_000_000), Exchange(10**8, 10**5, 10**8 + 10_000_000)])
    assert run.summary()["one_way_meaningful"] is False
    assert any("NOT MEANINGFUL" in v for _, v in report.figure_rows(run))


def test_without_a_clock_fit_only_the_device_internal_time_is_reported() -> None:
    run = latency_run(n=30)
    run.clock = None
    run.notes.append("no one-way figures: test")
    s = run.summary()
    assert set(s["one_way_us"]) == {"device_internal"}
    assert s["one_way_us"]["device_internal"]["p50"] == 7.0
    assert ("note", "no one-way figures: test") in report.figure_rows(run)


def test_the_caveat_is_printed_once_per_console_however_many_runs() -> None:
    console = Console(record=True, width=200)
    for path in ("midi-usb", "frames", "midi-os"):
        run = latency_run(n=20)
        run.path = path
        report.print_summary(run, console)
    text = console.export_text()
    assert text.count("WARNING") == 1 and text.index("WARNING") < text.index("midi-usb")
    other = Console(record=True, width=200)
    report.print_summary(latency_run(n=20), other)
    assert "WARNING" in other.export_text()  # a new command's console says it again



def test_html_and_markdown_pages_read_top_down_with_every_plot_rendered(tmp_path: Path) -> None:
    """As a person reads a page: title, verdict, the caveat once, the figures, then every plot (each
    a real image of a readable size), then target and host; the same order in Markdown."""
    import base64
    import io
    import re

    import matplotlib.image

    from rig.measure.verdict import Verdict

    run = latency_run(n=300, lost_every=50)
    page = report.write_all(run, tmp_path / "h", fmt="html", stem="r", verdict=Verdict("FAIL", ("lost 6",)))
    html = page.report.read_text()
    order = [html.index(mark) for mark in ("<h1>", "Verdict: FAIL", "Warning:", "<h2>Figures",
                                           "<h2>Plots", "<h2>Target, host and settings")]
    assert order == sorted(order)
    assert html.count("no real timing") == 1  # the caveat once, not in every row
    images = re.findall(r"<img alt='(\w+)' src='data:image/png;base64,([^']+)'>", html)
    assert [name for name, _ in images] == ["latency_histogram", "latency_over_time", "latency_one_way"]
    for _, data in images:
        pixels = matplotlib.image.imread(io.BytesIO(base64.b64decode(data)))
        assert pixels.shape[0] >= 300 and pixels.shape[1] >= 700
    md = report.write_all(run, tmp_path / "m", fmt="md", stem="r", verdict=Verdict("PASS")).report.read_text()
    order = [md.index(mark) for mark in ("# rig latency", "**Verdict: PASS", "> **Warning:**", "## Figures",
                                         "## Plots", "![latency_one_way](r-latency_one_way.png)",
                                         "## Target, host and settings")]
    assert order == sorted(order)
    assert md.count("no real timing") == 1

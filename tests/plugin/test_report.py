"""rig.pytest_plugin.run_report: the run record round-trips through record.json and report.md grows by
sections."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.pytest_plugin import run_report as report
from rig.pytest_plugin.run_report import (
    ReportError,
    RunRecord,
    TestResult,
    register_section,
    render_markdown,
    write_report,
)


@pytest.fixture
def sections() -> Iterator[None]:
    saved = list(report._sections)
    yield
    report._sections[:] = saved


def _record() -> RunRecord:
    record = RunRecord(finished_utc="2026-01-01T00:00:01Z")
    record.targets["loopback"] = {"firmware": "0.1.0", "serial": "ABC"}
    record.tests += [TestResult("t.py::test_a[loopback]", "loopback", "passed", 0.5),
                     TestResult("t.py::test_b[loopback]", "loopback", "failed", 0.1, "boom | pipe")]
    record.counters["t.py::test_a[loopback]"] = {"device": {"frames_rx": 3, "frames_tx": 0}, "host": {}}
    return record


def test_record_round_trips(tmp_path: Path) -> None:
    record = _record()
    record.save(tmp_path)
    again = RunRecord.load(tmp_path)
    assert again == record
    assert again.totals() == {"passed": 1, "failed": 1} and not again.ok


def test_markdown_has_every_part_and_escapes_cells(tmp_path: Path) -> None:
    path = write_report(_record(), tmp_path)
    text = path.read_text()
    for title in ("# rig conformance report", "## Summary", "## Targets", "## Host and settings",
                  "## Results", "## Device counters"):
        assert title in text
    assert "**Verdict: FAIL: 1 failed, 1 passed**" in text and "suite: 1 failed, 1 passed." in text
    assert "boom \\| pipe" in text
    assert "`t.py::test_a[loopback]`: frames_rx=3" in text


def test_a_new_section_plugs_in_without_editing_the_module(sections: None) -> None:
    register_section("throughput",
                     lambda r: "## Throughput\n\nmedian " + str(r.extra.get("throughput", {}).get("p50")))
    record = _record()
    record.extra["throughput"] = {"p50": 123}
    text = render_markdown(record)
    assert text.index("## Device counters") < text.index("## Throughput") and "median 123" in text
    register_section("throughput", lambda r: None)  # replaced by name; None leaves it out
    assert "## Throughput" not in render_markdown(record)
    assert report.section_names().count("throughput") == 1


def test_missing_or_broken_record_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"record\.json: no run record"):
        RunRecord.load(tmp_path)
    (tmp_path / "record.json").write_text("{nope")
    with pytest.raises(ReportError, match=r"record\.json: not valid JSON"):
        RunRecord.load(tmp_path)


def test_empty_record_is_not_ok() -> None:
    assert not RunRecord().ok
    assert "no tests ran" in render_markdown(RunRecord())

"""Device strings (describe() facts, target names, error messages) are escaped in Markdown reports:
a serial or product string cannot add table cells, lines, links or HTML."""

from __future__ import annotations

from rig.measure import report
from rig.pytest_plugin.run_report import RunRecord, render_markdown

from .synthetic import latency_run

EVIL = "a|b *bold* _it_ `code` <script>x</script> [link](http://evil) ![i](x.png) #\nnext | line"


def check(text: str) -> None:
    assert "<script>" not in text and "[link](http" not in text and "![i](" not in text
    for line in text.splitlines():
        if line.startswith("|") and "a\\|b" in line:
            assert line.count("|") - line.count("\\|") == 3, line  # | what | value |: two cells
            return
    raise AssertionError(f"the escaped string is not in one table row:\n{text}")


def test_measure_markdown_escapes_device_strings() -> None:
    run = latency_run(5)
    run.facts["product"] = EVIL
    run.error = EVIL
    text = report.render_markdown(run, {})
    check(text)
    assert "next \\| line" in text


def test_run_report_escapes_device_strings() -> None:
    record = RunRecord()
    record.targets["loopback"] = {"product": EVIL}
    text = render_markdown(record)
    assert "<script>" not in text and "[link](http" not in text

"""Reports of a run: a console summary (rich), JSON and CSV with every sample, PNG plots, and one
self-contained HTML (PNGs embedded) or Markdown report with target, firmware, host and settings.

Every output says which kind of target the figures come from; figures from a target without
Feature.REAL_TIMING (loopback, emulator) are flagged as the rig's own floor, not device figures.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import os
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rig.measure.budget import CHUNK, Budget
from rig.measure.model import USB_FS_BULK_CEILING_BPS, Run, Sample
from rig.measure.verdict import Verdict
from rig.output import units
from rig.output.file_modes import create, make_dirs, write_bytes, write_text
from rig.output.markdown_text import escape

SCHEMA = "rig-measure/1"
"""The "schema" field of every JSON report; bumped when its layout changes."""

CSV_COLUMNS = ("seq", "sent_ns", "received_ns", "rtt_us", "device_rx_us", "device_tx_us", "lost", "warmup",
               "size")
THROUGHPUT_CSV_COLUMNS = ("direction", "payload_len", "t_s", "rate_per_s", "unit", "ceiling_per_s")


def caveat(run: Run) -> str | None:
    """The warning every output carries when the figures do not describe a real device."""
    if run.no_timing is not None:
        return f"No timing figures from target kind '{run.target_kind}': {run.no_timing}"
    if run.real_timing:
        return None
    return (f"Target kind '{run.target_kind}' has no real timing: these figures measure the rig and "
            f"the host (software loopback or emulator), not a device. Do not quote them as device figures.")


def sample_dict(s: Sample) -> dict[str, Any]:
    """One sample as the JSON report holds it."""
    return {"seq": s.seq, "sent_ns": s.sent_ns, "received_ns": s.received_ns, "rtt_us": s.rtt_us,
            "device_rx_us": s.device_rx_us, "device_tx_us": s.device_tx_us, "lost": s.lost,
            "warmup": s.warmup, "size": s.size}


NOT_REPORTED = "not reported (no timing figures: see the warning at the top)"
"""What a figure row says in place of a time or rate when the run gives no timing figures; the
reason itself (the caveat) is said once, at the top of the console output and of each page."""

_CAVEATS_SHOWN: weakref.WeakKeyDictionary[Console, set[str]] = weakref.WeakKeyDictionary()


def print_caveat(run: Run, console: Console) -> None:
    """The run's caveat as a WARNING line, once per console: a command that measures several paths
    or directions says it at the top, not before every one."""
    note = caveat(run)
    shown = _CAVEATS_SHOWN.setdefault(console, set())
    if note and note not in shown:
        shown.add(note)
        console.print(f"[bold yellow]WARNING:[/] {note}")


def to_json(run: Run, summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """Metadata, summary, every sample and every throughput series as one JSON-ready dict."""
    return {
        "schema": SCHEMA,
        "meta": run.meta(),
        "caveat": caveat(run),
        "summary": summary if summary is not None else run.summary(),
        "samples": [sample_dict(s) for s in run.stored_samples()],
    }


def _chunks(run: Run, budget: Budget | None, what: str) -> Iterator[list[Sample]]:
    """The run's samples as stored, CHUNK at a time, until a bounded budget is spent (then noted)."""
    samples = run.samples
    for start in range(0, len(samples), CHUNK):
        if budget is not None and budget.spent():
            budget.cut(f"{what} holds the first {start} of {len(samples)} samples")
            return
        yield [run.stored_sample(s) for s in samples[start:start + CHUNK]]


def write_json(run: Run, path: Path, summary: dict[str, Any] | None = None,
               budget: Budget | None = None) -> Path:
    """Write to_json(run) to path, compact (with an indent the json module falls back to its pure
    Python encoder, which took most of a minute for 200k samples). The samples go out a chunk at a
    time, so a bounded budget can stop them: "samples_cut" then says how many are missing."""
    head = {"schema": SCHEMA, "meta": run.meta(), "caveat": caveat(run),
            "summary": summary if summary is not None else run.summary()}
    compact = (",", ":")
    written = 0
    with os.fdopen(create(path), "w", encoding="utf-8") as f:
        f.write(json.dumps(head, separators=compact)[:-1] + ',"samples":[')
        for chunk in _chunks(run, budget, path.name):
            rows = json.dumps([sample_dict(s) for s in chunk], separators=compact)[1:-1]
            f.write(("," if written else "") + rows)
            written += len(chunk)
        f.write("]")
        if written < len(run.samples):
            cut = f"{len(run.samples) - written} of {len(run.samples)} samples left out after a Ctrl-C"
            f.write(f',"samples_cut":{json.dumps(cut)}')
        f.write("}")
    return path


def write_csv(run: Run, path: Path, budget: Budget | None = None) -> Path:
    """One row per sample (latency) or per series point (throughput), with a header row; after a
    Ctrl-C (bounded budget) the rows stop when the budget is spent, and the report says so."""
    with os.fdopen(create(path), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if run.kind == "latency":
            w.writerow(CSV_COLUMNS)
            for chunk in _chunks(run, budget, path.name):
                w.writerows([s.seq, s.sent_ns, s.received_ns if s.received_ns is not None else "",
                             f"{s.rtt_us:.3f}" if s.rtt_us is not None else "",
                             "" if s.device_rx_us is None else s.device_rx_us,
                             "" if s.device_tx_us is None else s.device_tx_us,
                             int(s.lost), int(s.warmup), s.size] for s in chunk)
        else:
            w.writerow(THROUGHPUT_CSV_COLUMNS)
            for t in run.throughput if run.no_timing is None else []:
                for x, y in t.series:
                    w.writerow([t.direction, t.payload_len, f"{x:.6f}", f"{y:.1f}", t.unit, t.ceiling_per_s])
    return path


# --- text blocks shared by console, HTML and Markdown ---------------------------------------------


def facts_rows(run: Run) -> list[tuple[str, str]]:
    """(label, value) lines: target, firmware, host, settings."""
    timing = "yes" if run.real_timing else "NO"
    rows = [("target", f"{run.target} (kind {run.target_kind}, real timing: {timing})"),
            ("path", run.path), ("started", run.started_at)]
    rows += [(f"target {k}", v) for k, v in run.facts.items() if k != "target"]
    rows += [(f"host {k}", v) for k, v in run.host.items()]
    rows += [(f"setting {k}", str(v)) for k, v in run.settings.items()]
    if run.error is not None:
        rows.append(("INCOMPLETE", f"stopped by an error: {run.error}; {run.abandoned} in flight abandoned"))
    elif run.interrupted:
        rows.append(("interrupted",
                     f"yes (Ctrl-C or SIGTERM): partial run, {run.abandoned} in flight abandoned"))
    return rows


def figure_rows(run: Run, summary: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """(label, value) lines of the figures."""
    s = summary if summary is not None else run.summary()
    rows: list[tuple[str, str]] = []
    if run.error is not None:
        rows.append(("INCOMPLETE", f"the run stopped early: {run.error}"))
    if run.kind == "latency":
        seq = s["sequence"]
        rtt = s["rtt_us"]
        if run.no_timing is not None:
            rows.append(("round trip (us)", NOT_REPORTED))
        elif rtt:
            rows.append(("round trip (us)", _dist(rtt)))
        else:
            rows.append(("round trip (us)", "no samples received"))
        for name, d in s["one_way_us"].items():
            bound = s["clock"]["error_bound_us"] if s["clock"] else 0.0
            rows.append((f"{name.replace('_', ' ')} (us, +/- {bound:.1f})"
                         if name != "device_internal" else "device internal (us)", _dist(d)))
        if s["one_way_us"] and s["clock"] and not s["one_way_meaningful"]:
            rows.append(("one-way figures", "NOT MEANINGFUL: the clock error bound is not well below "
                                            "half the median round trip (host and device clocks could "
                                            "not be related closely enough)"))
        if s["clock"]:
            c = s["clock"]
            rows.append(("clock fit", f"offset {c['offset_us']:.1f} us, drift {c['drift_ppm']:.2f} ppm, "
                                      f"error bound {c['error_bound_us']:.1f} us "
                                      f"({c['exchanges_used']}/{c['exchanges_total']} exchanges, "
                                      f"span {c['host_span_s']:.2f} s)"))
        rows.append(("messages", f"sent {seq['sent']}, received {seq['received']}, lost {seq['lost']}, "
                                 f"out of order {seq['out_of_order']}, duplicates {seq['duplicates']}, "
                                 f"late {s['late']}, unexpected {s['unexpected']}"))
    rows += [("note", n) for n in run.notes]
    for t in run.throughput:
        extra = f", device counted {t.device_count}" if t.device_count is not None else ""
        size = f" {t.payload_len} B frames" if t.unit == "bytes" else ""
        if run.no_timing is not None:
            rows.append((f"{t.direction}{size}",
                         f"moved {t.items} ({t.amount} {t.unit}){extra}, lost {t.lost}; rate not reported"
                         + "".join(f"; {n}" for n in t.notes)))
            continue
        rows.append((f"{t.direction}{size}",
                     f"{units.rate(t.rate_per_s, t.unit)} over {t.elapsed_s:.2f} s "
                     f"(ceiling {units.rate(t.ceiling_per_s, t.unit)}, {100 * t.fraction_of_ceiling:.1f}%; "
                     f"bus limit {USB_FS_BULK_CEILING_BPS:,} B/s = 19 x 64 B per 1 ms frame){extra}"
                     + (f", lost {t.lost}" if t.lost else "")
                     + ("; ABOVE the bus limit: this target does not model USB bus timing"
                        if t.fraction_of_ceiling > 1 else "")
                     + ("".join(f"; {n}" for n in t.notes))))
    return rows


HEADLINE_COLUMNS = ("path", "p50", "p99", "max", "lost", "verdict")


def headline(run: Run, verdict: Verdict | None = None, summary: dict[str, Any] | None = None
             ) -> dict[str, str]:
    """A latency run in one row (HEADLINE_COLUMNS): round-trip p50/p99/max, lost of sent, verdict;
    "not reported" for runs without timing figures."""
    s = summary if summary is not None else run.summary()
    seq, rtt = s["sequence"], s["rtt_us"]
    if run.no_timing is not None:
        times = ["not reported (no timing figures)"] + [""] * 2
    elif rtt:
        times = [units.duration(rtt["p50"]), units.duration(rtt["p99"]), units.duration(rtt["max"])]
    else:
        times = ["no samples received", "", ""]
    return dict(zip(HEADLINE_COLUMNS, [run.path, *times, f"{seq['lost']} of {seq['sent']}",
                                       verdict.line() if verdict is not None else ""], strict=True))


def _dist(d: dict[str, Any]) -> str:
    return (f"n={d['count']} min {d['min']:.1f} p50 {d['p50']:.1f} p90 {d['p90']:.1f} p99 {d['p99']:.1f} "
            f"p99.9 {d['p999']:.1f} max {d['max']:.1f} mean {d['mean']:.1f} sd {d['stdev']:.1f} "
            f"jitter peak {d['peak_jitter']:.1f} mean {d['mean_jitter']:.1f}")


def print_summary(run: Run, console: Console | None = None, summary: dict[str, Any] | None = None) -> None:
    """The console summary: caveat, facts and figures as a table (`summary`: run.summary(), when
    the caller has it already)."""
    console = console or Console()
    print_caveat(run, console)
    table = Table(title=f"rig {run.kind}: {run.path} on {run.target}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    for label, value in figure_rows(run, summary):
        table.add_row(label, value)
    console.print(table)


# --- the combined report ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFiles:
    """Where the outputs of one run went."""

    json: Path
    csv: Path
    pngs: dict[str, Path]
    report: Path
    verdict: Verdict | None = None
    """The run's own verdict (None: not judged)."""
    run: Run | None = None
    """The run the files describe (to rewrite the page with the whole run's verdict)."""

    @property
    def ok(self) -> bool:
        """False when the run's verdict is anything but PASS."""
        return self.verdict is None or self.verdict.passed


def write_all(run: Run, directory: Path, fmt: str = "html", stem: str | None = None,
              verdict: Verdict | None = None, summary: dict[str, Any] | None = None,
              budget: Budget | None = None) -> ReportFiles:
    """JSON, CSV, PNGs and the HTML (self-contained) or Markdown report into `directory`, the report
    headed by the run's verdict. With a bounded `budget` (after a Ctrl-C) the sample files stop
    when it is spent and no plots are drawn; the report's notes say what was left out."""
    if fmt not in ("html", "md"):
        raise ValueError(f"report format must be 'html' or 'md', got {fmt!r}")
    make_dirs(directory)
    stem = stem or f"{run.kind}-{run.path}-{run.started_at.replace(':', '').replace('+0000', 'Z')}"
    if summary is None:
        summary = run.summary()  # once for JSON and the page
    csv_path = write_csv(run, directory / f"{stem}.csv", budget)
    json_path = write_json(run, directory / f"{stem}.json", summary, budget)
    if budget is not None and budget.bounded:
        images: dict[str, bytes] = {}
        if run.no_timing is None:
            budget.cut("plots not drawn")
    else:
        from rig.measure import plots

        images = plots.all_plots(run)
    if budget is not None:
        run.notes.extend(budget.cuts)
    pngs: dict[str, Path] = {}
    for name, data in images.items():
        p = directory / f"{stem}-{name}.png"
        write_bytes(p, data)
        pngs[name] = p
    lines = [f"Verdict: {verdict.line()}"] if verdict is not None else []
    if fmt == "html":
        report = directory / f"{stem}.html"
        write_text(report, render_html(run, images, lines, summary))
    else:
        report = directory / f"{stem}.md"
        write_text(report, render_markdown(run, {k: v.name for k, v in pngs.items()}, lines, summary))
    return ReportFiles(json_path, csv_path, pngs, report, verdict, run)


def restamp(files: ReportFiles, overall: Verdict) -> None:
    """Rewrite the report page of one step of a longer run with the whole run's verdict on top and
    this step's below it, so no page says PASS when the run failed."""
    run = files.run
    if run is None:
        return
    lines = [f"Verdict: {overall.line()}"]
    if files.verdict is not None:
        lines.append(f"This step: {files.verdict.line()}")
    if files.report.suffix == ".html":
        images = {name: path.read_bytes() for name, path in files.pngs.items()}
        write_text(files.report, render_html(run, images, lines))
    else:
        write_text(files.report, render_markdown(run, {k: v.name for k, v in files.pngs.items()}, lines))


def render_html(run: Run, images: dict[str, bytes], verdict_lines: Sequence[str] = (),
                summary: dict[str, Any] | None = None) -> str:
    """One HTML page with the verdict, facts, figures and every plot embedded as a base64 PNG."""
    e = html.escape
    note = caveat(run)
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>rig {e(run.kind)} {e(run.path)} {e(run.target)}</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:auto}td{padding:2px 8px}"
             ".warn{background:#fff3cd;border:1px solid #c90;padding:8px}</style></head><body>",
             f"<h1>rig {e(run.kind)}: {e(run.path)} on {e(run.target)}</h1>"]
    parts += [f"<p class='verdict'><b>{e(line)}</b></p>" for line in verdict_lines]
    if note:
        parts.append(f"<p class='warn'><b>Warning:</b> {e(note)}</p>")
    parts.append("<h2>Figures</h2><table>")
    parts += [f"<tr><td><b>{e(k)}</b></td><td>{e(v)}</td></tr>" for k, v in figure_rows(run, summary)]
    parts.append("</table><h2>Plots</h2>")
    for name, data in images.items():
        b64 = base64.b64encode(data).decode("ascii")
        parts.append(f"<figure><img alt='{e(name)}' src='data:image/png;base64,{b64}'>"
                     f"<figcaption>{e(name.replace('_', ' '))}</figcaption></figure>")
    parts.append("<h2>Target, host and settings</h2><table>")
    parts += [f"<tr><td><b>{e(k)}</b></td><td>{e(v)}</td></tr>" for k, v in facts_rows(run)]
    parts.append("</table></body></html>")
    return "\n".join(parts)


def render_markdown(run: Run, image_files: dict[str, str], verdict_lines: Sequence[str] = (),
                    summary: dict[str, Any] | None = None) -> str:
    """The same report as Markdown, linking the PNG files written beside it; every string from the
    device or the run is escaped (rig.output.markdown_text)."""
    e = escape
    note = caveat(run)
    lines = [f"# rig {e(run.kind)}: {e(run.path)} on {e(run.target)}", ""]
    for line in verdict_lines:
        lines += [f"**{e(line)}**", ""]
    if note:
        lines += [f"> **Warning:** {e(note)}", ""]
    lines += ["## Figures", "", "| what | value |", "|---|---|"]
    lines += [f"| {e(k)} | {e(v)} |" for k, v in figure_rows(run, summary)]
    lines += ["", "## Plots", ""]
    lines += [f"![{name}]({file})" for name, file in image_files.items()]  # the rig's own names
    lines += ["", "## Target, host and settings", "", "| what | value |", "|---|---|"]
    lines += [f"| {e(k)} | {e(v)} |" for k, v in facts_rows(run)]
    return "\n".join(lines) + "\n"

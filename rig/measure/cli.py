"""`rig latency`, `rig throughput` and `rig history`: argparse sub-parsers and their handlers.

The CLI hooks them in with `register(sub)` (the same shape as the rig.cli command modules). Each
run prints a console summary, writes JSON, CSV, PNGs and an HTML or Markdown report, stores the
run in the history database and, with --baseline, applies the regression gate (exit 1 on FAIL).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rig import contract as c
from rig.errors import RigError
from rig.measure import clocksync, report
from rig.measure.history import History, RunNotFound, Thresholds, compare
from rig.measure.latency import (
    FrameLink,
    LatencySettings,
    Link,
    RtMidiLink,
    UsbMidiLink,
    describe_fault,
    run_latency,
)
from rig.measure.model import USB_MIDI_EVENT_CEILING_PER_S, Run, ThroughputResult
from rig.targets.registry import Feature, Target

PATHS = ("midi-os", "midi-usb", "frames")
"""Latency paths in the order `--path all` runs them (OS MIDI first, before raw MIDI claims the
interface from the OS driver)."""


class MeasureError(RigError, RuntimeError):
    """A measurement command cannot run as asked (the message says why)."""


def _console() -> Console:
    console = Console(file=sys.stdout, highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 140)  # logs and CI: do not squeeze tables to 80 columns
    return console


# --- argument parsing --------------------------------------------------------------------------


def _gap(text: str) -> tuple[float, float]:
    """"1.5" (ms, fixed) or "1:3" (ms, uniform random between) -> seconds."""
    try:
        lo, sep, hi = text.partition(":")
        a = float(lo) / 1000.0
        b = float(hi) / 1000.0 if sep else a
    except ValueError:
        raise argparse.ArgumentTypeError(f"gap {text!r}: expected MS or MIN:MAX in milliseconds") from None
    if not 0 <= a <= b:
        raise argparse.ArgumentTypeError(f"gap {text!r}: need 0 <= MIN <= MAX")
    return a, b


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rig", metavar="SPEC", default=None,
                   help="target (default: board if attached, else loopback)")
    p.add_argument("--report-dir", metavar="DIR", type=Path, default=None,
                   help="where to write JSON, CSV, PNGs and the report "
                        "(default: reports/measure-<UTC time>/)")
    p.add_argument("--format", choices=("html", "md"), default="html", help="combined report format")
    p.add_argument("--history", metavar="PATH", default=None,
                   help="SQLite history file (default: $RIG_HISTORY or ~/.local/share/rig/history.sqlite)")
    p.add_argument("--no-history", action="store_true", help="do not store this run")
    p.add_argument("--baseline", metavar="RUN", default=None,
                   help="compare against run id RUN, or 'latest' (the newest earlier run of the same "
                        "target, kind and path); exit 1 if a threshold fails")
    p.add_argument("--thresholds", metavar="LIST", default="",
                   help="e.g. p50_ratio=1.1,p99_ratio=1.25,max_lost=0,throughput_ratio=0.9 ('off' disables)")
    p.add_argument("--jack", choices=("auto", "never", "always"), default=None,
                   help="loopback only: start a private dummy JACK server for OS MIDI when there is no "
                        "MIDI system (auto), never, or always (default: $RIG_JACK, else auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `latency`, `throughput` and `history` to the rig CLI."""
    p = sub.add_parser("latency", help="round-trip and one-way latency on every path the target has",
                       description="Measure MIDI and frame round trips (and one-way times from the board's "
                                   "stamps). Ctrl-C stops and keeps the samples taken so far.")
    _common(p)
    p.add_argument("--path", choices=(*PATHS, "all"), default="all", help="which path (default: all the "
                                                                         "target has)")
    p.add_argument("--count", type=int, default=1000, help="measured samples per path")
    p.add_argument("--warmup", type=int, default=20, help="samples taken first and discarded")
    p.add_argument("--in-flight", type=int, default=1, help="1 = one message at a time; N = pipelined")
    p.add_argument("--gap", type=_gap, default=(0.0, 0.0), metavar="MS|MIN:MAX",
                   help="send-to-send interval in ms, fixed or uniformly random (seeded)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--message", choices=("short", "sysex"), default="short", help="MIDI message kind")
    p.add_argument("--sysex-size", type=int, default=32, help="SysEx bytes including F0 and F7")
    p.add_argument("--frame-size", type=int, default=64, help="frame payload bytes for the frames path")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds after which a message is lost")
    p.add_argument("--sync", type=int, default=64, help="clock exchanges before and after (frames path)")
    p.set_defaults(func=cmd_latency)

    p = sub.add_parser("throughput", help="bulk OUT and IN separately, and MIDI events/s, against the "
                                          "full-speed limit")
    _common(p)
    p.add_argument("--sizes", default="64,512,4096", help="frame payload sizes, comma-separated")
    p.add_argument("--frames", type=int, default=1000, help="frames per size and direction")
    p.add_argument("--midi-events", type=int, default=20000, help="MIDI events each way")
    p.add_argument("--midi-rate", type=int, default=100000, help="events/s the board's MIDI SOURCE makes")
    p.add_argument("--direction", choices=("all", "out", "in", "midi", "mxf", "midi-os"), default="all",
                   help="bulk OUT, bulk IN, raw MIDI events each way, MIDI events through the MXF graph, "
                        "or MIDI events through the OS ports (the only one for midi:OUT,IN; all = every "
                        "USB direction, or midi-os on a target without USB)")
    p.set_defaults(func=cmd_throughput)

    p = sub.add_parser("history", help="list stored measurement runs, or gate one against a baseline")
    p.add_argument("--history", metavar="PATH", default=None, help="SQLite history file")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--target", default=None, help="only runs of this target")
    p.add_argument("--kind", choices=("latency", "throughput"), default=None)
    p.add_argument("--compare", nargs=2, type=int, metavar=("RUN", "BASELINE"), default=None,
                   help="apply the regression gate to RUN against BASELINE; exit 1 on FAIL")
    p.add_argument("--thresholds", metavar="LIST", default="")
    p.set_defaults(func=cmd_history)


# --- opening things ----------------------------------------------------------------------------


@contextlib.contextmanager
def open_target(spec: str | None, jack: str | None = None) -> Iterator[Target]:
    """Open the target. A loopback target starts its own JACK dummy server for OS MIDI when there is
    no MIDI system, as `jack` (auto, never, always; None: $RIG_JACK, else auto) says."""
    from rig.targets.discovery import default_target
    from rig.targets.factory import make_target
    from rig.targets.registry import TargetSpec

    chosen = spec or default_target()
    parsed = TargetSpec.parse(chosen)
    if parsed.kind == "loopback":
        from rig.targets.loopback import LoopbackTarget

        target: Target = LoopbackTarget(parsed, jack=jack)
    else:
        target = make_target(chosen)
    with target:
        yield target


EMULATED_TIMING = ("the emulator runs the real firmware in rp2040js on emulated time (the device clock "
                   "advances at a small fraction of host time) behind a Node bridge, not a USB bus, so its "
                   "latency and throughput would describe the emulator, not an RP2040: this run is a "
                   "functional check only (messages sent, received, lost, out of order)")
"""Why a run on the emulator reports and stores no latency or throughput statistics."""


def emulated_timing(target: Target, facts: dict[str, str]) -> str | None:
    """EMULATED_TIMING when the target's timing is emulated (the emulator kind, a transport that
    describes itself as an emulator, or a target attribute `emulated_timing` that is True), else None.
    The loopback is not emulated timing: its figures are the rig's own floor."""
    if getattr(target, "emulated_timing", False) is True or target.spec.kind == "emulator":
        return EMULATED_TIMING
    if "emulator" in facts.get("transport", "").lower():
        return EMULATED_TIMING
    return None


def new_run(target: Target, kind: str, path: str) -> Run:
    """A Run stamped with the target's facts, whether its timing is real and, when it is emulated,
    why the run gives no timing figures."""
    try:
        facts = target.describe()
    except RigError as exc:
        facts = {"target": target.name, "describe_error": str(exc)}
    return Run(kind=kind, path=path, target=target.name, target_kind=target.spec.kind,
               real_timing=Feature.REAL_TIMING in target.features, facts=facts,
               no_timing=emulated_timing(target, facts))


def functional_check(run: Run, console: Console) -> bool:
    """For a run without timing figures, the verdict that sets the exit status: every message back,
    none lost, duplicated, unexpected or out of order (throughput: nothing lost). True otherwise."""
    if run.no_timing is None:
        return True
    problems: list[str] = []
    summary = run.summary()
    if run.kind == "latency":
        seq = summary["sequence"]
        for key in ("lost", "out_of_order", "duplicates"):
            if seq.get(key):
                problems.append(f"{key.replace('_', ' ')} {seq[key]}")
        if summary["unexpected"]:
            problems.append(f"unexpected {summary['unexpected']}")
        if seq["received"] < seq["sent"] and not run.interrupted:
            problems.append(f"received {seq['received']} of {seq['sent']}")
    for t in run.throughput:
        if t.lost:
            problems.append(f"{t.direction}: lost {t.lost}")
    verdict = "FAIL: " + ", ".join(problems) if problems else "PASS"
    console.print(f"functional check (no timing figures): {verdict}")
    return not problems


def available_paths(target: Target) -> list[str]:
    """The latency paths this target has."""
    paths = []
    if Feature.MIDI_OS in target.features:
        paths.append("midi-os")
    if Feature.USB in target.features:
        paths.append("midi-usb")
    if Feature.FRAMES in target.features and Feature.USB in target.features:
        paths.append("frames")
    return paths


@contextlib.contextmanager
def progress_bar(enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar, yielded as the (done, total) callback the runners take."""
    if not enabled:
        yield None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _report_dir(args: argparse.Namespace) -> Path:
    if args.report_dir is not None:
        return Path(args.report_dir)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("reports") / f"measure-{stamp}"


def finish(run: Run, args: argparse.Namespace, console: Console) -> bool:
    """Summary, files, history and the gate; returns False when the gate failed."""
    report.print_summary(run, console)
    files = report.write_all(run, _report_dir(args), fmt=args.format)
    console.print(f"report: {files.report}  (json {files.json.name}, csv {files.csv.name}, "
                  f"{len(files.pngs)} png)")
    if args.no_history:
        return True
    with History(args.history) as history:
        run_id = history.store(run)
        console.print(f"stored as run {run_id} in {history.path}")
        if args.baseline is None:
            return True
        row = history.row(run_id)
        if args.baseline == "latest":
            candidates = [r for r in history.runs(target=run.target, kind=run.kind)
                          if r.run_id < run_id and r.path == run.path]
            if not candidates:
                console.print("no earlier run to compare with; gate skipped")
                return True
            base = candidates[0]
        else:
            base = history.row(int(args.baseline))
        verdict = compare(row, base, Thresholds.parse(args.thresholds))
    for check in verdict.checks:
        console.print(check.line())
    for note in verdict.notes:
        console.print(f"note: {note}")
    console.print(f"gate: run {verdict.run_id} vs baseline {verdict.baseline_id}: "
                  f"{'PASS' if verdict.passed else 'FAIL'}")
    return verdict.passed


# --- rig latency ---------------------------------------------------------------------------------


def _board(target: Target) -> Any:
    from rig.client.board import Board

    return Board(target.usb_device())


def _os_midi_api(target: Target) -> int | None:
    """The rtmidi API of the target's OS ports: the loopback says which it opened; else the system's."""
    api = getattr(target, "midi_api", None)
    if callable(api):
        chosen = api()
        if isinstance(chosen, int):
            return chosen
    from rig.os_midi.system import os_midi_api

    return os_midi_api()


def measure_path(target: Target, path: str, settings: LatencySettings, sync: int,
                 progress: Callable[[int, int], None] | None) -> Run:
    """One latency run on one path of an open target (board set to ECHO first where it has one)."""
    run = new_run(target, "latency", path)
    board = _board(target) if Feature.USB in target.features else None
    link: Link
    closers: list[Callable[[], None]] = []
    try:
        if path == "midi-os":
            if board is not None:
                board.set_midi_mode(c.MidiMode.ECHO)
            out_name, in_name = target.midi_port_names()
            rt = RtMidiLink(out_name, in_name, api=_os_midi_api(target))
            closers.append(rt.close)
            waited = rt.wait_ready()
            if waited > 0.5:
                run.notes.append(f"the OS MIDI ports took {waited:.1f} s to pass a first message")
            link = rt
        elif path == "midi-usb":
            if board is None:
                raise MeasureError(f"target {target.name} has no USB device for the midi-usb path")
            board.set_midi_mode(c.MidiMode.ECHO)
            link = UsbMidiLink(board)
        elif path == "frames":
            if board is None:
                raise MeasureError(f"target {target.name} has no USB device for the frames path")
            board.set_frame_mode(c.FrameMode.ECHO)
            link = FrameLink(board)
        else:
            raise MeasureError(f"unknown latency path {path!r}; expected one of {', '.join(PATHS)}")
        exchanges: list[clocksync.Exchange] = []
        if board is not None and path == "frames" and run.no_timing is None:
            exchanges = clocksync.collect(board.time_us, sync)
        run_latency(link, settings, run, progress=progress)
        if board is not None and exchanges and run.error is None:
            with contextlib.suppress(KeyboardInterrupt):
                exchanges += clocksync.collect(board.time_us, sync)
            try:
                run.clock = clocksync.fit(exchanges, windows=8)
            except clocksync.ClockSyncError as exc:
                run.notes.append(f"no one-way figures: the device clock could not be related to the "
                                 f"host clock ({exc})")
        return run
    finally:
        _close_all([*closers, *([board.close] if board is not None else [])], quiet=run.error is not None)


def _close_all(closers: list[Callable[[], None]], quiet: bool) -> None:
    """Close everything; when the run already failed (a board gone), a close that fails too is
    expected and ignored, so the partial results still reach the reports."""
    for close in closers:
        if quiet:
            with contextlib.suppress(Exception):
                close()
        else:
            close()


def report_error(run: Run, console: Console) -> None:
    """Print the error that stopped a run early (the reports and the history carry it too)."""
    console.print(f"[bold red]ERROR:[/] run incomplete: {run.error}")


def cmd_latency(args: argparse.Namespace) -> int:
    """`rig latency`."""
    console = _console()
    message = "frame" if args.path == "frames" else args.message
    ok = True
    with open_target(args.rig, args.jack) as target:
        paths = available_paths(target) if args.path == "all" else [args.path]
        if not paths:
            raise MeasureError(f"target {target.name} has no latency path (needs midi-os, usb or frames)")
        for path in paths:
            kind = "frame" if path == "frames" else message
            size = args.frame_size if kind == "frame" else (args.sysex_size if kind == "sysex" else 0)
            settings = LatencySettings(count=args.count, warmup=args.warmup, in_flight=args.in_flight,
                                       gap_min_s=args.gap[0], gap_max_s=args.gap[1], seed=args.seed,
                                       message=kind, size=size, timeout_s=args.timeout)
            with progress_bar(not args.no_progress, f"latency {path}") as progress:
                run = measure_path(target, path, settings, args.sync, progress)
            ok = finish(run, args, console) and ok
            ok = functional_check(run, console) and ok
            if run.error is not None:
                report_error(run, console)
                console.print("kept the samples taken so far; remaining paths skipped")
                return 1
            if run.interrupted:
                console.print("interrupted: kept the samples taken so far; remaining paths skipped")
                return 130
    return 0 if ok else 1


# --- rig throughput --------------------------------------------------------------------------------


def cmd_throughput(args: argparse.Namespace) -> int:
    """`rig throughput`."""
    from rig.measure import throughput as tp

    console = _console()
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise MeasureError(f"--sizes {args.sizes!r}: expected comma-separated integers") from None
    with open_target(args.rig, args.jack) as target:
        usb = Feature.USB in target.features
        if not usb and not (Feature.MIDI_OS in target.features and args.direction in ("all", "midi-os")):
            raise MeasureError(f"target {target.name} has no USB device and no OS MIDI ports for "
                               f"--direction {args.direction}")
        run = new_run(target, "throughput", "usb" if usb else "midi-os")
        run.settings = {"sizes": sizes, "frames": args.frames, "midi_events": args.midi_events,
                        "midi_rate": args.midi_rate, "direction": args.direction}
        board = _board(target) if usb else None
        jobs: list[tuple[str, Callable[..., ThroughputResult], tuple[Any, ...]]] = []
        closers: list[Callable[[], None]] = []
        usb_directions = args.direction if board is not None else "none"
        if usb_directions in ("all", "out"):
            jobs += [(f"bulk OUT {n} B", tp.bulk_out, (board, n, args.frames)) for n in sizes]
        if usb_directions in ("all", "in"):
            jobs += [(f"bulk IN {n} B", tp.bulk_in, (board, n, args.frames)) for n in sizes]
        if usb_directions in ("all", "midi"):
            jobs += [("MIDI OUT", tp.midi_out, (board, args.midi_events)),
                     ("MIDI IN", tp.midi_in, (board, args.midi_events, args.midi_rate))]
        if usb_directions in ("all", "mxf"):
            jobs += [("MIDI through MXF", tp.midi_mxf, (board, args.midi_events))]
        try:
            if args.direction == "midi-os" or (args.direction == "all" and not usb):
                if board is not None:
                    board.set_midi_mode(c.MidiMode.ECHO)
                rt = RtMidiLink(*target.midi_port_names(), api=_os_midi_api(target))
                closers.append(rt.close)
                rt.wait_ready()
                ceiling = (tp.DIN_SHORT_MESSAGES_PER_S if target.spec.kind == "midi"
                           else USB_MIDI_EVENT_CEILING_PER_S)
                jobs.insert(0, ("MIDI through the OS", tp.midi_os, (rt, args.midi_events, ceiling)))
            for label, job, job_args in jobs:
                with progress_bar(not args.no_progress, label) as progress:
                    try:
                        run.throughput.append(job(*job_args, progress=progress))
                    except tp.Interrupted as stop:
                        run.throughput.append(stop.result)
                        run.interrupted = True
                        break
                    except tp.Failed as failed:
                        run.throughput.append(failed.result)
                        run.interrupted = True
                        run.error = f"{target.name}: {failed.error}"
                        break
                    except Exception as exc:
                        run.interrupted = True
                        run.error = f"{target.name}: {label}: {describe_fault(exc)}"
                        break
        finally:
            _close_all([*closers, *([board.close] if board is not None else [])], quiet=run.error is not None)
        ok = finish(run, args, console)
        ok = functional_check(run, console) and ok
    if run.error is not None:
        report_error(run, console)
        return 1
    if run.interrupted:
        return 130
    return 0 if ok else 1


# --- rig history ---------------------------------------------------------------------------------


def cmd_history(args: argparse.Namespace) -> int:
    """`rig history`: list runs, or gate one against a baseline."""
    console = _console()
    with History(args.history) as history:
        if args.compare:
            run_id, base_id = args.compare
            try:
                thresholds = Thresholds.parse(args.thresholds)
                verdict = compare(history.row(run_id), history.row(base_id), thresholds)
            except RunNotFound as exc:
                raise MeasureError(str(exc)) from None
            for check in verdict.checks:
                console.print(check.line())
            for note in verdict.notes:
                console.print(f"note: {note}")
            console.print(f"gate: {'PASS' if verdict.passed else 'FAIL'}")
            return 0 if verdict.passed else 1
        rows = history.runs(limit=args.limit, target=args.target, kind=args.kind)
        table = Table(title=f"measurement runs in {history.path}")
        for col in ("id", "started (UTC)", "kind", "path", "target", "real", "fw"):
            table.add_column(col, no_wrap=True)
        table.add_column("figures", overflow="fold", min_width=30)
        for r in rows:
            table.add_row(str(r.run_id), r.started_at[:16].replace("T", " "), r.kind, r.path, r.target,
                          "yes" if r.real_timing else "no", r.firmware or "-",
                          r.headline() + (" (INCOMPLETE: error)" if r.summary.get("error")
                                          else " (interrupted)" if r.interrupted else ""))
        console.print(table)
        if not rows:
            console.print("no runs stored yet: `rig latency` or `rig throughput` stores one")
    return 0


# --- for `rig run` ---------------------------------------------------------------------------------


def latency_report(target: Target, directory: Path, *, count: int = 300, warmup: int = 20,
                   history: str | Path | None = None, store: bool = True,
                   console: Console | None = None) -> list[report.ReportFiles]:
    """Short latency runs on every path an open target has, each with its report files in
    `directory` (and stored in the history unless store=False): what `rig run` puts in its report."""
    console = console or _console()
    out: list[report.ReportFiles] = []
    for path in available_paths(target):
        kind = "frame" if path == "frames" else "short"
        settings = LatencySettings(count=count, warmup=warmup, message=kind,
                                   size=64 if kind == "frame" else 0, gap_min_s=0.0005, gap_max_s=0.0015)
        run = measure_path(target, path, settings, 32, None)
        report.print_summary(run, console)
        ok = functional_check(run, console) and run.error is None
        files = report.write_all(run, directory, fmt="md", stem=f"latency-{path}")
        out.append(dataclasses.replace(files, ok=ok))
        if store:
            with History(history) as h:
                h.store(run)
        if run.error is not None:
            report_error(run, console)
        if run.interrupted:
            break
    return out


def latency_report_for(spec: str | None, directory: Path, *, count: int = 300, jack: str | None = None,
                       history: str | Path | None = None, store: bool = True,
                       console: Console | None = None) -> list[report.ReportFiles]:
    """Open the target `spec` (default: board if attached, else loopback, which starts its own dummy
    JACK server when there is no MIDI system; see open_target) and write `latency_report` into
    `directory`."""
    with open_target(spec, jack) as target:
        return latency_report(target, directory, count=count, history=history, store=store, console=console)

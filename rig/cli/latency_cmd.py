"""`rig latency`: round-trip (and one-way) latency on every path the target has, with reports,
history and an optional regression gate."""

from __future__ import annotations

import argparse

from rig.cli import measure_options as opts
from rig.measure import runner
from rig.measure.latency import LatencySettings
from rig.measure.report import ReportFiles, restamp
from rig.measure.verdict import Verdict, combine
from rig.targets.usb_capture import capturing


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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the subcommand."""
    p = sub.add_parser("latency", help="round-trip and one-way latency on every path the target has",
                       description="Measure MIDI and frame round trips (and one-way times from the board's "
                                   "stamps). Ctrl-C stops and keeps the samples taken so far.")
    opts.add_common(p)
    d = LatencySettings()  # the defaults are the settings' own
    p.add_argument("--path", choices=(*runner.PATHS, "all"), default="all",
                   help="which path (default: all the target has)")
    p.add_argument("--count", type=int, default=d.count, help="measured samples per path")
    p.add_argument("--warmup", type=int, default=d.warmup, help="samples taken first and discarded")
    p.add_argument("--in-flight", type=int, default=d.in_flight,
                   help="1 = one message at a time; N = pipelined")
    p.add_argument("--gap", type=_gap, default=(d.gap_min_s, d.gap_max_s), metavar="MS|MIN:MAX",
                   help="send-to-send interval in ms, fixed or uniformly random (seeded) (default: 0, "
                        "back to back)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the random gaps")
    p.add_argument("--message", choices=("short", "sysex"), default=d.message, help="MIDI message kind")
    p.add_argument("--sysex-size", type=int, default=32, help="SysEx bytes including F0 and F7")
    p.add_argument("--frame-size", type=int, default=64, help="frame payload bytes for the frames path")
    p.add_argument("--timeout", type=float, default=d.timeout_s, help="seconds after which a message is lost")
    p.add_argument("--sync", type=int, default=64, help="clock exchanges before and after (frames path)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Measure each path in turn; one verdict from every path is the exit status (0 PASS, 1 FAIL or
    INCOMPLETE, 130 INTERRUPTED). A fault or Ctrl-C keeps what was measured and skips the rest."""
    opts.check_outputs(args)
    console = runner.wide_console()
    message = "frame" if args.path == "frames" else args.message
    steps: list[tuple[str, Verdict]] = []
    pages: list[ReportFiles] = []
    with runner.open_target(args.rig, args.jack) as target, \
            capturing(target, args.capture, ring_mb=args.capture_ring):
        paths = runner.available_paths(target) if args.path == "all" else [args.path]
        if not paths:
            raise runner.MeasureError(f"target {target.name} has no latency path (needs midi-os, usb or "
                                      f"frames)")
        for path in paths:
            kind = "frame" if path == "frames" else message
            size = args.frame_size if kind == "frame" else (args.sysex_size if kind == "sysex" else 0)
            settings = LatencySettings(count=args.count, warmup=args.warmup, in_flight=args.in_flight,
                                       gap_min_s=args.gap[0], gap_max_s=args.gap[1], seed=args.seed,
                                       message=kind, size=size, timeout_s=args.timeout)
            with opts.progress_bar(not args.no_progress, f"latency {path}") as progress:
                measured = runner.measure_path(target, path, settings, args.sync, progress)
            verdict, files = opts.finish(measured, args, console)
            steps.append((f"latency {path}", verdict))
            pages.append(files)
            if len(paths) > 1:
                runner.print_verdict(console, verdict, measured, label=f"latency {path}")
            if measured.error is not None:
                runner.report_error(measured, console)
                console.print("kept the samples taken so far; remaining paths skipped")
                break
            if measured.interrupted:
                console.print("interrupted: kept the samples taken so far; remaining paths skipped")
                break
    overall = steps[0][1] if len(steps) == 1 else combine(steps)
    if len(steps) > 1:
        for page in pages:
            restamp(page, overall)
    runner.print_verdict(console, overall, measured if len(steps) == 1 else None)
    return overall.exit_status

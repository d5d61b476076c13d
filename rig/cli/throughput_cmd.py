"""`rig throughput`: bulk OUT and IN per frame size, and MIDI events/s each way, against the
full-speed limit; reports, history and an optional regression gate."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rig import contract as c
from rig.cli import measure_options as opts
from rig.measure import runner
from rig.measure.latency import RtMidiLink, describe_fault
from rig.measure.model import USB_MIDI_EVENT_CEILING_PER_S, ThroughputResult
from rig.targets.registry import Feature
from rig.targets.usb_capture import capturing, mark


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the subcommand."""
    p = sub.add_parser("throughput", help="bulk OUT and IN separately, and MIDI events/s, against the "
                                          "full-speed limit",
                       description="Measure throughput on the target: vendor bulk OUT and IN separately "
                                   "for each frame size (board in frame SINK, then SOURCE), raw USB-MIDI "
                                   "events/s each way, MIDI events/s through the MXF graph, or through the "
                                   "OS MIDI ports; each figure beside the USB full-speed ceiling and the "
                                   "device's own count. Writes JSON, CSV, a plot and a report, stores the "
                                   "run in the history, and exits 0 PASS, 1 FAIL or INCOMPLETE, 130 "
                                   "INTERRUPTED.")
    opts.add_common(p)
    p.add_argument("--sizes", default="64,512,4096", help="frame payload sizes, comma-separated")
    p.add_argument("--frames", type=int, default=1000, help="frames per size and direction")
    p.add_argument("--midi-events", type=int, default=20000, help="MIDI events each way")
    p.add_argument("--midi-rate", type=int, default=100000, help="events/s the board's MIDI SOURCE makes")
    p.add_argument("--direction", choices=("all", "out", "in", "midi", "mxf", "midi-os"), default="all",
                   help="bulk OUT, bulk IN, raw MIDI events each way, MIDI events through the MXF graph, "
                        "or MIDI events through the OS ports (the only one for midi:OUT,IN; all = every "
                        "USB direction, or midi-os on a target without USB)")
    p.set_defaults(func=run)


def raw_echo_job(target: Any, events: int, closers: list[Callable[[], None]]) -> tuple[
        str, Callable[..., ThroughputResult], tuple[Any, ...]]:
    """MIDI events/s round trip over raw USB-MIDI on a device that is not ours but echoes (no vendor
    request, no device counters: every event is counted as its echo arrives)."""
    import contextlib

    from rig.measure import throughput as tp
    from rig.measure.latency import UsbMidiLink
    from rig.targets.raw_port import raw_midi_port

    claim = contextlib.ExitStack()
    closers.append(claim.close)  # releases the MIDI interface and gives its OS driver back
    raw, _cables = claim.enter_context(raw_midi_port(target))
    link = UsbMidiLink(raw, cable=raw.cable)
    return ("MIDI echo over raw USB-MIDI", tp.midi_os,
            (link, events, USB_MIDI_EVENT_CEILING_PER_S, "midi-usb", "over raw USB-MIDI (device echo)"))


def run(args: argparse.Namespace) -> int:
    """Run each direction in turn; the run's verdict is the exit status (0 PASS, 1 FAIL or INCOMPLETE,
    130 INTERRUPTED): a run stopped early never passes."""
    from rig.measure import throughput as tp

    opts.check_outputs(args)
    console = runner.wide_console()
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise runner.MeasureError(f"--sizes {args.sizes!r}: expected comma-separated integers") from None
    with runner.open_target(args.rig, args.jack) as target, \
            capturing(target, args.capture, ring_mb=args.capture_ring):
        usb = Feature.CONTRACT in target.features  # the bulk and MIDI mode jobs are our board's contract
        raw_echo = not usb and {Feature.USB_MIDI, Feature.MIDI_ECHO} <= target.features and \
            args.direction in ("all", "midi")  # not ours but echoes: round trips over raw USB-MIDI
        if not usb and not raw_echo and not (Feature.MIDI_OS in target.features
                                             and args.direction in ("all", "midi-os")):
            why = target.lacks(Feature.MIDI_ECHO) or target.lacks(Feature.CONTRACT)
            raise runner.MeasureError(f"target {target.name} is not our board, does not echo over raw "
                                      f"USB-MIDI and has no OS MIDI ports for --direction {args.direction} "
                                      f"({why})")
        measured = runner.new_run(target, "throughput", "usb" if usb or raw_echo else "midi-os")
        measured.settings = {"sizes": sizes, "frames": args.frames, "midi_events": args.midi_events,
                             "midi_rate": args.midi_rate, "direction": args.direction}
        board = runner.board_of(target) if usb else None
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
            if raw_echo:
                jobs.append(raw_echo_job(target, args.midi_events, closers))
            if args.direction == "midi-os" or (args.direction == "all" and not usb and not raw_echo):
                if board is not None:
                    board.set_midi_mode(c.MidiMode.ECHO)
                rt = RtMidiLink(*target.midi_port_names(), api=runner.os_midi_api_of(target))
                closers.append(rt.close)
                rt.wait_ready()
                ceiling = (tp.DIN_SHORT_MESSAGES_PER_S if target.spec.kind == "midi"
                           else USB_MIDI_EVENT_CEILING_PER_S)
                jobs.insert(0, ("MIDI through the OS", tp.midi_os, (rt, args.midi_events, ceiling)))
            for label, job, job_args in jobs:
                mark(target, f"throughput phase {label}")
                with opts.progress_bar(not args.no_progress, label) as progress:
                    try:
                        measured.throughput.append(job(*job_args, progress=progress))
                    except tp.Interrupted as stop:
                        measured.throughput.append(stop.result)
                        measured.interrupted = True
                        break
                    except tp.Failed as failed:
                        measured.throughput.append(failed.result)
                        measured.interrupted = True
                        measured.error = f"{target.name}: {failed.error}"
                        break
                    except Exception as exc:
                        measured.interrupted = True
                        measured.error = f"{target.name}: {label}: {describe_fault(exc)}"
                        break
        finally:
            runner.close_all([*closers, *([board.close] if board is not None else [])],
                             quiet=measured.error is not None)
        verdict, _ = opts.finish(measured, args, console)
    if measured.error is not None:
        runner.report_error(measured, console)
    runner.print_verdict(console, verdict, measured)
    return verdict.exit_status

"""Running measurements on an open target: which latency paths it has, one latency run per path,
the functional check for emulated timing, and the short latency report `rig run` writes.

The `rig latency`, `rig throughput` and `rig history` commands (rig.cli) drive these; nothing here
parses arguments.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from rig import contract as c
from rig.errors import RigError
from rig.measure import clocksync, report
from rig.measure.history import History, HistoryError
from rig.measure.latency import FrameLink, LatencySettings, Link, RtMidiLink, UsbMidiLink, run_latency
from rig.measure.model import Run
from rig.measure.verdict import Verdict, of_run
from rig.targets.registry import Feature, Target
from rig.targets.usb_capture import mark

PATHS = ("midi-os", "midi-usb", "frames")
"""Latency paths in the order `--path all` runs them (OS MIDI first, before raw MIDI claims the
interface from the OS driver)."""


class MeasureError(RigError, RuntimeError):
    """A measurement cannot run as asked (the message says why)."""


def wide_console() -> Console:
    """A rich console on stdout; logs and CI get 140 columns so tables are not squeezed to 80."""
    console = Console(file=sys.stdout, highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 140)
    return console


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


def print_verdict(console: Console, verdict: Verdict, run: Run | None = None, label: str = "verdict") -> None:
    """`verdict: PASS` (or FAIL, INCOMPLETE, INTERRUPTED with reasons); a run without timing figures
    says it was a functional check."""
    if run is not None and run.no_timing is not None:
        label = f"{label} (functional check, no timing figures)"
    style = "green" if verdict.passed else "bold red"
    console.print(f"{label}: [{style}]{verdict.status}[/]" + (": " + "; ".join(verdict.reasons)
                                                               if verdict.reasons else ""))


def available_paths(target: Target) -> list[str]:
    """The latency paths this target has."""
    paths = []
    if Feature.MIDI_OS in target.features:
        paths.append("midi-os")
    if Feature.CONTRACT in target.features or {Feature.USB_MIDI, Feature.MIDI_ECHO} <= target.features:
        paths.append("midi-usb")  # ours (ECHO by the contract), or a device that echoes on its own
    if Feature.FRAMES in target.features and Feature.CONTRACT in target.features:
        paths.append("frames")
    return paths


def board_of(target: Target) -> Any:
    """A rig.client.board.Board on the target's USB device."""
    from rig.client.board import Board

    return Board(target.usb_device())


def os_midi_api_of(target: Target) -> int | None:
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
    mark(target, f"latency path {path}")
    board = board_of(target) if Feature.CONTRACT in target.features else None  # else: no vendor request
    link: Link
    closers: list[Callable[[], None]] = []
    try:
        if path == "midi-os":
            if board is not None:
                board.set_midi_mode(c.MidiMode.ECHO)
            out_name, in_name = target.midi_port_names()
            rt = RtMidiLink(out_name, in_name, api=os_midi_api_of(target))
            closers.append(rt.close)
            waited = rt.wait_ready()
            if waited > 0.5:
                run.notes.append(f"the OS MIDI ports took {waited:.1f} s to pass a first message")
            link = rt
        elif path == "midi-usb" and board is None:  # a device that is not ours but echoes: raw USB-MIDI
            why = target.lacks(Feature.USB_MIDI) or target.lacks(Feature.MIDI_ECHO)
            if why:
                raise MeasureError(f"target {target.name}: midi-usb needs our board or a USB-MIDI device "
                                   f"that echoes ({why})")
            from rig.targets.raw_port import raw_midi_port

            claim = contextlib.ExitStack()
            closers.append(claim.close)  # releases the interface and gives the OS driver back
            raw, _cables = claim.enter_context(raw_midi_port(target))
            link = UsbMidiLink(raw, cable=raw.cable)
            run.notes.append("raw USB-MIDI on a device that is not ours: no device time stamps, round trips "
                             "only")
        elif path == "midi-usb":
            assert board is not None
            board.set_midi_mode(c.MidiMode.ECHO)
            link = UsbMidiLink(board)
        elif path == "frames":
            if board is None:
                raise MeasureError(f"target {target.name}: frames are our board's contract "
                                   f"({target.lacks(Feature.CONTRACT)})")
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
        close_all([*closers, *([board.close] if board is not None else [])], quiet=run.error is not None)


def close_all(closers: list[Callable[[], None]], quiet: bool) -> None:
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


ProgressFor = Callable[[str], contextlib.AbstractContextManager[Callable[[int, int], None] | None]]
"""Gives, for a step's label, a context whose value is the (done, total) callback (or None)."""


def latency_report(target: Target, directory: Path, *, count: int = 300, warmup: int = 20,
                   history: str | Path | None = None, store: bool = True,
                   console: Console | None = None, loss_tolerance: int = 0,
                   progress: ProgressFor | None = None) -> list[report.ReportFiles]:
    """Short latency runs on every path an open target has, each with its report files (headed by
    its verdict) in `directory` and stored in the history unless store=False: what `rig run` puts in
    its report. `progress` shows each path's progress as `rig latency` does."""
    console = console or wide_console()
    out: list[report.ReportFiles] = []
    paths = available_paths(target)
    console.print(f"latency: {', '.join(paths)} on {target.name}, {count} samples each")
    for path in paths:
        kind = "frame" if path == "frames" else "short"
        settings = LatencySettings(count=count, warmup=warmup, message=kind,
                                   size=64 if kind == "frame" else 0, gap_min_s=0.0005, gap_max_s=0.0015)
        with progress(f"latency {path}") if progress is not None else contextlib.nullcontext() as update:
            run = measure_path(target, path, settings, 32, update)
        report.print_summary(run, console)
        verdict = of_run(run, loss_tolerance)
        if store:
            try:
                with History(history) as h:
                    h.store(run)
            except HistoryError as exc:  # the run is still reported; the verdict says it was not stored
                console.print(f"[bold red]history:[/] {exc}")
                verdict = verdict.with_reasons([f"history: {exc}"])
        out.append(report.write_all(run, directory, fmt="md", stem=f"latency-{path}", verdict=verdict))
        print_verdict(console, verdict, run, label=f"latency {path}")
        if run.error is not None:
            report_error(run, console)
        if run.interrupted:
            break
    return out


def latency_report_for(spec: str | None, directory: Path, *, count: int = 300, jack: str | None = None,
                       history: str | Path | None = None, store: bool = True,
                       console: Console | None = None, loss_tolerance: int = 0,
                       capture: Path | None = None, progress: ProgressFor | None = None
                       ) -> list[report.ReportFiles]:
    """Open the target `spec` (default: board if attached, else loopback, which starts its own dummy
    JACK server when there is no MIDI system; see open_target) and write `latency_report` into
    `directory`; with `capture`, its USB traffic goes into that pcapng file."""
    from rig.targets.usb_capture import capturing

    with open_target(spec, jack) as target, capturing(target, capture):
        return latency_report(target, directory, count=count, history=history, store=store, console=console,
                              loss_tolerance=loss_tolerance, progress=progress)

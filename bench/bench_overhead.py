"""Rig overhead: rig MIDI round trip vs bare python-rtmidi ping-pong on one JACK loopback (p50 <= +5%).

Also the rig's own per-message processing time measured directly (answer stamped in the receive
callback -> clock read right before the next send) against the bare ping-pong's, and the sample rate
the rig sustains on the USB-MIDI path vs a bare pyusb (Board) ping-pong.

Both sides of each comparison use the same ports and the same receive mechanism (an rtmidi callback
that stamps time.perf_counter_ns into a queue; for USB, the same Board calls), in interleaved
blocks so that a change in machine load hits both. Round trips through JACK are quantised to its
period, and one-in-flight sends phase-lock to it (the next send leaves right after an answer that
arrived at a period boundary), which hid any rig overhead below about one period. So the JACK
server runs the dummy driver at a short period (32 frames at 48 kHz, 0.67 ms; RIG_BENCH_JACK_PERIOD
overrides), and both sides draw the same seeded random send-to-send gaps, longer than a round trip
and spread over several periods, so each send lands at a random phase of the JACK cycle and of the
loopback's input poll: the p50 then moves by whatever the rig adds. The ratio is printed with a
bootstrap 95% interval, the comparison's resolution. RIG_BENCH_INJECT_US=N adds N us of busy work
before every rig send, to check that the benchmark sees a regression of that size. Its figures are
the loopback's floor, never device figures.
"""

from __future__ import annotations

import itertools
import os
import queue
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import IO, Any

from host.midi.usbmidi import encode_message
from rig import contract as c
from rig.measure.latency import LatencySettings, RtMidiLink, UsbMidiLink, find_port, run_latency
from rig.measure.messages import short_message
from rig.measure.model import Run
from rig.measure.stats import summarize
from rig.os_midi import jack_ports
from rig.os_midi.jack import JackXruns, client_name

BLOCKS = 16
"""Interleaved blocks per side."""
PER_BLOCK = 100
"""Measured round trips per block and side."""
WARMUP = 5
P50_BOUND = 1.05
"""The rig's p50 may be at most 5% above the bare ping-pong's."""
JACK_PERIOD = int(os.environ.get("RIG_BENCH_JACK_PERIOD", "32"))
"""Frames per JACK period: 32 at 48 kHz (0.67 ms) runs steadily under the dummy driver here."""
JACK_RATE = 48000
PERIOD_S = JACK_PERIOD / JACK_RATE
GAP_MIN_S = max(0.003, 4 * PERIOD_S)
"""Random gaps start above a round trip (about 2-3 periods plus the loopback's 0.5 ms input poll)..."""
GAP_MAX_S = GAP_MIN_S + max(0.002, 3 * PERIOD_S)
"""...and spread over several periods and poll intervals, so the send phase is uniform."""
INJECT_US = float(os.environ.get("RIG_BENCH_INJECT_US", "0"))
"""Busy work added before every rig send (a deliberate regression, to check the benchmark sees it)."""
BOOTSTRAP = 400


def start_jack() -> tuple[subprocess.Popen[bytes], str, IO[bytes]]:
    """A dummy-driver jackd with a short period under a private name; (process, name, its log)."""
    from rig.os_midi.jack import CLIENT_TIMEOUT_MS, ENV_SERVER, server_running

    name = f"rig-bench-{os.getpid()}"
    jackd = shutil.which("jackd")
    if jackd is None:
        raise RuntimeError("jackd not found: install jackd2 to run this benchmark")
    wait_us = JACK_PERIOD * 1_000_000 // JACK_RATE
    log = tempfile.TemporaryFile()  # noqa: SIM115 - jackd writes to it for as long as it runs
    # The rig's own servers' engine settings (rig.os_midi.jack): --sync and a long client timeout, so
    # a late client delays a cycle instead of losing its MIDI.
    proc = subprocess.Popen([jackd, "--no-realtime", "-n", name, "--sync",
                             "--timeout", str(CLIENT_TIMEOUT_MS), "-d", "dummy", "-r", str(JACK_RATE),
                             "-p", str(JACK_PERIOD), "-w", str(wait_us)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    os.environ[ENV_SERVER] = name
    deadline = time.monotonic() + 15
    while not server_running(name):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait(5)
            log.seek(0)
            raise RuntimeError(f"jackd did not start: {log.read().decode(errors='replace')[-400:]}")
        time.sleep(0.05)
    return proc, name, log


def jack_xruns(log: IO[bytes]) -> str:
    """What jackd's log reports so far, counted as the rig's own servers count it (JackXruns): late
    cycles (MIDI delayed, not lost, under --sync) and late clients a cycle ran on without (their MIDI
    of that period is lost: JACK's loss, not the rig's)."""
    log.flush()
    log.seek(0)
    return str(JackXruns.counted(log.read().splitlines()))


def bare_ping_pong(out_name: str, in_name: str, api: int, count: int, gaps: tuple[float, float] = (0.0, 0.0),
                   seed: int = 1, turnaround: list[float] | None = None) -> list[float]:
    """The simplest correct python-rtmidi round trip: send, wait on the callback's queue, stamp; the
    next send no earlier than a gap drawn uniformly from `gaps` after this one (the rig's rule, the
    rig's generator). With `turnaround`, appends the time from each answer's callback stamp to the
    clock read before the next send (us)."""
    import rtmidi

    arrivals: queue.SimpleQueue[tuple[list[int], int]] = queue.SimpleQueue()
    # Unique client names, as the rig uses: a JACK2 client reusing the name of one still closing can
    # lose its notification socket to it (rig.os_midi.jack.client_name).
    midi_in = rtmidi.MidiIn(rtapi=api, name=client_name("bare in"))
    midi_out = rtmidi.MidiOut(rtapi=api, name=client_name("bare out"))
    midi_in.set_callback(lambda event, data=None: arrivals.put((event[0], time.perf_counter_ns())))
    midi_in.open_port(find_port(midi_in, in_name))
    midi_out.open_port(find_port(midi_out, out_name))
    rtts: list[float] = []
    try:
        # JACK makes port connections asynchronously: wait until a probe comes back, as the rig does.
        probe = list(RtMidiLink.PROBE)
        deadline = time.monotonic() + 5.0
        while True:
            midi_out.send_message(probe)
            try:
                if arrivals.get(timeout=0.1)[0] == probe:
                    break
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise RuntimeError("bare ping-pong: the ports never passed a probe") from None
        while not arrivals.empty():
            arrivals.get_nowait()
        rng = random.Random(seed)
        next_send = time.perf_counter_ns()
        last_stamp: int | None = None
        for n in range(count + WARMUP):
            message = list(short_message(n))
            now = time.perf_counter_ns()
            if now < next_send:
                time.sleep((next_send - now) / 1e9)
            sent = time.perf_counter_ns()
            midi_out.send_message(message)
            if turnaround is not None and last_stamp is not None and n > WARMUP:
                turnaround.append((sent - last_stamp) / 1000.0)
            lo, hi = gaps
            next_send = sent + int((lo if lo == hi else rng.uniform(lo, hi)) * 1e9)
            last_stamp = None
            try:
                while True:
                    got, stamp = arrivals.get(timeout=2.0)
                    if got == message:
                        break
            except queue.Empty:
                continue  # lost: not a round trip (the rig's runner counts it lost the same way)
            last_stamp = stamp
            if n >= WARMUP:
                rtts.append((stamp - sent) / 1000.0)
    finally:
        for port in (midi_in, midi_out):
            jack_ports.close(port)  # safe on JACK (rig.os_midi.jack_ports); the measured part is above
    return rtts


class _SlowedLink:
    """The rig's link with INJECT_US of busy work before every send: a deliberate regression."""

    def __init__(self, link: RtMidiLink, extra_us: float) -> None:
        self.link = link
        self.extra_ns = int(extra_us * 1000)

    def send(self, payload: bytes) -> None:
        end = time.perf_counter_ns() + self.extra_ns
        while time.perf_counter_ns() < end:
            pass
        self.link.send(payload)

    def receive(self, timeout_s: float) -> list[Any]:
        return self.link.receive(timeout_s)


def rig_round_trips(out_name: str, in_name: str, api: int, count: int, gaps: tuple[float, float] = (0.0, 0.0),
                    seed: int = 1, turnaround: list[float] | None = None) -> list[float]:
    """The rig's runner on the same ports: one in flight, warm-up discarded, the same seeded gaps as
    the bare side. With `turnaround`, appends the time from each answer's callback stamp to the clock
    read before the next send (us): the rig's own per-message processing."""
    rt = RtMidiLink(out_name, in_name, api=api)
    try:
        rt.wait_ready()
        link = _SlowedLink(rt, INJECT_US) if INJECT_US > 0 else rt
        run = Run(kind="latency", path="midi-os", target="loopback", target_kind="loopback",
                  real_timing=False)
        settings = LatencySettings(count=count, warmup=WARMUP, timeout_s=2.0, gap_min_s=gaps[0],
                                   gap_max_s=gaps[1], seed=seed)
        run_latency(link, settings, run)
    finally:
        rt.close()
    if turnaround is not None:
        for before, after in itertools.pairwise(run.samples):
            if not before.warmup and before.received_ns is not None:
                turnaround.append((after.sent_ns - before.received_ns) / 1000.0)
    return run.rtt_values_us()


def _p50(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def bootstrap_ratio(a: list[float], b: list[float], reps: int = BOOTSTRAP,
                    seed: int = 7) -> tuple[float, float]:
    """95% interval of p50(a) / p50(b) by resampling both sides: how finely the ratio is known."""
    rng = random.Random(seed)
    ratios = sorted(_p50(rng.choices(a, k=len(a))) / _p50(rng.choices(b, k=len(b))) for _ in range(reps))
    return ratios[int(0.025 * reps)], ratios[int(0.975 * reps) - 1]


def bootstrap_difference(a: list[float], b: list[float], reps: int = BOOTSTRAP,
                         seed: int = 7) -> tuple[float, float]:
    """95% interval of p50(a) - p50(b)."""
    rng = random.Random(seed)
    diffs = sorted(_p50(rng.choices(a, k=len(a))) - _p50(rng.choices(b, k=len(b))) for _ in range(reps))
    return diffs[int(0.025 * reps)], diffs[int(0.975 * reps) - 1]


def _line(label: str, values: list[float]) -> str:
    s = summarize(values)
    return (f"  {label}  n={s.count} p50 {s.p50:8.1f} us  p90 {s.p90:8.1f}  p99 {s.p99:8.1f}  "
            f"mean {s.mean:8.1f}  sd {s.stdev:7.1f}")


def midi_overhead(target: Any, jack_log: IO[bytes] | None = None) -> bool:
    """Interleaved blocks of rig and bare round trips at random gaps (the p50 ratio and its
    resolution), then at no gap (each side's per-message turnaround, measured directly)."""
    import rtmidi

    out_name, in_name = target.midi_port_names()
    api = int(rtmidi.API_UNIX_JACK)
    gaps = (GAP_MIN_S, GAP_MAX_S)
    rig: list[float] = []
    bare: list[float] = []
    rig_turn: list[float] = []
    bare_turn: list[float] = []
    for block in range(BLOCKS):
        seed = 1000 + block  # both sides draw the same gaps in a block
        sides = ((rig_round_trips, rig), (bare_ping_pong, bare))
        for fn, bucket in sides if block % 2 == 0 else sides[::-1]:
            bucket.extend(fn(out_name, in_name, api, PER_BLOCK, gaps, seed))
        turns = ((rig_round_trips, rig_turn), (bare_ping_pong, bare_turn))
        for fn, bucket in turns if block % 2 == 0 else turns[::-1]:
            fn(out_name, in_name, api, PER_BLOCK // 2, (0.0, 0.0), seed, bucket)
    r, b = summarize(rig), summarize(bare)
    ratio = r.p50 / b.p50
    lo, hi = bootstrap_ratio(rig, bare)
    print(f"  JACK dummy, period {JACK_PERIOD} frames at {JACK_RATE} Hz ({PERIOD_S * 1e6:.0f} us); "
          f"random gaps {GAP_MIN_S * 1e3:.2f}..{GAP_MAX_S * 1e3:.2f} ms (same seeds both sides); "
          f"loopback target (the rig's floor, not a device)")
    if INJECT_US > 0:
        print(f"  RIG_BENCH_INJECT_US={INJECT_US:g}: that much busy work added before every rig send")
    print(_line("rig  (RtMidiLink + run_latency)", rig))
    print(_line("bare (python-rtmidi ping-pong) ", bare))
    planned = BLOCKS * PER_BLOCK
    xruns = "" if jack_log is None else f"; jackd logged {jack_xruns(jack_log)} meanwhile"
    print(f"  lost (timed out after 2 s): rig {planned - r.count}, bare {planned - b.count} of {planned} each"
          f"{xruns}")
    ok = ratio <= P50_BOUND
    print(f"  rig p50 / bare p50 = {ratio:.4f} (95% interval {lo:.4f}..{hi:.4f}, resolution "
          f"+/-{(hi - lo) / 2 * 100:.1f}% = +/-{(hi - lo) / 2 * b.p50:.0f} us) (goal <= {P50_BOUND}): "
          f"{'met' if ok else 'MISSED'}")
    print("  per-message processing, answer's callback stamp -> clock read before the next send (no gap):")
    print(_line("rig  turnaround               ", rig_turn))
    print(_line("bare turnaround               ", bare_turn))
    d_lo, d_hi = bootstrap_difference(rig_turn, bare_turn)
    extra = _p50(rig_turn) - _p50(bare_turn)
    print(f"  rig's own overhead per message: {extra:+.1f} us at p50 "
          f"(95% interval {d_lo:+.1f}..{d_hi:+.1f} us, resolution +/-{(d_hi - d_lo) / 2:.1f} us) "
          f"= {extra / b.p50 * 100:+.2f}% of the bare round trip")
    return ok


SAMPLE_COUNT = 1000
SAMPLE_ROUNDS = 5
"""Rounds of the sample-rate comparison: each runs the bare ping-pong and the rig's two modes in a
turning order, after one round that only warms all three."""


def sample_rate(target: Any) -> None:
    """Samples/s the rig takes on the USB-MIDI path of the loopback vs a bare Board ping-pong: all
    three warmed by a first round that is not counted, then SAMPLE_ROUNDS rounds in a turning order,
    the median rate of each printed (the bare rate is no longer one cold run)."""
    from rig.client.board import Board

    board = Board(target.usb_device())
    board.set_midi_mode(c.MidiMode.ECHO)
    count = SAMPLE_COUNT

    def bare() -> float:
        start = time.perf_counter()
        for n in range(count):
            board.write_midi_packets(encode_message(short_message(n)))
            board.read_midi_packets()
        return count / (time.perf_counter() - start)

    def rig(in_flight: int) -> float:
        run = Run(kind="latency", path="midi-usb", target="loopback", target_kind="loopback",
                  real_timing=False)
        start = time.perf_counter()
        run_latency(UsbMidiLink(board), LatencySettings(count=count, warmup=0, in_flight=in_flight), run)
        rate = count / (time.perf_counter() - start)
        lost = sum(sample.lost for sample in run.samples)
        if lost or run.error is not None:
            raise RuntimeError(f"sample rate: the rig lost {lost} of {count} on the USB-MIDI path "
                               f"({run.error or 'no error'})")
        return rate

    def one_in_flight() -> float:
        return rig(1)

    def pipelined() -> float:
        return rig(8)

    runners: dict[str, Callable[[], float]] = {"bare": bare, "one in flight": one_in_flight,
                                               "pipelined x8": pipelined}
    rates: dict[str, list[float]] = {name: [] for name in runners}
    try:
        for round_ in range(SAMPLE_ROUNDS + 1):
            order = list(runners.items())
            order = order[round_ % len(order):] + order[:round_ % len(order)]
            for name, fn in order:
                rate = fn()
                if round_:
                    rates[name].append(rate)
    finally:
        board.close()
    bare_rate = statistics.median(rates["bare"])
    print(f"  sustained sample rate, USB-MIDI path on the loopback, median of {SAMPLE_ROUNDS} warmed rounds "
          f"in turning order (bare Board ping-pong {bare_rate:,.0f}/s, "
          f"{min(rates['bare']):,.0f}..{max(rates['bare']):,.0f}):")
    for label in ("one in flight", "pipelined x8"):
        rate = statistics.median(rates[label])
        print(f"    rig {label:<14} {rate:10,.0f} samples/s  x{rate / bare_rate:5.2f} of bare "
              f"({min(rates[label]):,.0f}..{max(rates[label]):,.0f})")


def main() -> bool:
    """Run both comparisons; the goal is the p50 bound."""
    from rig.os_midi.jack import ENV_SERVER
    from rig.targets.factory import make_target

    previous = os.environ.get(ENV_SERVER)
    try:
        proc, _name, jack_log = start_jack()
    except RuntimeError as exc:
        print(f"  cannot measure: {exc}")
        return False
    try:
        with make_target("loopback") as target:
            ok = midi_overhead(target, jack_log)
            sample_rate(target)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if previous is None:
            os.environ.pop(ENV_SERVER, None)
        else:
            os.environ[ENV_SERVER] = previous
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)

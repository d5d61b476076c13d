"""Rig overhead: rig MIDI round trip vs bare python-rtmidi ping-pong on one JACK loopback (p50 <= +5%).

Also the sample rate the rig sustains on the USB-MIDI path vs a bare pyusb (Board) ping-pong.

Both sides of each comparison use the same ports and the same receive mechanism (an rtmidi callback
that stamps time.perf_counter_ns into a queue; for USB, the same Board calls), in interleaved
blocks so that a change in machine load hits both. The JACK server is started here with the dummy
driver at a short period (128 frames at 48 kHz, 2.7 ms) so the comparison is not drowned in a
21 ms default period; its figures are the loopback's floor, never device figures.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import tempfile
import time
from typing import Any

from host.midi.usbmidi import encode_message
from rig import contract as c
from rig.measure.latency import LatencySettings, RtMidiLink, UsbMidiLink, find_port, run_latency
from rig.measure.messages import short_message
from rig.measure.model import Run
from rig.measure.stats import summarize

BLOCKS = 8
"""Interleaved blocks per side."""
PER_BLOCK = 60
"""Measured round trips per block and side."""
WARMUP = 5
P50_BOUND = 1.05
"""The rig's p50 may be at most 5% above the bare ping-pong's."""
JACK_PERIOD = 128
JACK_RATE = 48000


def start_jack() -> tuple[subprocess.Popen[bytes], str]:
    """A dummy-driver jackd with a short period under a private name; (process, name)."""
    from rig.jack import ENV_SERVER, server_running

    name = f"rig-bench-{os.getpid()}"
    jackd = shutil.which("jackd")
    if jackd is None:
        raise RuntimeError("jackd not found: install jackd2 to run this benchmark")
    wait_us = JACK_PERIOD * 1_000_000 // JACK_RATE
    log = tempfile.TemporaryFile()  # noqa: SIM115 - jackd writes to it for as long as it runs
    proc = subprocess.Popen([jackd, "--no-realtime", "-n", name, "-d", "dummy", "-r", str(JACK_RATE),
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
    return proc, name


def bare_ping_pong(out_name: str, in_name: str, api: int, count: int) -> list[float]:
    """The simplest correct python-rtmidi round trip: send, wait on the callback's queue, stamp."""
    import rtmidi

    arrivals: queue.SimpleQueue[tuple[list[int], int]] = queue.SimpleQueue()
    midi_in = rtmidi.MidiIn(rtapi=api, name="bare in")
    midi_out = rtmidi.MidiOut(rtapi=api, name="bare out")
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
        for n in range(count + WARMUP):
            message = list(short_message(n))
            sent = time.perf_counter_ns()
            midi_out.send_message(message)
            try:
                while True:
                    got, stamp = arrivals.get(timeout=2.0)
                    if got == message:
                        break
            except queue.Empty:
                continue  # lost: not a round trip (the rig's runner counts it lost the same way)
            if n >= WARMUP:
                rtts.append((stamp - sent) / 1000.0)
    finally:
        for port in (midi_in, midi_out):
            port.close_port()
            port.delete()
    return rtts


def rig_round_trips(out_name: str, in_name: str, api: int, count: int) -> list[float]:
    """The rig's runner on the same ports: one in flight, warm-up discarded."""
    link = RtMidiLink(out_name, in_name, api=api)
    try:
        link.wait_ready()
        run = Run(kind="latency", path="midi-os", target="loopback", target_kind="loopback",
                  real_timing=False)
        run_latency(link, LatencySettings(count=count, warmup=WARMUP, timeout_s=2.0), run)
    finally:
        link.close()
    return run.rtt_values_us()


def midi_overhead(target: Any) -> bool:
    """Interleaved blocks of rig and bare round trips; prints both distributions and the p50 ratio."""
    import rtmidi

    out_name, in_name = target.midi_port_names()
    api = int(rtmidi.API_UNIX_JACK)
    rig: list[float] = []
    bare: list[float] = []
    for block in range(BLOCKS):
        order = (rig_round_trips, bare_ping_pong)
        for fn in order if block % 2 == 0 else order[::-1]:
            (rig if fn is rig_round_trips else bare).extend(fn(out_name, in_name, api, PER_BLOCK))
    r, b = summarize(rig), summarize(bare)
    ratio = r.p50 / b.p50
    print(f"  JACK dummy, period {JACK_PERIOD} frames at {JACK_RATE} Hz "
          f"({JACK_PERIOD * 1e6 / JACK_RATE:.0f} us); loopback target (the rig's floor, not a device)")
    for label, s in (("rig  (RtMidiLink + run_latency)", r), ("bare (python-rtmidi ping-pong) ", b)):
        print(f"  {label}  n={s.count} p50 {s.p50:8.1f} us  p90 {s.p90:8.1f}  p99 {s.p99:8.1f}  "
              f"mean {s.mean:8.1f}  sd {s.stdev:7.1f}")
    planned = BLOCKS * PER_BLOCK
    print(f"  lost (timed out): rig {planned - r.count}, bare {planned - b.count} of {planned} each")
    ok = ratio <= P50_BOUND
    print(f"  rig p50 / bare p50 = {ratio:.4f} (goal <= {P50_BOUND}): {'met' if ok else 'MISSED'}")
    return ok


def sample_rate(target: Any) -> None:
    """Samples/s the rig takes on the USB-MIDI path of the loopback vs a bare Board ping-pong."""
    from rig.device import Board

    board = Board(target.usb_device())
    board.set_midi_mode(c.MidiMode.ECHO)
    count = 3000
    try:
        start = time.perf_counter()
        for n in range(count):
            board.write_midi_packets(encode_message(short_message(n)))
            board.read_midi_packets()
        bare_rate = count / (time.perf_counter() - start)
        rates: dict[str, float] = {}
        for label, in_flight in (("one in flight", 1), ("pipelined x8", 8)):
            run = Run(kind="latency", path="midi-usb", target="loopback", target_kind="loopback",
                      real_timing=False)
            start = time.perf_counter()
            run_latency(UsbMidiLink(board), LatencySettings(count=count, warmup=0, in_flight=in_flight), run)
            rates[label] = count / (time.perf_counter() - start)
    finally:
        board.close()
    print(f"  sustained sample rate, USB-MIDI path on the loopback "
          f"(bare Board ping-pong {bare_rate:,.0f}/s):")
    for label, rate in rates.items():
        print(f"    rig {label:<14} {rate:10,.0f} samples/s  x{rate / bare_rate:5.2f} of bare")


def main() -> bool:
    """Run both comparisons; the goal is the p50 bound."""
    from rig.jack import ENV_SERVER
    from rig.target import make_target

    previous = os.environ.get(ENV_SERVER)
    try:
        proc, _name = start_jack()
    except RuntimeError as exc:
        print(f"  cannot measure: {exc}")
        return False
    try:
        with make_target("loopback") as target:
            ok = midi_overhead(target)
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

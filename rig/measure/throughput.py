"""Throughput runners: bulk OUT and bulk IN measured separately (frames of a chosen size, board in
FrameMode.SINK for OUT and SOURCE for IN), and MIDI events per second each way (MidiMode.SINK /
SOURCE), each with the USB full-speed ceiling beside the figure and the device's own count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from host.midi.usbmidi import encode_message
from rig import contract as c
from rig.errors import RigError, Terminated
from rig.measure.latency import BoardFrames, BoardMidi, ClockNs, unless_timeout
from rig.measure.messages import FRAME_MIN_PAYLOAD, frame_payload, short_message
from rig.measure.model import USB_MIDI_EVENT_CEILING_PER_S, ThroughputResult, frame_ceiling_payload_per_s

SERIES_POINTS = 50
"""Throughput-over-time points per direction: rates over windows of 1/50 of the run..."""
SERIES_MIN_WINDOW_S = 0.005
"""...but never shorter than 5 ms, so one window spans many transfers."""


class ThroughputError(RigError, RuntimeError):
    """A throughput run cannot go on; the message says why."""


class BoardThroughput(BoardFrames, BoardMidi, Protocol):
    """The slice of rig.client.board.Board the throughput runners use."""

    def set_frame_mode(self, mode: c.FrameMode | int, *, payload_len: int = 0, count: int = 0,
                       interval_us: int = 0) -> None: ...
    def set_midi_mode(self, mode: c.MidiMode | int, *, transpose: int = 0, rate_hz: int = 0,
                      count: int = 0, cable: int = 0) -> None: ...
    def stats(self) -> Any: ...
    def reset_stats(self) -> None: ...


class _Series:
    """Records (time, amount) of every transfer; `points` turns them into rates over windows.

    A transfer that completes at t carried its amount since the previous one completed (transfers
    of one direction follow each other), so its amount is spread evenly over that interval, not
    counted whole in the window where it completed; transfers completing within a tenth of a
    window of each other count as one batch, spread over the time since the batch before. Writes
    that complete in batches then show as the rate they were carried at, not as zeros and spikes,
    and a stall shows as a stall. Every window's rate times its length adds up to the total moved."""

    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.events: list[tuple[int, int]] = []

    def add(self, amount: int, now_ns: int) -> None:
        self.events.append((now_ns, amount))

    @property
    def points(self) -> list[tuple[float, float]]:
        """(seconds since start at the window's end, mean rate over the window) for each window."""
        if not self.events:
            return []
        start = self.start_ns
        total_ns = max(1, self.events[-1][0] - start)
        window_ns = max(total_ns // SERIES_POINTS, int(SERIES_MIN_WINDOW_S * 1e9), 1)
        count = -(-total_ns // window_ns)
        carried = [0.0] * count
        prev = start
        for t, n in _batches(self.events, window_ns // 10):
            t = max(t, prev)
            if t == prev:  # completed with no time since the previous one: counted where it ended
                carried[min(count - 1, (t - start) // window_ns)] += n
                continue
            per_ns = n / (t - prev)
            at = prev
            while at < t:
                index = min(count - 1, (at - start) // window_ns)
                end = t if index == count - 1 else min(t, start + (index + 1) * window_ns)
                carried[index] += per_ns * (end - at)
                at = end
            prev = t
        starts = [index * window_ns for index in range(count)]
        if count > 1 and total_ns - starts[-1] < window_ns // 2:
            # a sliver of a last window would show a few transfers as a rate: join it to the one before
            last = carried.pop()  # popped first: `carried[-2] += carried.pop()` stores past the end
            carried[-1] += last
            starts.pop()
        ends = [*starts[1:], total_ns]
        return [(end / 1e9, amount / ((end - begin) / 1e9))
                for begin, end, amount in zip(starts, ends, carried, strict=True)]


def _batches(events: list[tuple[int, int]], within_ns: int) -> list[tuple[int, int]]:
    """Transfers that completed within `within_ns` of the first of their batch as one (the last's
    time, their sum): a batch completes together after being carried together, so its whole
    amount belongs to the time since the batch before, not mostly to the microseconds inside it."""
    out: list[tuple[int, int]] = []
    first = None
    for t, n in events:
        if first is not None and t - first <= within_ns:
            out[-1] = (t, out[-1][1] + n)
        else:
            first = t
            out.append((t, n))
    return out


Progress = Callable[[int, int], None]
T = TypeVar("T")


def settled_count(board: BoardThroughput, counter: str, expected: int, timeout_s: float = 1.0) -> int:
    """The device counter once it reaches `expected` or stops moving within timeout_s: a transfer the
    host saw complete may still be on its way through the device when the first GET_STATS answers."""
    deadline = time.monotonic() + timeout_s
    value = int(board.stats()[counter])
    while value < expected and time.monotonic() < deadline:
        time.sleep(0.01)
        value = int(board.stats()[counter])
    return value


class _Direction:
    """One direction's clock, rate series, items moved and notes, and the ThroughputResult built from
    them: the normal end, Ctrl-C and a failure (`running`) all report the same way."""

    def __init__(self, direction: str, unit: str, payload_len: int, ceiling_per_s: float, clock: ClockNs,
                 notes: list[str] | None = None) -> None:
        self.direction, self.unit, self.payload_len = direction, unit, payload_len
        self.ceiling_per_s = ceiling_per_s
        self.clock = clock
        self.start = clock()
        self.series = _Series(self.start)
        self.notes: list[str] = notes if notes is not None else []
        self.elapsed_s: float | None = None
        self.items = 0
        self.interrupted = False

    def moved(self, items: int, amount: int) -> None:
        """`items` frames or events (`amount` bytes or events) completed now."""
        self.items += items
        self.series.add(amount, self.clock())

    @contextmanager
    def running(self, where: Callable[[], str]) -> Iterator[None]:
        """Around a direction's transfers: Ctrl-C ends them, noted (`finish` raises Interrupted with
        the result); any other error raises Failed naming `where()`; either way the clock stops."""
        try:
            yield
        except KeyboardInterrupt as exc:
            self.interrupted = True
            self.notes.append(f"interrupted ({'SIGTERM' if isinstance(exc, Terminated) else 'Ctrl-C'})")
        except Exception as exc:
            raise self.failed(self.items, where(), exc) from exc
        self.stop()

    def quiet_read(self, read: Callable[[], T], noun: str, timeout_ms: int) -> T | None:
        """`read()`, or None with a note when nothing came for `timeout_ms`: the source stopped early."""
        got = unless_timeout(read)
        if got is None:
            self.notes.append(f"stopped after {self.items} {noun}: nothing for {timeout_ms} ms")
        return got

    def stop(self) -> None:
        """Freeze the elapsed time (before settling device counters, which may wait)."""
        if self.elapsed_s is None:
            self.elapsed_s = (self.clock() - self.start) / 1e9

    def result(self, items: int, *, device_count: int | None = None, lost: int = 0) -> ThroughputResult:
        """The result for `items` frames or events moved."""
        self.stop()
        assert self.elapsed_s is not None
        amount = items * self.payload_len if self.unit == "bytes" else items
        return ThroughputResult(self.direction, self.unit, self.payload_len, items, amount, self.elapsed_s,
                                self.ceiling_per_s, self.series.points, device_count=device_count, lost=lost,
                                notes=self.notes)

    def finish(self, device_count: int, lost: int) -> ThroughputResult:
        """The result of the items moved; raised inside Interrupted when Ctrl-C stopped the direction."""
        result = self.result(self.items, device_count=device_count, lost=lost)
        if self.interrupted:
            raise _Interrupted(result)
        return result

    def failed(self, items: int, where: str, exc: BaseException) -> Failed:
        """Failed carrying what moved before `exc` (no device count: the device may be gone)."""
        return _failed(self.result(items), where, exc)


def bulk_out(board: BoardThroughput, payload_len: int, count: int, *, clock: ClockNs = time.perf_counter_ns,
             progress: Progress | None = None) -> ThroughputResult:
    """Write `count` frames of `payload_len` bytes to a board in FrameMode.SINK as fast as it takes them."""
    if payload_len < FRAME_MIN_PAYLOAD or count < 1:
        raise ThroughputError(f"bulk OUT needs payload_len >= {FRAME_MIN_PAYLOAD} and count >= 1, "
                              f"got {payload_len} and {count}")
    board.set_frame_mode(c.FrameMode.SINK)
    board.reset_stats()
    payloads = [frame_payload(i, payload_len) for i in range(min(count, 16))]
    run = _Direction("bulk-out", "bytes", payload_len, frame_ceiling_payload_per_s(payload_len), clock)
    with run.running(lambda: f"bulk OUT of {payload_len}-byte frames, frame {run.items} of {count}"):
        for i in range(count):
            board.send_frame(payloads[i % len(payloads)])
            run.moved(1, payload_len)
            if progress is not None and i % 64 == 0:
                progress(i + 1, count)
    device = settled_count(board, "frames_rx", run.items)
    board.set_frame_mode(c.FrameMode.ECHO)
    return run.finish(device, lost=max(0, run.items - device))


def bulk_in(board: BoardThroughput, payload_len: int, count: int, *, clock: ClockNs = time.perf_counter_ns,
            timeout_ms: int = 1000, progress: Progress | None = None) -> ThroughputResult:
    """Read `count` frames of `payload_len` bytes from a board in FrameMode.SOURCE (interval 0)."""
    if payload_len < 0 or count < 1:
        raise ThroughputError(f"bulk IN needs payload_len >= 0 and count >= 1, got {payload_len} and {count}")
    board.reset_stats()
    board.set_frame_mode(c.FrameMode.SOURCE, payload_len=payload_len, count=count, interval_us=0)
    run = _Direction("bulk-in", "bytes", payload_len, frame_ceiling_payload_per_s(payload_len), clock)
    with run.running(lambda: f"bulk IN of {payload_len}-byte frames, frame {run.items} of {count}"):
        while run.items < count:
            frame = run.quiet_read(lambda: board.receive_frame(timeout=timeout_ms), "frames", timeout_ms)
            if frame is None:
                break
            run.moved(1, len(frame.payload))
            if progress is not None and run.items % 64 == 0:
                progress(run.items, count)
    board.set_frame_mode(c.FrameMode.ECHO)
    device = settled_count(board, "frames_tx", run.items)
    return run.finish(device, lost=0 if run.interrupted else max(0, count - run.items))


def midi_out(board: BoardThroughput, events: int, *, clock: ClockNs = time.perf_counter_ns,
             progress: Progress | None = None) -> ThroughputResult:
    """Write `events` USB-MIDI event packets (16 per 64-byte transfer) to a board in MidiMode.SINK."""
    if events < 1:
        raise ThroughputError(f"MIDI OUT needs at least 1 event, got {events}")
    board.set_midi_mode(c.MidiMode.SINK)
    board.reset_stats()
    run = _Direction("midi-out", "events", 0, USB_MIDI_EVENT_CEILING_PER_S, clock)
    with run.running(lambda: f"MIDI OUT, event {run.items} of {events}"):
        while run.items < events:
            n = min(16, events - run.items)
            board.write_midi_packets(b"".join(encode_message(short_message(run.items + k)) for k in range(n)))
            run.moved(n, n)
            if progress is not None and run.items % 1024 < 16:
                progress(run.items, events)
    device = settled_count(board, "midi_rx_packets", run.items)
    board.set_midi_mode(c.MidiMode.ECHO)
    return run.finish(device, lost=max(0, run.items - device))


def midi_in(board: BoardThroughput, events: int, rate_hz: int, *, clock: ClockNs = time.perf_counter_ns,
            timeout_ms: int = 1000, progress: Progress | None = None) -> ThroughputResult:
    """Read `events` events a board in MidiMode.SOURCE generates at `rate_hz` (note on/off pairs)."""
    if events < 2 or not 1 <= rate_hz <= 100_000:
        raise ThroughputError(f"MIDI IN needs events >= 2 and rate_hz in 1..100000, got {events}, {rate_hz}")
    expected = events // 2 * 2
    board.reset_stats()
    board.set_midi_mode(c.MidiMode.SOURCE, rate_hz=rate_hz, count=expected // 2)
    run = _Direction("midi-in", "events", 0, USB_MIDI_EVENT_CEILING_PER_S, clock,
                     [f"device asked for {rate_hz} events/s"])
    with run.running(lambda: f"MIDI IN, event {run.items} of {expected}"):
        while run.items < expected:
            data = run.quiet_read(lambda: board.read_midi_packets(timeout=timeout_ms), "events", timeout_ms)
            if data is None:
                break
            n = sum(1 for i in range(0, len(data), 4) if data[i] & 0x0F)
            run.moved(n, n)
            if progress is not None:
                progress(run.items, expected)
    board.set_midi_mode(c.MidiMode.ECHO)
    device = settled_count(board, "midi_tx_packets", run.items)
    return run.finish(device, lost=0 if run.interrupted else max(0, expected - run.items))


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C during a throughput direction, carrying the partial result so the caller keeps it."""

    def __init__(self, result: ThroughputResult) -> None:
        super().__init__("interrupted")
        self.result = result


Interrupted = _Interrupted
"""Raised (a KeyboardInterrupt) when Ctrl-C stops a direction; `.result` holds what was measured."""


class Failed(ThroughputError):
    """A transfer error, timeout or unplugged board stopped a direction; `.result` holds what was
    measured before it (no device count: the device may be gone) and `.error` says what failed."""

    def __init__(self, result: ThroughputResult, error: str) -> None:
        super().__init__(error)
        self.result = result
        self.error = error
        result.notes.append(f"stopped by an error: {error}")


def _failed(result: ThroughputResult, where: str, exc: BaseException) -> Failed:
    from rig.measure.latency import describe_fault

    return Failed(result, f"{where}: {describe_fault(exc)}")


def midi_mxf(board: Any, events: int, *, batch: int = 256, clock: ClockNs = time.perf_counter_ns,
             timeout_s: float = 5.0, progress: Progress | None = None) -> ThroughputResult:
    """MIDI events/s through the MXF graph both ways: messages packed into user-mode buffers, through
    Unpacker -> Sequencer -> RenderSink to EP_MIDI_OUT, echoed by the board (MidiMode.ECHO), and back
    through the capture parser to time-stamped messages. `board` is a rig.client.board.Board."""
    from rig.miniport.usb_midi import UsbMidiMiniport

    if events < 1 or batch < 1:
        raise ThroughputError(f"MXF throughput needs events >= 1 and batch >= 1, got {events} and {batch}")
    board.set_midi_mode(c.MidiMode.ECHO)
    board.reset_stats()
    sent = 0
    notes: list[str] = [f"round trip through the MXF render and capture graphs, {batch} messages per buffer"]
    with UsbMidiMiniport(board, pool_size=max(1024, 4 * batch)) as miniport:
        run = _Direction("midi-mxf", "events", 0, USB_MIDI_EVENT_CEILING_PER_S, clock, notes)
        with run.running(lambda: f"MIDI through the MXF graph, {sent} sent, {run.items} back"):
            while sent < events:
                n = min(batch, events - sent)
                miniport.send(short_message(sent + k) for k in range(n))
                sent += n
                taken = len(miniport.take())
                run.moved(taken, taken)
                if progress is not None:
                    progress(run.items, events)
            deadline = clock() + int(timeout_s * 1e9)
            while run.items < sent and clock() < deadline:
                taken = len(miniport.take())
                if taken:
                    run.moved(taken, taken)
                else:
                    time.sleep(0.0005)
        miniport.stop()
        miniport.take()
    if run.items < sent and not run.interrupted:
        notes.append(f"{sent - run.items} echoes did not come back within {timeout_s} s")
    device = settled_count(board, "midi_rx_packets", sent)
    return run.finish(device, lost=0 if run.interrupted else sent - run.items)


DIN_MIDI_BYTES_PER_S = 31250 / 10
"""MIDI 1.0 DIN: 31.25 kbaud, 10 bits per byte (start, 8 data, stop)."""
DIN_SHORT_MESSAGES_PER_S = DIN_MIDI_BYTES_PER_S / 3
"""3-byte messages per second a DIN cable carries when running status cannot shorten them."""


def midi_os(link: Any, events: int, ceiling_per_s: float, direction: str = "midi-os",
            through: str = "through the OS MIDI ports", *, in_flight: int = 32,
            clock: ClockNs = time.perf_counter_ns, progress: Progress | None = None) -> ThroughputResult:
    """MIDI events/s through the OS MIDI ports (python-rtmidi) and back, or any other echoing latency
    Link (`direction`, `through` name it): short messages pipelined with up to `in_flight`
    outstanding, counted as their echoes arrive."""
    from rig.measure.latency import LatencySettings, run_latency
    from rig.measure.model import Run

    run = Run(kind="latency", path="midi-os", target="", target_kind="", real_timing=False)
    run_latency(link, LatencySettings(count=events, warmup=0, in_flight=in_flight, timeout_s=2.0), run,
                clock=clock, progress=progress)
    received = sorted(s.received_ns for s in run.samples if s.received_ns is not None)
    start = run.samples[0].sent_ns if run.samples else clock()
    end = received[-1] if received else start
    series = _Series(start)
    for t in received:
        series.add(1, t)
    notes = [f"round trip {through}, {in_flight} messages in flight"]
    if run.interrupted and run.error is None:
        notes.append("interrupted (Ctrl-C or SIGTERM)")
    result = ThroughputResult(direction, "events", 0, len(received), len(received), (end - start) / 1e9,
                              ceiling_per_s, series.points,
                              lost=sum(1 for s in run.samples if s.lost), notes=notes)
    if run.error is not None:
        raise Failed(result, f"MIDI {through}: {run.error}")
    if run.interrupted:
        raise _Interrupted(result)
    return result

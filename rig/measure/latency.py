"""Latency runners: one message in flight or pipelined, warm-up discarded, fixed or seeded random
gaps, on any `Link` — python-rtmidi ports (OS path), USB-MIDI packets through pyusb (driver path)
or frames on the vendor endpoints (with the board's receive/transmit stamps).

Times are taken with one monotonic clock (time.perf_counter_ns, CLOCK_MONOTONIC on Linux) right
before the send call and as soon as an answer is in the host's hands.
"""

from __future__ import annotations

import queue
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TypeVar

from host.midi.usbmidi import UsbMidiDecoder, encode_message
from rig.errors import RigError
from rig.measure.messages import maker
from rig.measure.model import Run, Sample
from rig.os_midi import jack_ports
from rig.os_midi.jack import client_name
from rig.os_midi.quiet import quietly

ClockNs = Callable[[], int]


class LatencyError(RigError, RuntimeError):
    """A latency run cannot go on (bad settings, a link that broke); the message says why."""


class SettingsError(LatencyError, ValueError):
    """A latency setting is out of range."""


@dataclass(frozen=True)
class LatencySettings:
    """How a latency run sends: how many, how fast, how many at once, which message."""

    count: int = 1000
    """Measured samples (after warm-up)."""
    warmup: int = 20
    """Samples taken first and discarded from the statistics (kept, flagged, in the files)."""
    in_flight: int = 1
    """1: the next message waits for the previous answer; >1: pipelined, at most this many out."""
    gap_min_s: float = 0.0
    gap_max_s: float = 0.0
    """Send-to-send interval: fixed when min == max, else uniform in [min, max] from `seed`."""
    seed: int = 1
    message: str = "short"
    """"short" (alternating note on/off), "sysex" or "frame"."""
    size: int = 0
    """SysEx total bytes or frame payload bytes."""
    timeout_s: float = 1.0
    """An answer later than this counts the message as lost."""

    def validate(self) -> None:
        """Raise SettingsError naming the first bad field."""
        if self.count < 1:
            raise SettingsError(f"count must be at least 1, got {self.count}")
        if self.warmup < 0:
            raise SettingsError(f"warmup must not be negative, got {self.warmup}")
        if self.in_flight < 1:
            raise SettingsError(f"in_flight must be at least 1, got {self.in_flight}")
        if not 0 <= self.gap_min_s <= self.gap_max_s:
            raise SettingsError(f"gaps need 0 <= min <= max, got {self.gap_min_s}..{self.gap_max_s}")
        if self.timeout_s <= 0:
            raise SettingsError(f"timeout must be positive, got {self.timeout_s}")
        maker(self.message, self.size)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for reports and the history."""
        return asdict(self)


@dataclass(frozen=True)
class Arrival:
    """One answer as the host got it: bytes, host time (ns), and device stamps when the path has them."""

    payload: bytes
    host_ns: int
    device_rx_us: int | None = None
    device_tx_us: int | None = None


class Link(Protocol):
    """A round-trip path: send one message, collect the answers that arrive."""

    def send(self, payload: bytes) -> None:
        """Send one message (MIDI bytes or a frame payload)."""
        ...

    def receive(self, timeout_s: float) -> list[Arrival]:
        """Answers that arrive within timeout_s (possibly several); [] when none did."""
        ...


# --- links over the real transports --------------------------------------------------------------


class MidiPortLike(Protocol):
    """The slice of rtmidi.MidiIn / MidiOut the rtmidi link uses."""

    def get_ports(self) -> list[str]: ...
    def open_port(self, port: int = ..., name: str | None = ...) -> Any: ...
    def close_port(self) -> None: ...


def find_port(port: Any, name: str) -> int:
    """Index of the rtmidi port whose name equals or starts with `name`; LatencyError lists them."""
    names: list[str] = list(port.get_ports())
    for i, candidate in enumerate(names):
        if candidate == name:
            return i
    for i, candidate in enumerate(names):
        if candidate.startswith(name) or name in candidate:
            return i
    raise LatencyError(f"no MIDI port named {name!r}; ports are: {', '.join(names) or '(none)'}")


class RtMidiLink:
    """OS MIDI path: python-rtmidi output and input ports; answers are stamped in rtmidi's callback."""

    def __init__(self, out_name: str, in_name: str, clock: ClockNs = time.perf_counter_ns,
                 api: int | None = None) -> None:
        import rtmidi

        kwargs: dict[str, Any] = {} if api is None else {"rtapi": api}
        self.name = f"OS MIDI ports {out_name!r} -> {in_name!r}"
        self._clock = clock
        self._queue: queue.SimpleQueue[tuple[bytes, int]] = queue.SimpleQueue()
        self._sysex = bytearray()
        self._probe_answer: bytes | None = None
        self.late_probe_answers = 0
        """Answers to wait_ready's probes that came after the first and the drain (under load several
        probes are in flight): not measurement answers, so not counted as unexpected (a CI run
        failed 'unexpected 1' so)."""
        self.midi_out = jack_ports.open_client(
            lambda: quietly(lambda: rtmidi.MidiOut(name=client_name("rig measure out"), **kwargs)))
        self.midi_in = jack_ports.open_client(
            lambda: quietly(lambda: rtmidi.MidiIn(name=client_name("rig measure in"), queue_size_limit=4096,
                                                  **kwargs)))
        try:
            self.midi_in.ignore_types(sysex=False, timing=True, active_sense=True)
            self.midi_in.set_callback(self._on_message)
            jack_ports.call(self.midi_in, "open_port", find_port(self.midi_in, in_name), "rig measure in")
            jack_ports.call(self.midi_out, "open_port", find_port(self.midi_out, out_name), "rig measure out")
        except Exception:
            self.close()
            raise

    def _on_message(self, event: tuple[list[int], float], _data: object = None) -> None:
        now = self._clock()
        self._queue.put((bytes(event[0]), now))

    PROBE = bytes((0x9F, 0x7F, 0x7F))
    """Note on, channel 16: outside the measurement's messages (channels 1 and 2 only)."""

    def wait_ready(self, timeout_s: float = 5.0, expect: bytes | None = None) -> float:
        """Send a probe every 100 ms until one comes back (port connections in some MIDI systems are
        made asynchronously); returns seconds waited. LatencyError when nothing answers in time."""
        start = self._clock()
        deadline = start + int(timeout_s * 1e9)
        answer = self.PROBE if expect is None else expect
        while self._clock() < deadline:
            self.send(self.PROBE)
            if any(a.payload == answer for a in self.receive(0.1)):
                self._probe_answer = answer  # from now on, a probe's answer is a late one
                drain(self)
                return (self._clock() - start) / 1e9
        raise LatencyError(f"no answer to a probe message within {timeout_s} s: is the device echoing "
                           "(MidiMode.ECHO) and are the ports connected?")

    def send(self, payload: bytes) -> None:
        """One MIDI message through the OS."""
        self.midi_out.send_message(list(payload))

    def receive(self, timeout_s: float) -> list[Arrival]:
        """Wait up to timeout_s for the first answer, then take whatever else is queued."""
        out: list[Arrival] = []
        try:
            first = self._queue.get(timeout=timeout_s) if timeout_s > 0 else self._queue.get_nowait()
        except queue.Empty:
            return out
        pending = [first]
        while True:
            try:
                pending.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for data, t in pending:
            # Some OS MIDI APIs hand SysEx over in pieces; join them until F7.
            if self._sysex or data[:1] == b"\xF0":
                self._sysex += data
                if self._sysex[-1:] != b"\xF7":
                    continue
                data, self._sysex = bytes(self._sysex), bytearray()
            if data == self._probe_answer:  # an earlier probe's answer, later than the drain
                self.late_probe_answers += 1
                continue
            out.append(Arrival(data, t))
        return out

    def close(self) -> None:
        """Close both ports."""
        for port in (getattr(self, "midi_in", None), getattr(self, "midi_out", None)):
            if port is not None:
                jack_ports.close(port)


class BoardMidi(Protocol):
    """The slice of rig.client.board.Board the USB-MIDI link uses."""

    def write_midi_packets(self, data: bytes, timeout: int | None = None) -> int: ...
    def read_midi_packets(self, timeout: int | None = None) -> bytes: ...


T = TypeVar("T")


def unless_timeout(read: Callable[[], T]) -> T | None:
    """What `read()` returns, or None when it timed out (TimeoutError or pyusb's USBTimeoutError):
    a read that found nothing is an answer; any other error is raised."""
    try:
        return read()
    except Exception as exc:
        if isinstance(exc, TimeoutError) or type(exc).__name__ == "USBTimeoutError":
            return None
        raise


class UsbMidiLink:
    """Driver path: USB-MIDI event packets written to EP_MIDI_OUT and read from EP_MIDI_IN by pyusb."""

    def __init__(self, board: BoardMidi, cable: int = 0, clock: ClockNs = time.perf_counter_ns) -> None:
        self.board = board
        self.cable = cable
        self.name = f"USB-MIDI packets (EP_MIDI_OUT/EP_MIDI_IN, cable {cable})"
        self._clock = clock
        self._decoder = UsbMidiDecoder()

    def send(self, payload: bytes) -> None:
        """Pack and write one message (several packets for SysEx, in one transfer of up to 64 bytes
        each)."""
        packets = encode_message(payload, self.cable)
        for i in range(0, len(packets), 64):
            self.board.write_midi_packets(packets[i:i + 64])

    def receive(self, timeout_s: float) -> list[Arrival]:
        """One bulk read; messages it completes, stamped when the read returned."""
        data = unless_timeout(lambda: self.board.read_midi_packets(timeout=max(1, round(timeout_s * 1000))))
        if data is None:
            return []
        now = self._clock()
        return [Arrival(m.data, now) for cable, m in self._decoder.messages(data)
                if cable == self.cable and m.complete]


class FrameLike(Protocol):
    """The fields of rig.contract.frame_wire.Frame the frame link reads."""

    @property
    def payload(self) -> memoryview: ...
    @property
    def rx_time_us(self) -> int: ...
    @property
    def tx_time_us(self) -> int: ...


class BoardFrames(Protocol):
    """The slice of rig.client.board.Board the frame link uses."""

    def send_frame(self, payload: bytes, timeout: int | None = None) -> int: ...
    def receive_frame(self, timeout: int | None = None) -> FrameLike: ...


class FrameLink:
    """Frame round trip on the vendor bulk endpoints (board in FrameMode.ECHO); answers carry the
    board's receive and transmit times."""

    def __init__(self, board: BoardFrames, clock: ClockNs = time.perf_counter_ns) -> None:
        self.board = board
        self.name = "frames (vendor bulk OUT/IN)"
        self._clock = clock

    def send(self, payload: bytes) -> None:
        """Write one frame."""
        self.board.send_frame(payload)

    def receive(self, timeout_s: float) -> list[Arrival]:
        """Read one frame, stamped when the read returned."""
        frame = unless_timeout(lambda: self.board.receive_frame(timeout=max(1, round(timeout_s * 1000))))
        if frame is None:
            return []
        now = self._clock()
        return [Arrival(bytes(frame.payload), now, frame.rx_time_us, frame.tx_time_us)]


# --- the runner ------------------------------------------------------------------------------------

def drain(link: Link, limit: int = 10_000) -> int:
    """Throw away answers left over from before the run (another program, an earlier run)."""
    count = 0
    while count < limit:
        stale = link.receive(0.0)
        if not stale:
            return count
        count += len(stale)
    raise LatencyError(f"the link keeps delivering messages nobody sent ({limit} drained); is another "
                       "program sending to the device?")


Progress = Callable[[int, int], None]
"""Called with (samples resolved, samples planned) as the run goes."""


def describe_fault(exc: BaseException) -> str:
    """One line naming an exception's type and message (the rig's errors name the target and transfer)."""
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"


def link_name(link: object) -> str:
    """What a link transfers over, for error messages: its `name` attribute, else its class name."""
    name = getattr(link, "name", None)
    return name if isinstance(name, str) else type(link).__name__


def run_latency(link: Link, settings: LatencySettings, run: Run, *,
                expect: Callable[[bytes], bytes] | None = None,
                clock: ClockNs = time.perf_counter_ns,
                sleep: Callable[[float], None] = time.sleep,
                progress: Progress | None = None) -> Run:
    """Take warm-up + count samples over `link` into `run`. Ctrl-C (KeyboardInterrupt) or any error
    from the link (a transfer error or timeout, an unplugged board) ends the run early, keeps every
    sample resolved so far and marks the run interrupted; an error is recorded in `run.error`
    naming the target, the transfer and the fault, and is not raised.

    `expect` maps a sent message to the answer the device should give (identity for ECHO).
    """
    settings.validate()
    make = maker(settings.message, settings.size)
    answer_of = expect or (lambda payload: payload)
    rng = random.Random(settings.seed)
    total = settings.warmup + settings.count
    timeout_ns = int(settings.timeout_s * 1e9)
    outstanding: dict[bytes, Sample] = {}
    finished: dict[bytes, Sample] = {}
    """Answered or lost messages by expected answer: a second answer is a duplicate, a late one late."""
    resolved = 0
    next_seq = 0
    next_send_ns = clock()
    run.settings = {**run.settings, **settings.as_dict()}
    columns = run.sample_columns()
    run.columns = columns  # kept as samples are taken, so the summary makes no pass over them
    run.drained = drain(link)

    def gap_ns() -> int:
        if settings.gap_max_s == settings.gap_min_s:
            return int(settings.gap_min_s * 1e9)
        return int(rng.uniform(settings.gap_min_s, settings.gap_max_s) * 1e9)

    def resolve() -> None:
        nonlocal resolved
        resolved += 1
        if progress is not None:
            progress(resolved, total)

    stage = "before the first send"
    try:
        while next_seq < total or outstanding:
            now = clock()
            # `outstanding` is in send order and every message has the same timeout: expire from the front.
            while outstanding:
                key, oldest = next(iter(outstanding.items()))
                if now - oldest.sent_ns < timeout_ns:
                    break
                oldest.lost = True
                del outstanding[key]
                finished[key] = oldest
                resolve()
            may_send = next_seq < total and len(outstanding) < settings.in_flight
            if may_send and now >= next_send_ns:
                payload = make(next_seq)
                key = answer_of(payload)
                if key in outstanding:
                    raise LatencyError(f"message {next_seq} looks like one still in flight; lower in_flight")
                sample = Sample(seq=next_seq, sent_ns=0, warmup=next_seq < settings.warmup, size=len(payload))
                sample.sent_ns = clock()
                stage = f"sending message {next_seq}"
                link.send(payload)
                outstanding[key] = sample
                run.samples.append(sample)
                columns.sent(sample)
                next_send_ns = sample.sent_ns + gap_ns()
                next_seq += 1
                continue
            deadlines = [next(iter(outstanding.values())).sent_ns + timeout_ns] if outstanding else []
            if may_send:
                deadlines.append(next_send_ns)
            wait_s = max(0.0, (min(deadlines) - now) / 1e9) if deadlines else 0.0
            if not outstanding:
                sleep(wait_s)
                continue
            stage = f"receiving (after {resolved} of {total} samples resolved)"
            for arrival in link.receive(wait_s):
                matched = outstanding.pop(arrival.payload, None)
                if matched is None:
                    earlier = finished.get(arrival.payload)
                    if earlier is None:
                        run.unexpected += 1
                    elif earlier.lost:
                        run.late += 1
                    else:
                        run.arrival_order.append(earlier.seq)  # counted as a duplicate
                    continue
                finished[arrival.payload] = matched
                matched.received_ns = arrival.host_ns
                matched.device_rx_us = arrival.device_rx_us
                matched.device_tx_us = arrival.device_tx_us
                columns.answered(matched)
                run.arrival_order.append(matched.seq)
                resolve()
    except KeyboardInterrupt:
        _keep_resolved(run, outstanding)
    except LatencyError:
        raise  # the run was asked for something impossible: not a device fault
    except Exception as exc:
        _keep_resolved(run, outstanding)
        run.error = (f"{run.target or 'target'}: {link_name(link)} failed {stage}: {describe_fault(exc)}; "
                     f"kept {resolved} resolved samples")
    return run


def _keep_resolved(run: Run, outstanding: dict[bytes, Sample]) -> None:
    """Mark the run stopped early and drop the messages still in flight (neither answered nor lost)."""
    run.interrupted = True
    run.abandoned = len(outstanding)
    if run.columns is not None:
        run.columns.abandon(outstanding.values())
    # the messages in flight are the last ones sent: cut them from the tail, not by a pass over all
    abandoned = {id(s) for s in outstanding.values()}
    keep = len(run.samples)
    while abandoned and keep and id(run.samples[keep - 1]) in abandoned:
        abandoned.discard(id(run.samples[keep - 1]))
        keep -= 1
    if abandoned:  # answers came out of order, so not all of them are at the tail: the full pass
        run.samples = [s for s in run.samples[:keep] if id(s) not in abandoned]
    else:
        del run.samples[keep:]

"""The OS-MIDI miniport (OS mode): the same MXF graphs on python-rtmidi ports instead of raw USB.

Render: Unpacker -> Sequencer -> RenderSink; the sink's packets are decoded back into whole messages
(running status expanded, SysEx joined) and sent with MidiOut.send_message, one message each, after
the graph call returns (so a failing send never strands an event outside its allocator).
Capture: the MidiIn callback (python-rtmidi's thread; on JACK a polling thread of ours, see
`_polled`) stamps each message with the injected master
clock and feeds its bytes as INCOMPLETE events into the capture sink -> MessageCollector.

Host books in USB-MIDI packet units (what a USB-MIDI device counts): when a `Board` is given, every
message sent adds its packet count to `board.host.midi_packets_tx` and every message received to
`midi_packets_rx`, so the plugin's books check holds across the OS driver as well.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from host.midi import UsbMidiDecoder
from host.mxf.clock import MasterClock
from rig.client.board import Board
from rig.miniport.capture import CapturedMessage
from rig.miniport.counted_ports import uncounted, usb_midi_packets
from rig.miniport.errors import MiniportError, MiniportTimeout
from rig.miniport.graph import Deadline, MxfMiniport
from rig.os_midi.input_queue import INPUT_QUEUE_LIMIT, QueueWatch

JACK_MAX_MESSAGE = 16379
"""Largest message python-rtmidi's JACK MidiOut delivers: RtMidi queues each message with its length
in a 16 KiB JACK ring buffer and silently drops one that does not fit (measured: 16379 passes, 16380
does not)."""
UNLIMITED = 1 << 31


def api_message_limit(out: Any) -> int:
    """The largest message `out` can send: JACK_MAX_MESSAGE on JACK, else unlimited."""
    try:
        import rtmidi

        if out.get_current_api() == rtmidi.API_UNIX_JACK:
            return JACK_MAX_MESSAGE
    except (ImportError, AttributeError):
        pass
    return UNLIMITED


POLL_INTERVAL_S = 0.0005
"""How long the JACK input thread sleeps when RtMidi's queue is empty."""


def _polled(inp: Any) -> bool:
    """True for a python-rtmidi JACK MidiIn: its callback would run Python (and wait for the GIL) inside
    JACK's process cycle, and a cycle that overruns its period loses its MIDI events (measured: tens
    of notes per 2000-note flood at a 256-frame period). Such input is polled from our own thread;
    RtMidi's queue holds it meanwhile. Other inputs (ALSA, fakes) keep the callback."""
    try:
        import rtmidi

        return bool(inp.get_current_api() == rtmidi.API_UNIX_JACK)
    except (ImportError, AttributeError):
        return False


PUMP_STOP_S = 30.0
"""How long stop() waits for the JACK input thread (it looks at its stop flag every POLL_INTERVAL_S)."""
RAW_SLICE = 64
"""Received bytes fed to the capture sink per chain (one full-speed USB packet's worth of MIDI)."""


class MessageTooLong(MiniportError, ValueError):
    """A message longer than the OS MIDI API can carry."""


@dataclass
class OsMidiCounters:
    """What went through the OS ports."""

    messages_sent: int = 0
    packets_sent: int = 0
    """USB-MIDI packets the sent messages make (what the device counts as received)."""
    messages_received: int = 0
    packets_received: int = 0
    send_errors: int = 0
    lost_bytes: int = 0
    slow_answers: int = 0
    """Send-window waits longer than the device's time (send_timeout_s) for an answer that then came,
    within the MIDI system's delay bound: a slow path (late JACK cycles on a loaded machine), nothing
    lost."""
    longest_answer_wait_s: float = 0.0
    """The longest a full send window waited for an answer."""


class OsMidiMiniport(MxfMiniport):
    """The MXF render and capture graphs on an opened rtmidi MidiOut / MidiIn pair."""

    def __init__(self, out: Any, inp: Any, *, name: str = "OS MIDI", board: Board | None = None,
                 clock: MasterClock | None = None, schedule_prefetch_100ns: int = 0, pool_size: int = 1024,
                 buffer_size: int = 4096, buffer_count: int = 64, checked: bool = False,
                 channel_group: int = 1, send_window: int | None = None, send_timeout_s: float = 5.0,
                 delay_bound_s: float = 0.0, max_message_bytes: int | None = None,
                 input_queue_limit: int = INPUT_QUEUE_LIMIT) -> None:
        self.out = uncounted(out)  # this miniport keeps the Board's books itself: count once
        self.inp = uncounted(inp)
        self.name = name
        self.board = board
        if send_window is not None and send_window < 1:
            raise ValueError(f"send_window must be at least 1 (or None), not {send_window}")
        self.send_window = send_window
        """When set, at most this many messages are sent and not yet received back (flow control for a
        device that answers every message, as ECHO and TRANSFORM do): OS MIDI queues (JACK's ring
        buffers, for one) drop what overflows, so a flood must not outrun the device."""
        self.send_timeout_s = send_timeout_s
        """How long the device may take to answer; a full send window waits this long plus delay_bound_s
        for an answer before MiniportTimeout."""
        if delay_bound_s < 0:
            raise ValueError(f"delay_bound_s must not be negative, not {delay_bound_s}")
        self.delay_bound_s = delay_bound_s
        """How much later than the device's time the OS MIDI system may deliver (MidiSystem.delay_bound_s:
        JACK's own bound on a server started here); added to every wait for an answer."""
        limit = api_message_limit(self.out) if max_message_bytes is None else max_message_bytes
        self.max_message_bytes = limit
        """Messages longer than this are refused by `send` (the OS API would lose them silently)."""
        self._decoder = UsbMidiDecoder()
        self._outbox: deque[bytes] = deque()
        super().__init__(name, self._rendered, clock=clock, schedule_prefetch_100ns=schedule_prefetch_100ns,
                         pool_size=pool_size, buffer_size=buffer_size, buffer_count=buffer_count,
                         checked=checked, channel_group=channel_group)
        self.counters = OsMidiCounters()
        self.queue_watch = QueueWatch(input_queue_limit)
        """Whether the JACK input thread ever found `inp`'s RtMidi queue (opened with
        `input_queue_limit`) full: a loss then is the host's (rig.os_midi.input_queue)."""
        self._lock = threading.Lock()
        self._pump: threading.Thread | None = None
        self._stop_pump = threading.Event()

    @property
    def where(self) -> str:
        """How messages name this miniport: its name."""
        return self.name

    # --- state ---

    def start(self) -> None:
        """Every filter to RUN; the MidiIn callback installed."""
        if self.running:
            return
        self._run_filters()
        if _polled(self.inp):
            self._stop_pump.clear()
            self._pump = threading.Thread(target=self._poll, name=f"{self.name} input", daemon=True)
            self._pump.start()
        else:
            self.inp.set_callback(self._received)
        self.running = True

    def stop(self) -> None:
        """Callback removed, every filter to STOP (the sequencer discards what it holds)."""
        if self._pump is not None:
            self._stop_pump.set()
            self._pump.join(timeout=PUMP_STOP_S)
            if self._pump.is_alive():  # its MidiIn must not be deleted under it (a SIGSEGV): say so
                raise MiniportError(f"{self.name}: the input thread did not stop within {PUMP_STOP_S} s; "
                                    f"do not delete the MidiIn it reads")
            self._pump = None
        elif self.running:
            self.inp.cancel_callback()
        with self._lock:
            self._stop_filters()
        self.running = False

    # --- render ---

    def _rendered(self, packets: bytes) -> None:
        for _cable, message in self._decoder.messages(packets):
            if message.complete:
                self._outbox.append(message.data)

    def _wait_for_window(self) -> None:
        window = self.send_window
        if window is None:
            return
        counters = self.counters
        if counters.messages_sent - counters.messages_received < window:
            return
        deadline = Deadline(self.send_timeout_s + self.delay_bound_s)
        started = time.monotonic()
        try:
            with self.messages.cond:
                while counters.messages_sent - counters.messages_received >= window:
                    if deadline.expired():
                        raise MiniportTimeout(
                            f"{self.name}: {counters.messages_sent - counters.messages_received} message(s) "
                            f"sent and not answered within {self._within(self.send_timeout_s)} (send window "
                            f"{window}); {len(self._outbox)} message(s) still pending")
                    self.messages.cond.wait(min(deadline.remaining(), 0.05))
        finally:
            waited = time.monotonic() - started
            counters.longest_answer_wait_s = max(counters.longest_answer_wait_s, waited)
        if waited > self.send_timeout_s:
            counters.slow_answers += 1

    def _within(self, timeout_s: float) -> str:
        """'5.0 s', or '5.0 s + 40.0 s for the MIDI system' with a delay bound."""
        extra = f" + {self.delay_bound_s} s for the MIDI system" if self.delay_bound_s else ""
        return f"{timeout_s} s{extra}"

    def _deliver(self) -> int:
        """Send the rendered messages to MidiOut, within the send window; returns messages sent."""
        sent = 0
        while self._outbox:
            data = self._outbox[0]
            self._wait_for_window()
            try:
                self.out.send_message(list(data))
            except Exception as exc:  # rtmidi.RtMidiError and friends
                self.counters.send_errors += 1
                raise MiniportError(f"{self.name}: MidiOut.send_message failed ({exc}); {len(self._outbox)} "
                                    f"message(s) still pending") from exc
            self._outbox.popleft()
            packets = usb_midi_packets(data)
            self.counters.messages_sent += 1
            self.counters.packets_sent += packets
            if self.board is not None:
                self.board.host.midi_packets_tx += packets
            sent += 1
        return sent

    @property
    def pending_messages(self) -> int:
        """Rendered messages not yet handed to MidiOut."""
        return len(self._outbox)


    def _check_messages(self, datas: list[bytes]) -> None:
        """MessageTooLong, before anything is sent, for a message the OS MIDI API would lose."""
        limit = self.max_message_bytes
        for data in datas:
            if len(data) > limit:
                raise MessageTooLong(f"{self.name}: a {len(data)}-byte message exceeds the {limit}-byte "
                                     f"limit of this OS MIDI API (it would be lost silently); nothing sent")


    # --- capture ---

    def _received(self, event: tuple[list[int], float], data: object = None) -> None:
        message, _delta = event
        raw = bytes(message)
        now = self.clock.time_100ns()
        with self._lock:
            if not raw:
                return
            self.counters.messages_received += 1
            packets = usb_midi_packets(raw)
            self.counters.packets_received += packets
            if self.board is not None:
                self.board.host.midi_packets_rx += packets
            for start in range(0, len(raw), RAW_SLICE):
                # Slice by slice, as a USB transfer would bring them, so a long SysEx needs only a few
                # events at a time from the pool (each slice's events go back before the next).
                self.counters.lost_bytes += self._capture_raw(raw[start:start + RAW_SLICE], now,
                                                              self.channel_group)

    def _poll(self) -> None:
        """JACK input: take messages from RtMidi's queue in our own thread until stop()."""
        get_message = self.inp.get_message
        stop = self._stop_pump
        watch = self.queue_watch
        while not stop.is_set():
            event = get_message()
            if event is None:
                watch.empty()
                stop.wait(POLL_INTERVAL_S)
            else:
                watch.took()
                self._received(event)

    def receive(self, count: int, timeout_s: float = 5.0) -> list[CapturedMessage]:
        """Wait for `count` captured messages, `timeout_s` (the device's time) plus delay_bound_s;
        MiniportTimeout names how many arrived."""
        got = self._wait_for_messages(count, Deadline(timeout_s + self.delay_bound_s))
        if len(got) < count:
            raise MiniportTimeout(f"{self.name}: {len(got)} of {count} message(s) arrived within "
                                  f"{self._within(timeout_s)}{self.queue_watch.describe()}")
        return got

    def take(self) -> list[CapturedMessage]:
        """Every message captured so far, without waiting."""
        return self.messages.take()

    # --- books ---

    def books(self) -> list[str]:
        """Everything still out (events, held chains, unsent or untaken messages, lost bytes)."""
        return self._books(f"{len(self._outbox)} message(s) not yet sent" if self._outbox else None,
                           self.counters.lost_bytes)

    def close(self) -> None:
        """Stop (the ports stay open: they belong to the caller)."""
        self.stop()

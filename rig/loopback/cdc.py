"""The board's CDC function and console, as firmware/src/cdc.c and console_core.c: the CDC class
requests and endpoints, the CONSOLE_COMMANDS line interpreter, the event log lines (`log on|off`), and
a pty that pyserial opens like any serial port, watched for the 1200-baud touch.

The same interpreter serves the pty and the CDC bulk endpoints, as the firmware serves one CDC port.
Log lines are the firmware's text (firmware/src/log.c) byte for byte: `# <device us> <event>[ k=v...]`.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from rig import contract as c
from rig.links.pty_line import LineWatcher, open_raw_pty
from rig.loopback.usbd import AfterStatus, BoardCore, PacketIn, Stall

# CDC PSTN 1.2 class requests (table 13).
SET_LINE_CODING, GET_LINE_CODING, SET_CONTROL_LINE_STATE = 0x20, 0x21, 0x22
CLASS_OUT_TO_INTERFACE, CLASS_IN_TO_INTERFACE = 0x21, 0xA1
LINE_CODING = struct.Struct("<IBBB")
"""dwDTERate, bCharFormat (stop bits), bParityType, bDataBits (PSTN 1.2 table 17)."""
CDC_QUEUE_BYTES = 2048
"""Console output the board holds for a host that does not read (the firmware's CDC queue)."""

LOG_LINE_MAX = 112
"""Longest log line, CR LF included (the firmware's CONSOLE_LOG_MAX); longer text is cut."""


def log_line(time_us: int, event: str, fields: Sequence[tuple[str, str | int]] = ()) -> bytes:
    """One log line as the firmware sends it: `# <time_us> <event>[ key=value...]` CR LF."""
    text = f"{c.CONSOLE_LOG_PREFIX}{time_us} {event}" + "".join(f" {key}={value}" for key, value in fields)
    return text.encode()[:LOG_LINE_MAX - 2] + b"\r\n"


def shown(word: str) -> str:
    """A command word as a reply shows it: characters 0x21..0x7E other than backslash and quote as they
    are, every other byte as \\xNN (lower-case hex), so a reply never carries control or high bytes."""
    return "".join(ch if 0x21 <= ord(ch) <= 0x7E and ch not in "\\'" else f"\\x{ord(ch):02x}" for ch in word)


def _mode_name(kind: type[c.MidiMode] | type[c.FrameMode], mode: int) -> str | int:
    try:
        return kind(mode).name
    except ValueError:
        return mode


class ConsoleHost(Protocol):
    """What the console asks of the board."""

    def console_stats(self) -> dict[str, int]:
        """Every Stats counter by name."""
        ...

    def console_time_us(self) -> int:
        """Device time in microseconds."""
        ...

    def console_reset_stats(self) -> None:
        """Zero the counters."""
        ...

    def console_bytes(self, rx: int, tx: int) -> None:
        """Count console bytes received and sent."""
        ...


class ConsoleSession:
    """Line interpreter: bytes in, reply bytes out through `write`; lines end with CR or LF.

    Each reply is its lines ending in CR LF, then the prompt; input is not echoed.
    """

    MAX_LINE = 256

    def __init__(self, host: ConsoleHost, write: Callable[[bytes], int], *, count_sent: bool = True) -> None:
        self._host = host
        self._write = write
        self._count_sent = count_sent
        """Count cdc_tx_bytes as `write` takes bytes (the pty); the CDC endpoints count when read."""
        self._line = bytearray()
        self.log_on = False
        """Log lines are sent (`log on`); off when the session is made, as the firmware at power-on."""
        self.log_dropped = 0
        """Log lines not sent whole because the port's output was full (shown by `log`)."""

    def _send(self, text: str) -> None:
        data = text.encode()
        sent = self._write(data)
        if self._count_sent:
            self._host.console_bytes(0, sent)

    def greet(self) -> None:
        """Send the prompt (when a session starts)."""
        self._send(c.CONSOLE_PROMPT)

    def feed(self, data: bytes) -> None:
        """Take received bytes; run every complete line."""
        self._host.console_bytes(len(data), 0)
        for byte in data:
            if byte in (0x0D, 0x0A):
                if self._line:
                    line = self._line.decode("latin-1")  # one character per byte, as received
                    self._line.clear()
                    self._send(self.run(line))
            elif len(self._line) < self.MAX_LINE:
                self._line.append(byte)

    def drop_line(self) -> None:
        """The session ends (bus reset, SET_CONFIGURATION): a partial line is dropped."""
        self._line.clear()

    def run(self, line: str) -> str:
        """The reply to one command line, prompt included. Words are separated by spaces and tabs only;
        no byte edits the line (no backspace handling), as in the firmware's console_core.c."""
        words = [word for word in re.split("[ \t]+", line) if word]
        command = words[0] if words else ""
        if command == "help":
            lines = [f"{name} - {doc}" for name, doc in c.CONSOLE_COMMANDS.items()]
        elif command == "version":
            major, minor, patch = c.FIRMWARE_VERSION
            lines = [f"firmware {major}.{minor}.{patch} contract {c.CONTRACT_VERSION}"]
        elif command == "stats":
            lines = [f"{name}={value}" for name, value in self._host.console_stats().items()]
        elif command == "time":
            lines = [str(self._host.console_time_us())]
        elif command == "reset-stats":
            self._host.console_reset_stats()
            lines = ["ok"]
        elif command == "log":
            lines = self._run_log(words[1:])
        elif not command:
            lines = []
        else:
            lines = [f"error: unknown command '{shown(command)}' (try help)"]
        return "".join(f"{text}\r\n" for text in lines) + c.CONSOLE_PROMPT

    def _run_log(self, args: list[str]) -> list[str]:
        if args and args[0] not in ("on", "off"):
            return ["error: usage: log [on|off]"]
        if args:
            self.log_on = args[0] == "on"
        return [f"log {'on' if self.log_on else 'off'} dropped={self.log_dropped}"]

    # --- log lines: one method per event, as firmware/src/log.h ---------------------------------

    def log(self, event: str, fields: Sequence[tuple[str, str | int]] = ()) -> None:
        """Send one log line stamped with device time while `log on`; a line the port cannot take
        whole counts in `log_dropped` (the board never waits for a reader)."""
        if not self.log_on:
            return
        data = log_line(self._host.console_time_us(), event, fields)
        sent = self._write(data)
        if self._count_sent:
            self._host.console_bytes(0, sent)
        if sent < len(data):
            self.log_dropped += 1

    def log_bus_reset(self) -> None:
        """A bus reset."""
        self.log("bus-reset")

    def log_configuration(self, value: int) -> None:
        """SET_CONFIGURATION(value)."""
        if value:
            self.log("configured", [("value", value)])
        else:
            self.log("unconfigured")

    def log_midi_mode(self, mode: int) -> None:
        """SET_MIDI_MODE accepted."""
        self.log("midi-mode", [("mode", _mode_name(c.MidiMode, mode))])

    def log_frame_mode(self, mode: int) -> None:
        """SET_FRAME_MODE accepted."""
        self.log("frame-mode", [("mode", _mode_name(c.FrameMode, mode))])

    def log_stall(self, bm_request_type: int, b_request: int) -> None:
        """A control request answered with STALL."""
        self.log("stall", [("bmRequestType", f"0x{bm_request_type:02X}"), ("bRequest", f"0x{b_request:02X}")])

    def log_frame_bad_header(self, length: int) -> None:
        """A frame transfer of `length` bytes with a bad magic, version or length."""
        self.log("frame-error", [("kind", "header"), ("len", length)])

    def log_frame_bad_crc(self, seq: int) -> None:
        """A frame whose payload CRC did not match."""
        self.log("frame-error", [("kind", "crc"), ("seq", seq)])

    def log_frame_seq_gap(self, seq: int, expected: int) -> None:
        """A frame whose sequence number skipped or repeated."""
        self.log("frame-error", [("kind", "seq"), ("seq", seq), ("expected", expected)])

    def log_ring_full(self, slots: int) -> None:
        """The frame ring filled: EP_FRAME_OUT is NAKed."""
        self.log("ring-full", [("slots", slots)])


class PtyConsole:
    """A pty whose slave path pyserial opens; a thread serves the master side and polls the line
    settings (rig.links.pty_line), calling `on_touch` when the rate changes to CONSOLE_BAUD_BOOTSEL (the
    1200-baud touch)."""

    POLL_S = 0.02

    def __init__(self, host: ConsoleHost, on_touch: Callable[[], None]) -> None:
        self._master, self._slave, self.path = open_raw_pty()
        self._on_touch = on_touch
        self._session = ConsoleSession(host, self._write)
        self.session = self._session
        """The interpreter behind the pty (the board sends log lines through it)."""
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        self._line = LineWatcher(self._slave)
        self._thread = threading.Thread(target=self._serve, name=f"loopback console {self.path}", daemon=True)
        self._thread.start()

    def _write(self, data: bytes) -> int:
        try:
            return os.write(self._master, data)
        except (BlockingIOError, OSError):
            return 0  # nobody reads the port: output is dropped, as a CDC port with no host

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master, self._wake_r], [], [], self.POLL_S)
            if self._master in ready:
                try:
                    data = os.read(self._master, 4096)
                except (BlockingIOError, InterruptedError):
                    data = b""
                except OSError:
                    data = b""
                if data:
                    self._session.feed(data)
            change = self._line.poll()
            if change is not None and change.is_touch:
                self._on_touch()

    def close(self) -> None:
        """Stop the thread and close the pty; safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)



class CdcFunction:
    """The CDC communication and data interfaces: line coding and control line state, the
    EP_CDC_OUT / EP_CDC_IN console session and its bounded output queue. An entry of the usbd class
    table; `touch` is the reboot the 1200-baud line coding asks for."""

    itf_first = c.IF_CDC_COMM
    itf_count = 2
    endpoints: tuple[int, ...] = (c.EP_CDC_NOTIFY, c.EP_CDC_OUT, c.EP_CDC_IN)

    def __init__(self, core: BoardCore, host: ConsoleHost, touch: Callable[[], None]) -> None:
        self._core = core
        self._touch = touch
        self.txq = bytearray()
        """Console output not yet sent (the firmware's byte queue, at most CDC_QUEUE_BYTES)."""
        self._feeding = False
        """Input being handled: replies go out once it is done, in full packets (cdc.c's batching)."""
        self.ep_in = PacketIn(core, "EP_CDC_IN", c.BULK_PACKET_SIZE, lambda: len(self.txq), self._take)
        """EP_CDC_IN: a packet holds what was queued (up to 64 bytes) when the endpoint was idle."""
        self.ep_in.enabled = False
        self.session = ConsoleSession(host, self._queue_write, count_sent=False)
        self.line_coding = LINE_CODING.pack(115200, 0, 0, 8)
        self.control_line_state = 0

    def power_on(self) -> None:
        """Default line coding, lines down."""
        self.line_coding = LINE_CODING.pack(115200, 0, 0, 8)
        self.control_line_state = 0

    # --- the class table entry ---------------------------------------------------------------

    def reset(self, was_configured: bool) -> None:
        """Output queued for the session that ends here is dropped; lines queued while no session was
        open (the bus reset's log line) wait for the next one (as cdc.c)."""
        if was_configured:
            self.txq.clear()
        self.ep_in.enabled = False
        self.ep_in.reset()
        self.session.drop_line()

    def open(self) -> None:
        """The endpoints exist again; queued output waits for the next write, as in cdc.c."""
        self.ep_in.enabled = True

    def control_in(self, bm: int, req: int, value: int, index: int) -> bytes:
        """GET_LINE_CODING; any other class IN request stalls."""
        if bm == CLASS_IN_TO_INTERFACE and req == GET_LINE_CODING and index == c.IF_CDC_COMM:
            return self.line_coding
        raise Stall(f"class IN request 0x{req:02x} to index {index}")

    def control_out(self, bm: int, req: int, value: int, index: int, data: bytes) -> AfterStatus | None:
        """SET_LINE_CODING (1200 baud: reboot after the status stage) and SET_CONTROL_LINE_STATE."""
        if bm != CLASS_OUT_TO_INTERFACE or index != c.IF_CDC_COMM:
            raise Stall(f"class OUT request 0x{req:02x} (bmRequestType 0x{bm:02x}) to index {index}")
        if req == SET_LINE_CODING:
            if len(data) != LINE_CODING.size:
                raise Stall(f"SET_LINE_CODING needs {LINE_CODING.size} bytes, got {len(data)}")
            baud, stop, parity, bits = LINE_CODING.unpack(data)
            if stop > 2 or parity > 4 or bits not in (5, 6, 7, 8, 16):
                raise Stall(f"SET_LINE_CODING stop {stop} parity {parity} bits {bits}")
            self.line_coding = data
            if baud == c.CONSOLE_BAUD_BOOTSEL:
                return self._touch
            return None
        if req == SET_CONTROL_LINE_STATE and not data:
            self.control_line_state = value & 0x3
            if value & 1:  # DTR: a terminal opened the port and is greeted with the prompt
                self.session.greet()
            return None
        raise Stall(f"CDC request 0x{req:02x} with {len(data)} data bytes")

    def halt_cleared(self, endpoint: int) -> None:
        """Nothing to re-arm."""

    # --- endpoints ---------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """EP_CDC_OUT: console input; the replies it makes are armed once it is handled."""
        self._feeding = True
        try:
            self.session.feed(data)
        finally:
            self._feeding = False
        self.ep_in.arm()
        self._core.cv.notify_all()

    def _take(self, count: int) -> bytes:
        """The next `count` queued bytes, sent: counted when the host has them (cdc.c)."""
        packet = bytes(self.txq[:count])
        del self.txq[:count]
        self._core.counters["cdc_tx_bytes"] += count
        return packet

    def read(self, length: int, deadline: float | None) -> bytes:
        """EP_CDC_IN, as cdc.c arms it (see PacketIn)."""
        return self.ep_in.read(length, deadline)

    def _queue_write(self, data: bytes) -> int:
        # called with the lock held: a host that does not read leaves at most CDC_QUEUE_BYTES queued,
        # and a reply or log line that does not fit is refused whole (not sent)
        if len(self.txq) + len(data) > CDC_QUEUE_BYTES:
            return 0
        self.txq += data
        if not self._feeding:
            self.ep_in.arm()
        self._core.cv.notify_all()
        return len(data)

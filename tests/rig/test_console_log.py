"""The loopback console's log lines and `log` command (the firmware's, byte for byte: see
tests/firmware/test_host_units.py) and rig.client.console's reply parser, which sets log lines aside."""

from __future__ import annotations

import time

import pytest

from rig import contract as c
from rig.client.console import LOG_PREFIX, Console, ConsoleError
from rig.loopback.cdc import LOG_LINE_MAX, ConsoleSession, PtyConsole, log_line

from .console_host import Host, Port


def test_log_command_is_off_at_start_and_switches() -> None:
    session = ConsoleSession(Host(), len)
    assert session.run("log") == "log off dropped=0\r\n> "
    assert session.run("log on") == "log on dropped=0\r\n> " and session.log_on
    assert session.run("log  off  extra") == "log off dropped=0\r\n> " and not session.log_on
    assert session.run("log maybe") == "error: usage: log [on|off]\r\n> "
    assert "log" in c.CONSOLE_COMMANDS


def test_log_lines_only_while_on_stamped_with_device_time() -> None:
    host = Host()
    port = Port()
    out = port.written
    session = ConsoleSession(host, port)
    session.log_stall(0x80, 6)
    assert out == []
    session.log_on = True
    host.time_us = 123456789
    session.log_stall(0x80, 6)
    session.log_midi_mode(c.MidiMode.SOURCE)
    session.log_frame_mode(9)
    assert out == [b"# 123456789 stall bmRequestType=0x80 bRequest=0x06\r\n",
                   b"# 123456789 midi-mode mode=SOURCE\r\n", b"# 123456789 frame-mode mode=9\r\n"]
    assert host.tx == sum(map(len, out))


def test_a_line_the_port_cannot_take_is_counted_as_dropped() -> None:
    taken = [0, 5, 10**6]  # nothing, part of a line, all of it
    session = ConsoleSession(Host(), lambda data: min(len(data), taken.pop(0)))
    session.log_on = True
    for _ in range(3):
        session.log_bus_reset()
    assert session.log_dropped == 2
    assert session.run("log").startswith("log on dropped=2")


def test_long_lines_are_cut_like_the_firmware_cuts_them() -> None:
    line = log_line(2**64 - 1, "x", [("k", "v" * 300)])
    assert len(line) == LOG_LINE_MAX and line.endswith(b"\r\n") and line.startswith(LOG_PREFIX.encode())


def test_rig_console_sets_log_lines_aside_on_a_pty() -> None:
    host = Host()
    pty = PtyConsole(host, lambda: None)
    try:
        with Console.open(pty.path) as console:
            assert console.set_log(True) == 0
            pty.session.log_configuration(1)
            pty.session.log_ring_full(c.FRAME_RING_SLOTS)
            expected = len(b"# 1000 configured value=1\r\n# 1000 ring-full slots=8\r\n")
            for _ in range(500):  # lines in flight through the pty are not yet "waiting": let them land
                if console.port.in_waiting >= expected:
                    break
                time.sleep(0.002)
            assert console.command("time") == str(host.time_us)
            assert console.log_lines == ["# 1000 configured value=1",
                                         f"# 1000 ring-full slots={c.FRAME_RING_SLOTS}"]
            assert console.set_log(False) == 0
    finally:
        pty.close()


class ScriptedPort:
    """A port that answers every write with a fixed byte string."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.pending = b""

    def write(self, data: bytes) -> int:
        self.pending = self.answer
        return len(data)

    def read(self, size: int) -> bytes:
        chunk, self.pending = self.pending[:size], self.pending[size:]
        return chunk

    def flush(self) -> None:
        pass

    def reset_input_buffer(self) -> None:
        pass


def test_set_log_rejects_a_reply_that_is_not_the_log_state() -> None:
    with pytest.raises(ConsoleError, match="unexpected reply to `log`"):
        Console(ScriptedPort(b"error: unknown command 'log' (try help)\r\n> ")).set_log(True)

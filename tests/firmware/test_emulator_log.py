"""The firmware's console log lines in rp2040js: off at power-on, `log on|off`, one line per event
(bus reset, configured, SET_MIDI_MODE / SET_FRAME_MODE, STALL, frame errors, ring full) stamped with
device time, never inside a reply, and dropped whole (counted) when nobody reads the console."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from rig import contract as c
from rig.client.console import LOG_PREFIX, Console
from rig.contract import frame_wire as frames
from rig.links.emulator import EmulatorLink
from rig.links.usb_link import LinkStall, LinkTimeout

T = 2000
"""Control-transfer timeout (ms); defined here, not imported, because tests/rig/test_console_log_board.py
loads this module by path to run its tests on the loopback."""

LINE = re.compile(r"^# (\d+) ([a-z-]+)((?: [A-Za-z]+=\S+)*)$")


class LinkPort:
    """The CDC bulk endpoints of an EmulatorLink as the small pyserial surface rig.client.console uses."""

    def __init__(self, link: EmulatorLink) -> None:
        self.link = link
        self.port = "emulator CDC"

    def write(self, data: bytes) -> int:
        return self.link.write(c.EP_CDC_OUT, data, T)

    def read(self, size: int) -> bytes:
        try:
            return self.link.read(c.EP_CDC_IN, c.BULK_PACKET_SIZE, 50)
        except LinkTimeout:
            return b""

    def flush(self) -> None:
        pass

    def reset_input_buffer(self) -> None:
        pass

    def close(self) -> None:
        pass


def drain(link: EmulatorLink) -> str:
    """Everything the console has queued (bounded: at most 200 packets)."""
    out = b""
    for _ in range(200):
        try:
            out += link.read(c.EP_CDC_IN, 4096, 100)
        except LinkTimeout:
            return out.decode()
    raise AssertionError(f"the console never stopped sending: {out[-200:]!r}")


def log_lines(text: str) -> list[tuple[int, str, str]]:
    """(device time, event, fields) of each log line in `text`, checking every line's form."""
    found = []
    for line in text.split("\r\n"):
        if line.startswith(LOG_PREFIX):
            match = LINE.match(line)
            assert match is not None, f"malformed log line {line!r}"
            found.append((int(match[1]), match[2], match[3].strip()))
    return found


def device_time(link: EmulatorLink) -> int:
    data = link.control(0xC0, c.Request.GET_TIME, 0, 0, 8, T)
    assert isinstance(data, bytes)  # an IN transfer returns its data
    return int.from_bytes(data, "little")


def command(link: EmulatorLink, text: str) -> str:
    link.write(c.EP_CDC_OUT, text.encode() + b"\r\n", T)
    reply = b""
    for _ in range(100):
        reply += link.read(c.EP_CDC_IN, 4096, T)
        if reply.endswith(c.CONSOLE_PROMPT.encode()):
            return reply.decode()
    raise AssertionError(f"no prompt after {reply!r}")


@pytest.fixture(scope="module")
def configured(link: EmulatorLink) -> EmulatorLink:
    link.control(0x00, 9, c.CONFIG_VALUE, 0, b"", T)
    return link


@pytest.fixture
def logging_on(configured: EmulatorLink) -> Iterator[EmulatorLink]:
    """The console with log lines on (and its queue empty); off again afterwards."""
    drain(configured)
    assert command(configured, "log on").startswith("log on dropped=")
    yield configured
    command(configured, "log off")
    drain(configured)


def test_log_is_off_at_power_on_and_events_then_send_nothing(configured: EmulatorLink) -> None:
    assert command(configured, "log") == "log off dropped=0\r\n> "
    with pytest.raises(LinkStall):
        configured.control(0xC0, 0x55, 0, 0, 8, T)  # a STALL
    configured.control(0x40, c.Request.SET_MIDI_MODE, 0, 0, c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.ECHO), T)
    assert drain(configured) == ""
    assert command(configured, "log bogus") == "error: usage: log [on|off]\r\n> "


def test_mode_changes_and_stalls_are_logged_with_device_time(logging_on: EmulatorLink) -> None:
    link = logging_on
    before = device_time(link)
    link.control(0x40, c.Request.SET_MIDI_MODE, 0, 0,
                 c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.TRANSFORM, transpose=2), T)
    link.control(0x40, c.Request.SET_FRAME_MODE, 0, 0, c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.SINK), T)
    with pytest.raises(LinkStall):
        link.control(0xC0, 0x55, 0, 0, 8, T)
    after = device_time(link)
    got = log_lines(drain(link))
    assert [(event, fields) for _, event, fields in got] == [
        ("midi-mode", "mode=TRANSFORM"), ("frame-mode", "mode=SINK"),
        ("stall", "bmRequestType=0xC0 bRequest=0x55")]
    times = [t for t, _, _ in got]
    assert before <= times[0] <= times[1] <= times[2] <= after
    link.control(0x40, c.Request.SET_MIDI_MODE, 0, 0, c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.ECHO), T)
    link.control(0x40, c.Request.SET_FRAME_MODE, 0, 0, c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.ECHO), T)


def test_frame_errors_are_logged_by_kind(logging_on: EmulatorLink) -> None:
    link = logging_on
    link.control(0x40, c.Request.SET_FRAME_MODE, 0, 0, c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.SINK), T)
    good = frames.encode(b"payload!", 0)
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 0xFF
    link.write(c.EP_FRAME_OUT, bytes(bad_crc), T)
    link.write(c.EP_FRAME_OUT, b"\x00" * 10, T)  # too short for a header
    link.write(c.EP_FRAME_OUT, frames.encode(b"x", 0), T)
    link.write(c.EP_FRAME_OUT, frames.encode(b"x", 7), T)  # expected 1
    got = [(event, fields) for _, event, fields in log_lines(drain(link))]
    assert got == [("frame-mode", "mode=SINK"), ("frame-error", "kind=crc seq=0"),
                   ("frame-error", "kind=header len=10"), ("frame-error", "kind=seq seq=7 expected=1")]
    link.control(0x40, c.Request.SET_FRAME_MODE, 0, 0, c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.ECHO), T)


def test_ring_full_is_logged_once_per_episode(logging_on: EmulatorLink) -> None:
    link = logging_on
    link.control(0x40, c.Request.SET_FRAME_MODE, 0, 0, c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.ECHO), T)
    sent = 0
    with pytest.raises(LinkTimeout):
        for seq in range(4 * c.FRAME_RING_SLOTS):
            link.write(c.EP_FRAME_OUT, frames.encode(bytes((seq,)), seq), 100)
            sent += 1
    for _ in range(sent):
        frames.decode(link.read(c.EP_FRAME_IN, 512, T))
    got = [(event, fields) for _, event, fields in log_lines(drain(link))]
    assert got == [("frame-mode", "mode=ECHO"), ("ring-full", f"slots={c.FRAME_RING_SLOTS}")]


def test_bus_reset_and_configuration_are_logged_across_the_reset(logging_on: EmulatorLink) -> None:
    link = logging_on
    link.reset()
    link.control(0x00, 5, 4, 0, b"", T)  # SET_ADDRESS
    link.control(0x00, 9, c.CONFIG_VALUE, 0, b"", T)
    text = drain(link)
    got = [(event, fields) for _, event, fields in log_lines(text)]
    assert got == [("bus-reset", ""), ("configured", f"value={c.CONFIG_VALUE}")]
    link.control(0x00, 9, 0, 0, b"", T)
    link.control(0x00, 9, c.CONFIG_VALUE, 0, b"", T)
    got = [(event, fields) for _, event, fields in log_lines(drain(link))]
    assert got == [("unconfigured", ""), ("configured", f"value={c.CONFIG_VALUE}")]


def test_log_lines_never_break_a_reply_and_rig_console_skips_them(logging_on: EmulatorLink) -> None:
    link = logging_on
    console = Console(LinkPort(link))
    for _ in range(3):
        with pytest.raises(LinkStall):
            link.control(0xC0, 0x56, 0, 0, 8, T)  # log lines queued before the reply
        assert console.command("version", 5.0) == (f"firmware {'.'.join(map(str, c.FIRMWARE_VERSION))} "
                                                    f"contract {c.CONTRACT_VERSION}")
    events = [line.split(" ", 2)[2] for line in console.log_lines]
    assert events == ["stall bmRequestType=0xC0 bRequest=0x56"] * 3
    assert console.set_log(True) == 0


def test_lines_nobody_reads_are_dropped_whole_and_counted(logging_on: EmulatorLink) -> None:
    link = logging_on
    stalls = 100  # about 2.5 times what the 2 KiB console queue holds
    for _ in range(stalls):
        with pytest.raises(LinkStall):
            link.control(0xC0, 0x57, 0, 0, 8, T)
    assert link.control(0x80, 8, 0, 0, 1, T) == bytes((c.CONFIG_VALUE,))  # the firmware never waited
    got = log_lines(drain(link))
    assert 0 < len(got) < stalls and all(event == "stall" for _, event, _ in got)
    reply = command(link, "log")
    assert reply == f"log on dropped={stalls - len(got)}\r\n> "

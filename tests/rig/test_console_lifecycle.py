"""The pty console through pyserial, the CDC endpoints, the 1200-baud touch, GET_FRAMING, and a
clean close (no threads left, later calls fail as a vanished device)."""

from __future__ import annotations

import threading
import time

import pytest
import serial
import usb.core

from rig import contract as c
from rig.contract import descriptors
from rig.links.pyusb_backend import LinkBackend
from rig.links.usb_link import LinkGone
from rig.loopback import LoopbackBoard

IN, OUT = c.VENDOR_REQUEST_TYPE_IN, c.VENDOR_REQUEST_TYPE_OUT


def read_until_prompt(port: serial.Serial) -> str:
    data: bytes = port.read_until(c.CONSOLE_PROMPT.encode())  # pyserial is untyped
    assert data.endswith(c.CONSOLE_PROMPT.encode()), f"no prompt after {data!r}"
    return data.decode()[:-len(c.CONSOLE_PROMPT)]


def test_console_commands_over_pyserial(board: LoopbackBoard) -> None:
    with serial.Serial(board.console_path, 115200, timeout=2) as port:
        port.write(b"version\r\n")
        assert read_until_prompt(port) == f"firmware 0.1.0 contract {c.CONTRACT_VERSION}\r\n"
        port.write(b"help\n")
        listed = read_until_prompt(port).splitlines()
        assert [line.split(" - ")[0] for line in listed] == list(c.CONSOLE_COMMANDS)
        port.write(b"time\n")
        assert int(read_until_prompt(port)) > 0
        port.write(b"stats\n")
        values = dict(line.split("=") for line in read_until_prompt(port).splitlines())
        assert list(values) == list(c.STATS.names)
        assert int(values["cdc_rx_bytes"]) == len(b"version\r\nhelp\ntime\nstats\n")
        port.write(b"reset-stats\n")
        assert read_until_prompt(port) == "ok\r\n"
        assert board.stats()["cdc_rx_bytes"] == 0
        port.write(b"bogus\n")
        assert "unknown command 'bogus'" in read_until_prompt(port)


def test_1200_baud_touch_reboots(board: LoopbackBoard) -> None:
    with serial.Serial(board.console_path, 115200, timeout=1) as port:
        port.baudrate = c.CONSOLE_BAUD_BOOTSEL
        deadline = time.monotonic() + 5
        while board.reboots == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        port.baudrate = 115200
    assert board.reboots == 1


def test_console_on_the_cdc_endpoints(dev: usb.core.Device, board: LoopbackBoard) -> None:
    dev.write(c.EP_CDC_OUT, b"version\r", 1000)
    reply = b""
    while not reply.endswith(c.CONSOLE_PROMPT.encode()):
        reply += bytes(dev.read(c.EP_CDC_IN, 64, 1000))
    assert reply.startswith(b"firmware 0.1.0")
    assert board.stats()["cdc_tx_bytes"] == len(reply)


def test_set_line_coding_1200_is_the_touch(dev: usb.core.Device, board: LoopbackBoard) -> None:
    import struct

    dev.ctrl_transfer(0x21, 0x20, 0, c.IF_CDC_COMM, struct.pack("<IBBB", 1200, 0, 0, 8), 1000)
    assert board.reboots == 1


def test_get_framing_is_the_header_bytes(dev: usb.core.Device) -> None:
    from host.avstream.framing import AllocatorFramingEx
    from host.avstream.guids import GUID_BUS_TYPE_USB, KSMEMORY_TYPE_KERNEL_NONPAGED

    raw = bytes(dev.ctrl_transfer(IN, c.Request.GET_FRAMING, 0, 0, 512, 1000))
    assert raw == descriptors.framing_ex()
    framing = AllocatorFramingEx.from_bytes(raw)
    (item,) = framing.items
    assert item.memory_type == KSMEMORY_TYPE_KERNEL_NONPAGED and item.bus_type == GUID_BUS_TYPE_USB
    assert item.frames == c.FRAME_RING_SLOTS and item.file_alignment == c.FRAME_ALIGNMENT_MASK
    rng = item.framing_range.range
    assert (rng.min_frame_size, rng.max_frame_size) == (c.FRAME_HEADER.size,
                                                        c.FRAME_HEADER.size + c.FRAME_MAX_PAYLOAD)


def test_close_stops_everything() -> None:
    before = set(threading.enumerate())
    board = LoopbackBoard()
    dev = usb.core.find(backend=LinkBackend([board]))
    dev.set_configuration()
    dev.ctrl_transfer(OUT, c.Request.SET_MIDI_MODE, 0, 0,
                      c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.SOURCE, rate_hz=100_000), 1000)
    dev.ctrl_transfer(OUT, c.Request.SET_FRAME_MODE, 0, 0,
                      c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.SOURCE, payload_len=10), 1000)
    waiting: list[BaseException] = []

    def reader() -> None:
        try:
            board.read(c.EP_CDC_IN, 64, 0)  # waits forever, until close
        except BaseException as exc:
            waiting.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.05)
    board.close()
    board.close()
    t.join(timeout=5)
    assert not t.is_alive() and isinstance(waiting[0], LinkGone)
    assert set(threading.enumerate()) <= before
    with pytest.raises(LinkGone):
        board.control(IN, c.Request.GET_INFO, 0, 0, 32, 100)

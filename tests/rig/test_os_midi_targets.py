"""The JACK path through python-rtmidi, and the loopback / board / midi targets (the board target's
discovery runs against loopback boards, so every path but libusb itself is exercised here)."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import usb.core
import usb.util
from serial.tools.list_ports_common import ListPortInfo

from rig import contract as c
from rig.errors import TargetError
from rig.jack import JackMissing, JackServer, server_running
from rig.loopback import LoopbackBoard
from rig.target import Feature, TargetSpec, make_target
from rig.targets import board as board_mod
from rig.targets.board import AmbiguousBoard, BoardNotFound, BoardTarget, find_boards, match_console_port
from rig.targets.loopback import LoopbackTarget
from rig.targets.midi_cable import MidiPortNotFound, parse_arg, resolve_port
from rig.usb_backend import LinkBackend

rtmidi = pytest.importorskip("rtmidi")


def jack_port(kind: str, name: str) -> Any:
    port = (rtmidi.MidiOut if kind == "out" else rtmidi.MidiIn)(rtapi=rtmidi.API_UNIX_JACK)
    names = port.get_ports()
    port.open_port(names.index(name))
    return port


def receive(port: Any, count: int, timeout_s: float = 5.0) -> list[list[int]]:
    got: list[list[int]] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        message = port.get_message()
        if message is None:
            time.sleep(0.001)
        else:
            got.append(message[0])
    return got


@pytest.fixture
def loopback(jack_server: JackServer) -> Iterator[LoopbackTarget]:
    target = make_target("loopback")
    assert isinstance(target, LoopbackTarget)
    with target:
        yield target


def test_jack_server_is_reachable(jack_server: JackServer) -> None:
    assert server_running(jack_server.name)


def test_loopback_target_features_and_handles(loopback: LoopbackTarget) -> None:
    assert loopback.features == {Feature.USB, Feature.FRAMES, Feature.CONSOLE, Feature.MIDI_OS}
    assert Feature.REAL_TIMING not in loopback.features
    dev = loopback.usb_device()
    assert (dev.idVendor, dev.idProduct) == (c.VID, c.PID)
    assert loopback.console_port().startswith("/dev/")
    facts = loopback.describe()
    assert facts["serial"] == dev.serial_number and facts["firmware"] == "0.1.0"


def test_midi_over_jack_echo_transform_and_books(loopback: LoopbackTarget) -> None:
    to_board, from_board = loopback.midi_port_names()
    out, inp = jack_port("out", to_board), jack_port("in", from_board)
    inp.ignore_types(sysex=False, timing=False, active_sense=False)
    try:
        sent = [[0x90, 60, 100], [0x80, 60, 0], [0xB0, 7, 99], [0xF0, 1, 2, 3, 4, 5, 0xF7], [0xF8]]
        for message in sent:
            out.send_message(message)
        assert receive(inp, len(sent)) == sent
        dev = loopback.usb_device()
        dev.ctrl_transfer(c.VENDOR_REQUEST_TYPE_OUT, c.Request.SET_MIDI_MODE, 0, 0,
                          c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.TRANSFORM, transpose=12), 1000)
        out.send_message([0x90, 60, 100])
        assert receive(inp, 1) == [[0x90, 72, 100]]
        assert loopback.board is not None
        s = loopback.board.stats()
        packets = 1 + 1 + 1 + 3 + 1 + 1  # the SysEx took three event packets
        assert s["midi_rx_packets"] == s["midi_tx_packets"] == packets
    finally:
        for port in (out, inp):
            port.close_port()
            port.delete()


def test_midi_source_over_jack(loopback: LoopbackTarget) -> None:
    _, from_board = loopback.midi_port_names()
    inp = jack_port("in", from_board)
    try:
        loopback.usb_device().ctrl_transfer(
            c.VENDOR_REQUEST_TYPE_OUT, c.Request.SET_MIDI_MODE, 0, 0,
            c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.SOURCE, rate_hz=20_000, count=50), 1000)
        got = receive(inp, 100)
        assert [m[1] for m in got[0::2]] == list(range(50))
        assert all(m[0] == 0x80 for m in got[1::2])
    finally:
        inp.close_port()
        inp.delete()


def test_midi_cable_target_over_the_loopback_ports(loopback: LoopbackTarget) -> None:
    to_board, from_board = loopback.midi_port_names()
    cable = make_target(f"midi:{to_board},{from_board}")
    with cable:
        assert cable.midi_port_names() == (to_board, from_board)
        assert cable.features == {Feature.MIDI_OS, Feature.REAL_TIMING}
    with pytest.raises(MidiPortNotFound, match=r"available: .*rig MIDI in"):
        make_target(f"midi:no such port,{from_board}").open()


def test_midi_cable_argument_rules() -> None:
    assert parse_arg("A , B") == ("A", "B")
    with pytest.raises(TargetError, match="expected midi:OUT,IN"):
        parse_arg("only-one")
    names = ["Foo:0", "Bar:1", "Bar:2"]
    assert resolve_port("1", names, "output") == "Bar:1"
    assert resolve_port("foo", names, "output") == "Foo:0"
    with pytest.raises(MidiPortNotFound, match="index 7 out of range"):
        resolve_port("7", names, "output")
    with pytest.raises(MidiPortNotFound, match="matches 2 port"):
        resolve_port("Bar", names, "input")


def test_loopback_target_argument_is_the_unique_id() -> None:
    target = make_target("loopback:0011223344556677")
    with target:
        assert target.usb_device().serial_number == "0011223344556677"
    with pytest.raises(TargetError, match="16 hex digits"):
        make_target("loopback:xyz")


# --- the board target's discovery, run against loopback boards -----------------------------------


@pytest.fixture
def three_boards() -> Iterator[list[LoopbackBoard]]:
    boards = [LoopbackBoard(bytes([0xA0 + i]) * 8, console_pty=False) for i in range(3)]
    yield boards
    for b in boards:
        b.close()


def test_find_boards_with_a_backend(three_boards: list[LoopbackBoard]) -> None:
    backend = LinkBackend(three_boards)
    assert [b.serial for b in find_boards(backend=backend)] == [b.serial_number for b in three_boards]
    assert [b.address for b in find_boards("a1a1a1a1a1a1a1a1", backend)] == [2]
    assert find_boards("FFFF", backend) == []
    assert find_boards(backend=backend, pid=0x9999) == []


def test_board_target_selects_by_serial(three_boards: list[LoopbackBoard]) -> None:
    backend = LinkBackend(three_boards)
    target = BoardTarget(TargetSpec("board", "A2A2A2A2A2A2A2A2"), backend=backend)
    with target:
        assert target.usb_device().serial_number == "A2A2A2A2A2A2A2A2"
        assert {Feature.USB, Feature.FRAMES, Feature.REAL_TIMING} <= target.features
        assert target.describe()["transport"] == "libusb"
        # no OS driver ports or CDC port exist for a loopback board: said so, not guessed
        assert Feature.CONSOLE not in target.features and len(target.problems) == 2
        with pytest.raises(TargetError, match="console"):
            target.console_port()


def test_board_target_errors(three_boards: list[LoopbackBoard]) -> None:
    backend = LinkBackend(three_boards)
    with pytest.raises(AmbiguousBoard, match=r"3 rig boards .*A0A0A0A0A0A0A0A0 \(bus 1 address 1\)"):
        BoardTarget(TargetSpec("board"), backend=backend).open()
    with pytest.raises(BoardNotFound, match=r"serial 1234.*attached rig boards: A0A0"):
        BoardTarget(TargetSpec("board", "1234"), backend=backend).open()
    with pytest.raises(BoardNotFound, match="attached rig boards: none"):
        BoardTarget(TargetSpec("board"), backend=LinkBackend([])).open()


def test_board_target_usb_works_end_to_end(three_boards: list[LoopbackBoard]) -> None:
    target = BoardTarget(TargetSpec("board", "A0A0A0A0A0A0A0A0"), backend=LinkBackend(three_boards[:1]))
    with target:
        dev = target.usb_device()
        dev.set_configuration()
        dev.write(c.EP_MIDI_OUT, bytes((0x09, 0x90, 1, 2)), 1000)
        assert bytes(dev.read(c.EP_MIDI_IN, 64, 1000)) == bytes((0x09, 0x90, 1, 2))


def test_console_port_matching() -> None:
    def port(device: str, vid: int | None, pid: int | None, serial: str | None) -> ListPortInfo:
        info = ListPortInfo(device, skip_link_detection=True)
        info.vid, info.pid, info.serial_number = vid, pid, serial
        return info

    ports = [port("/dev/ttyS0", None, None, None), port("/dev/ttyACM0", c.VID, c.PID, "AAAA"),
             port("/dev/ttyACM1", c.VID, c.PID, "BBBB")]
    assert match_console_port(ports, "bbbb") == "/dev/ttyACM1"
    with pytest.raises(TargetError, match=r"no serial ports for board CCCC .*ttyACM0 \(serial AAAA\)"):
        match_console_port(ports, "CCCC")


def test_midi_port_matching() -> None:
    outs = ["Midi Through:0", f"{c.PRODUCT}:{c.PRODUCT} MIDI 1 20:0"]
    ins = ["Midi Through:0", f"{c.PRODUCT}:{c.PRODUCT} MIDI 1 20:0"]
    assert board_mod.match_midi_ports(outs, ins) == (outs[1], ins[1])
    with pytest.raises(TargetError, match="2 MIDI output ports"):
        board_mod.match_midi_ports([*outs, outs[1] + "x"], ins)
    with pytest.raises(TargetError, match=r"no MIDI input ports .*Midi Through"):
        board_mod.match_midi_ports(outs, ins[:1])


def test_find_boards_without_libusb_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise TargetError("no libusb")

    monkeypatch.setattr(board_mod, "libusb_backend", missing)
    assert find_boards() == []


def test_usb_device_before_open_is_an_error() -> None:
    target = make_target("loopback")
    with pytest.raises(TargetError, match="not open"):
        target.usb_device()


def test_jack_server_missing_jackd_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "rig-no-such-server")
    with pytest.raises(JackMissing, match="no-such-jackd not found"):
        JackServer(jackd="no-such-jackd").start()
    assert os.environ["JACK_DEFAULT_SERVER"] == "rig-no-such-server"


def test_os_driver_owns_the_midi_interface_until_detached(loopback: LoopbackTarget) -> None:
    dev = loopback.usb_device()
    dev.set_configuration()
    assert dev.is_kernel_driver_active(c.IF_MIDI_STREAMING)
    assert not dev.is_kernel_driver_active(c.IF_VENDOR)
    with pytest.raises(usb.core.USBError) as caught:
        dev.write(c.EP_MIDI_OUT, bytes((0x09, 0x90, 1, 2)), 1000)
    assert caught.value.errno == errno.EBUSY  # as libusb_claim_interface on a bound interface
    dev.detach_kernel_driver(c.IF_MIDI_STREAMING)
    dev.ctrl_transfer(c.VENDOR_REQUEST_TYPE_OUT, c.Request.SET_MIDI_MODE, 0, 0,
                      c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.SOURCE, rate_hz=50_000, count=2), 1000)
    got = b""
    while len(got) < 16:
        got += bytes(dev.read(c.EP_MIDI_IN, 64, 1000))
    assert got == bytes((0x09, 0x90, 0, 1, 0x08, 0x80, 0, 0, 0x09, 0x90, 1, 1, 0x08, 0x80, 1, 0))
    with pytest.raises(usb.core.USBError) as again:
        dev.detach_kernel_driver(c.IF_MIDI_STREAMING)
    assert again.value.errno == errno.ENOENT
    usb.util.release_interface(dev, c.IF_MIDI_STREAMING)
    dev.attach_kernel_driver(c.IF_MIDI_STREAMING)
    assert dev.is_kernel_driver_active(c.IF_MIDI_STREAMING)


def test_board_client_detaches_and_reattaches(loopback: LoopbackTarget) -> None:
    from rig.device import Board

    board = Board(loopback.usb_device())
    board.reset_stats()
    board.write_midi_packets(bytes((0x09, 0x90, 60, 1)))
    assert board.read_midi_packets() == bytes((0x09, 0x90, 60, 1))
    assert board.unbalanced() == []
    board.close()
    assert loopback.usb_device().is_kernel_driver_active(c.IF_MIDI_STREAMING)

"""The JACK path through python-rtmidi, and the loopback / board / midi targets (the board target's
discovery runs against loopback boards, so every path but libusb itself is exercised here)."""

from __future__ import annotations

import errno
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import usb.core
import usb.util
from serial.tools.list_ports_common import ListPortInfo

from rig import contract as c
from rig.errors import TargetError
from rig.links.pyusb_backend import LinkBackend
from rig.loopback import LoopbackBoard
from rig.os_midi.class_driver import POLL_INTERVAL_S, UsbMidiClassDriver
from rig.os_midi.jack import (
    DUMMY_RATE,
    ENV_MODE,
    ENV_PERIOD,
    ENV_SERVER,
    JackMissing,
    JackServer,
    jack_period,
    jackd_installed,
    registered_servers,
    server_running,
    stale_rig_servers,
)
from rig.pytest_plugin.testing import close_rtmidi_port, open_rtmidi_port, require, require_module
from rig.pytest_plugin.testing import receive_messages as receive
from rig.targets import discovery
from rig.targets.board import BoardTarget
from rig.targets.discovery import AmbiguousBoard, BoardNotFound, find_boards, match_console_port
from rig.targets.factory import make_target
from rig.targets.loopback import LoopbackTarget
from rig.targets.midi_cable import MidiPortNotFound, parse_arg, resolve_port
from rig.targets.registry import Feature, TargetSpec

rtmidi = require_module("rtmidi", "pip install python-rtmidi")


def jack_port(kind: str, name: str) -> Any:
    """A JACK client port connected to `name` in the running graph, under a client name of its own."""
    return open_rtmidi_port(rtmidi.API_UNIX_JACK, kind, name)




def require_jack() -> None:
    """jackd must be installed (CI installs it: a failure there, a skip elsewhere)."""
    require(jackd_installed(), "jackd is not installed (apt-get install jackd2)")


@pytest.fixture
def loopback() -> Iterator[LoopbackTarget]:
    """An open loopback target with OS MIDI ports (it starts its own JACK server if need be)."""
    require_jack()
    target = make_target("loopback")
    assert isinstance(target, LoopbackTarget)
    with target:
        assert Feature.MIDI_OS in target.features, target.midi_problem
        yield target


@pytest.fixture
def no_midi_system(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ALSA sequencer and JACK_DEFAULT_SERVER naming no running server: the CI container's case."""
    real_access = os.access
    monkeypatch.setattr("rig.os_midi.system.os.access",
                        lambda path, mode: False if path == "/dev/snd/seq" else real_access(path, mode))
    monkeypatch.setenv(ENV_SERVER, "rig-no-such-server")
    monkeypatch.delenv(ENV_MODE, raising=False)


def jackd_gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split(") ", 1)[1].startswith("Z"):
                    return True  # exited, not yet reaped
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


ISOLATED_PRELUDE = """
import json, os
from rig.os_midi import system as os_midi
real_access = os.access
os_midi.os.access = lambda path, mode: False if path == "/dev/snd/seq" else real_access(path, mode)
from rig.targets.factory import make_target
from rig.targets.registry import Feature
def report(**facts):
    print("RESULT " + json.dumps(facts), flush=True)
"""


def isolated(body: str, **env: str) -> dict[str, Any]:
    """Run `body` in a fresh interpreter with no MIDI system (no ALSA sequencer, JACK_DEFAULT_SERVER
    naming no server) and return what it report()ed: libjack talks to one server per process, so a
    target starting its own server is tested away from any server this session already runs."""
    import json
    import subprocess
    import sys

    environ = {k: v for k, v in os.environ.items() if k not in (ENV_MODE, ENV_PERIOD)}
    environ.update({ENV_SERVER: "rig-no-such-server", **env})
    done = subprocess.run([sys.executable, "-c", ISOLATED_PRELUDE + body], capture_output=True, text=True,
                          timeout=60, env=environ, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"exit {done.returncode}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1][7:])
    return result


def test_loopback_starts_and_stops_its_own_jack_server() -> None:
    require_jack()
    got = isolated("""
from rig.os_midi.jack import server_running
target = make_target("loopback")
before = Feature.MIDI_OS in target.features
with target:
    server = target.jack
    report(before=before, mode=target.jack_mode.value, features=sorted(target.features),
           problem=target.midi_problem, started=server.started, name=server.name,
           env=os.environ["JACK_DEFAULT_SERVER"], running=server_running(server.name),
           os_midi=target.describe()["os_midi"], pid=server._process.pid,
           argv=open(f"/proc/{server._process.pid}/cmdline").read().split(chr(0)))
""")
    name = got["name"]
    assert got["before"] and got["mode"] == "auto" and "midi-os" in got["features"], got["problem"]
    assert got["started"] and name.startswith("rig-") and got["env"] == name and got["running"]
    assert f"JACK server {name} (started by the target" in got["os_midi"]
    argv = got["argv"]
    assert argv[argv.index("-p") + 1] == "32" and "--sync" in argv  # short period; late clients wait
    assert "32-frame period, synchronous" in got["os_midi"]
    assert jackd_gone(got["pid"]), f"jackd {got['pid']} outlived the process that started it"
    assert name not in [n for _, n in registered_servers()]  # a clean stop frees its registry slot


def test_rig_jack_period_sets_the_period_of_the_server_a_target_starts() -> None:
    require_jack()
    got = isolated("""
with make_target("loopback") as target:
    server = target.jack
    report(os_midi=target.describe()["os_midi"],
           argv=open(f"/proc/{server._process.pid}/cmdline").read().split(chr(0)))
""", **{ENV_PERIOD: "64"})
    argv = got["argv"]
    assert argv[argv.index("-p") + 1] == "64" and "64-frame period, synchronous" in got["os_midi"]


@pytest.mark.parametrize("value", ["", " "])
def test_the_jack_period_is_32_frames_unless_set(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PERIOD, value)
    assert jack_period() == 32
    assert jack_period("1024") == 1024 and jack_period("16") == 16 and jack_period("8192") == 8192


@pytest.mark.parametrize("value", ["48", "0", "8", "16384", "-32", "abc", "32.0"])
def test_a_bad_jack_period_is_named_before_any_server_starts(value: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=f"jack period '{re.escape(value)}' is not a power of two from 16"):
        jack_period(value)
    monkeypatch.setenv(ENV_PERIOD, value)
    with pytest.raises(TargetError, match=rf"target loopback: \$RIG_JACK_PERIOD '{re.escape(value)}' is not"):
        make_target("loopback")


def test_the_class_driver_polls_its_input_once_a_jack_cycle(loopback: LoopbackTarget) -> None:
    """JACK hands MIDI to an input only as a cycle starts: the writer polls once a cycle (here this
    session's server, RIG_JACK_PERIOD frames at 48 kHz), never more often than every 1 ms."""
    driver = loopback.driver
    assert driver is not None and loopback.midi_system is not None
    cycle = loopback.midi_system.cycle_s()
    assert cycle is not None and cycle == pytest.approx(jack_period() / DUMMY_RATE)
    assert driver.poll_s == pytest.approx(max(POLL_INTERVAL_S, cycle))


@pytest.mark.parametrize(("cycle_s", "poll_s"),
                         [(None, 0.001), (32 / 48000, 0.001), (256 / 48000, 256 / 48000)])
def test_the_writer_polls_every_cycle_or_every_millisecond(cycle_s: float | None, poll_s: float) -> None:
    require_jack()
    board = LoopbackBoard(console_pty=False)
    try:
        driver = UsbMidiClassDriver(board, rtmidi.API_UNIX_JACK, label="poll test", cycle_s=cycle_s)
        driver.close()
    finally:
        board.close()
    assert driver.poll_s == pytest.approx(poll_s)


def test_no_jackd_survives_a_killed_process() -> None:
    """SIGKILL the process that started the server: jackd gets SIGKILL (parent-death signal) and goes."""
    require_jack()
    got = isolated("""
import signal
target = make_target("loopback").__enter__()
report(pid=target.jack._process.pid)
os.kill(os.getpid(), signal.SIGKILL)
""")
    assert jackd_gone(got["pid"]), f"jackd {got['pid']} outlived the killed process"


def test_rig_jack_never_leaves_the_loopback_without_os_midi(no_midi_system: None,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_MODE, "never")
    target = make_target("loopback")
    assert Feature.MIDI_OS not in target.features
    with target:
        assert isinstance(target, LoopbackTarget) and target.jack is None
        assert Feature.MIDI_OS not in target.features and "RIG_JACK=never" in target.midi_problem
        with pytest.raises(Exception, match="midi-os"):
            target.midi_port_names()


def test_missing_jackd_is_a_reason_in_auto_and_an_error_in_always() -> None:
    body = """
from rig.os_midi.jack import JackMissing
with make_target("loopback") as target:
    auto = (sorted(target.features), target.midi_problem)
os.environ["RIG_JACK"] = "always"
try:
    make_target("loopback").open()
    always = "opened"
except JackMissing as exc:
    always = str(exc)
report(auto=auto, always=always)
"""
    got = isolated(body, PATH="/nonexistent")
    features, problem = got["auto"]
    assert "midi-os" not in features and "install jackd2" in problem
    assert "jackd not found" in got["always"]


def test_bad_rig_jack_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_MODE, "sometimes")
    with pytest.raises(TargetError, match=r"\$RIG_JACK 'sometimes' is not one of auto, never, always"):
        make_target("loopback")
    with pytest.raises(TargetError, match="jack mode 'yes'"):
        LoopbackTarget(TargetSpec("loopback"), jack="yes")


def test_rig_jack_always_starts_a_private_server() -> None:
    """`always` starts its own server; a second target in the same process shares it (libjack talks to
    one server per process), and so does a target opened after both closed: the server runs until
    the process exits, because libjack is confused by a server started after another stopped (#9)."""
    require_jack()
    got = isolated("""
from rig.os_midi.jack import server_running
with make_target("loopback") as first, make_target("loopback:0011223344556677") as second:
    facts = dict(first_started=first.jack.started, second_started=second.jack.started,
                 same=first.jack.name == second.jack.name, problem=first.midi_problem,
                 both="midi-os" in first.features and "midi-os" in second.features,
                 distinct=first.midi_port_names() != second.midi_port_names())
    name = first.jack.name
    pid = first.jack._process.pid
with make_target("loopback") as later:
    facts.update(later_name=later.jack.name, later_midi="midi-os" in later.features)
report(after=server_running(name), name=name, pid=pid, env=os.environ["JACK_DEFAULT_SERVER"], **facts)
""", RIG_JACK="always")
    assert got["first_started"] and not got["second_started"] and got["same"], got["problem"]
    assert got["both"] and got["distinct"]
    assert got["later_name"] == got["name"] and got["later_midi"], "a later target started a second server"
    assert got["after"] and got["env"] == got["name"], "the server stopped while the process lived"
    assert jackd_gone(got["pid"]), f"jackd {got['pid']} outlived the process that started it"
    assert got["name"] not in [n for _, n in registered_servers()]  # stopped at exit, slot freed


def test_jack_servers_reclaim_the_slots_of_dead_rig_servers(tmp_path: Path) -> None:
    """A killed jackd keeps its JACK registry slot; the next rig server takes that name to free it."""
    import struct

    registry = tmp_path / "registry"
    header = struct.pack("<4s5I", b"KCAJ", 0, 1, 0, 24 + 8 * 264, 268)
    slots = bytearray(8 * 264)
    dead_pid = 2 ** 22 + 12345  # above pid_max's default: no such process
    entries = [(os.getpid(), "rig-alive"), (dead_pid, "rig-dead"), (dead_pid, "someone-else")]
    for index, (pid, name) in enumerate(entries):
        struct.pack_into("<i", slots, index * 264, pid)
        text = f"jack-{os.getuid()}:{name}:".encode()
        slots[index * 264 + 4:index * 264 + 4 + len(text)] = text
    registry.write_bytes(header + bytes(slots))
    assert registered_servers(registry) == [(os.getpid(), "rig-alive"), (dead_pid, "rig-dead"),
                                            (dead_pid, "someone-else")]
    assert stale_rig_servers(registry) == ["rig-dead"]
    registry.write_bytes(b"garbage")
    assert registered_servers(registry) == []


def test_loopback_target_features_and_handles(loopback: LoopbackTarget) -> None:
    assert loopback.features == {Feature.USB, Feature.FRAMES, Feature.CONSOLE, Feature.MIDI_OS,
                                 Feature.USB_MIDI, Feature.CONTRACT, Feature.MIDI_ECHO}
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
            close_rtmidi_port(port)


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
        close_rtmidi_port(inp)


def test_midi_cable_target_over_the_loopback_ports(loopback: LoopbackTarget) -> None:
    to_board, from_board = loopback.midi_port_names()
    cable = make_target(f"midi:{to_board},{from_board}")
    with cable:
        assert cable.midi_port_names() == (to_board, from_board)
        assert cable.features == {Feature.MIDI_OS, Feature.REAL_TIMING}
    with pytest.raises(MidiPortNotFound, match=r"available: .*rig loopback MIDI in \(rig class driver\)"):
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
        assert {Feature.USB, Feature.FRAMES, Feature.REAL_TIMING, Feature.CONTRACT} <= target.features
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
    assert discovery.match_midi_ports(outs, ins) == (outs[1], ins[1])
    with pytest.raises(TargetError, match="2 MIDI output ports"):
        discovery.match_midi_ports([*outs, outs[1] + "x"], ins)
    with pytest.raises(TargetError, match=r"no MIDI input ports .*Midi Through"):
        discovery.match_midi_ports(outs, ins[:1])


def test_find_boards_without_libusb_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise TargetError("no libusb")

    monkeypatch.setattr(discovery, "libusb_backend", missing)
    assert find_boards() == []


def test_usb_device_before_open_is_an_error() -> None:
    target = make_target("loopback")
    with pytest.raises(TargetError, match="not open"):
        target.usb_device()


def test_jack_server_missing_jackd_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "rig-no-such-server")
    monkeypatch.setattr(JackServer, "_running", [])  # no server of this session to share
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
    from rig.client.board import Board

    board = Board(loopback.usb_device())
    board.reset_stats()
    board.write_midi_packets(bytes((0x09, 0x90, 60, 1)))
    assert board.read_midi_packets() == bytes((0x09, 0x90, 60, 1))
    assert board.unbalanced() == []
    board.close()
    assert loopback.usb_device().is_kernel_driver_active(c.IF_MIDI_STREAMING)


def test_a_reclaimed_name_another_session_runs_is_not_adopted(loopback: LoopbackTarget) -> None:
    """Two sessions may pick the same dead server's name at once: the one whose jackd loses must not
    take the winner's server for its own, but start under another name."""
    import subprocess
    import sys

    taken = os.environ[ENV_SERVER]
    assert server_running(taken)
    script = (
        "import os, rig.os_midi.jack as j\n"
        f"j.stale_rig_servers = lambda registry=j.REGISTRY: [{taken!r}]\n"
        "os.environ.pop('JACK_DEFAULT_SERVER', None)\n"
        "s = j.JackServer(timeout_s=15).start()\n"
        "print('RESULT', s.name, s.started, s._process.pid if s._process else 0, flush=True)\n"
        "s.stop()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, done.stdout + done.stderr
    _, name, started, pid = lines[0].split()
    assert started == "True" and name != taken and name.startswith("rig-")
    assert jackd_gone(int(pid))
    assert server_running(taken)  # the other session's server is untouched

"""The firmware's pure-logic modules (ring, CRC, frame checks, MIDI modes, descriptors, console)
compiled for the host with plain gcc and checked against the Python contract."""

from __future__ import annotations

import json
import subprocess
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig import contract as c
from rig.client.console import LOG_PREFIX
from rig.contract import descriptors as d
from rig.loopback.cdc import ConsoleSession

from ..rig.console_host import Host, Port
from .conftest import FIRMWARE, need_program

SOURCES = ("crc32.c", "ring.c", "frame.c", "midi_core.c", "desc.c", "console_core.c", "log.c")
UNIQUE_ID = bytes.fromhex("E66138935F4B2A2C")


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """host_units.c and the firmware's pure modules, built with gcc -std=c11 -Wall -Wextra -Werror."""
    gcc = need_program("gcc", "apt-get install gcc")
    exe = tmp_path_factory.mktemp("units") / "host_units"
    cmd = [gcc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", f"-I{FIRMWARE / 'include'}",
           f"-I{FIRMWARE / 'src'}", str(Path(__file__).with_name("host_units.c")),
           *(str(FIRMWARE / "src" / s) for s in SOURCES), "-o", str(exe)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return exe


def run(exe: Path, *args: str, stdin: bytes = b"") -> str:
    result = subprocess.run([str(exe), *args], input=stdin, capture_output=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_c_selftest_passes(units: Path) -> None:
    assert run(units, "selftest").strip() == "ok"


def test_device_and_config_descriptors_are_the_contract_bytes(units: Path) -> None:
    assert bytes.fromhex(run(units, "desc", "1", "0", "0", UNIQUE_ID.hex())) == d.device_descriptor()
    assert bytes.fromhex(run(units, "desc", "2", "0", "0", UNIQUE_ID.hex())) == d.config_descriptor()


@pytest.mark.parametrize("index", range(7))
def test_string_descriptors_match_rig_descriptors(units: Path, index: int) -> None:
    got = run(units, "desc", "3", str(index), str(c.LANGID_EN_US), UNIQUE_ID.hex()).strip()
    assert bytes.fromhex(got) == d.string_descriptor(index, UNIQUE_ID)


@pytest.mark.parametrize(("dtype", "index", "langid"), [(3, 7, 0x409), (3, 1, 0x407), (6, 0, 0), (2, 1, 0),
                                                         (1, 1, 0), (4, 0, 0)])
def test_descriptors_the_board_lacks_are_refused(units: Path, dtype: int, index: int, langid: int) -> None:
    assert run(units, "desc", str(dtype), str(index), str(langid), UNIQUE_ID.hex()).strip() == "none"


def test_descriptors_are_the_fixture_dumps(units: Path) -> None:
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "descriptors"
    device, config = (fixtures / "device.bin").read_bytes(), (fixtures / "config.bin").read_bytes()
    assert bytes.fromhex(run(units, "desc", "1", "0", "0", UNIQUE_ID.hex())) == device
    assert bytes.fromhex(run(units, "desc", "2", "0", "0", UNIQUE_ID.hex())) == config


def test_golden_frames_are_checked_as_their_manifest_says(units: Path) -> None:
    """The firmware's frame_check and CRC, host-built, on every fixtures/frames file."""
    frames_dir = Path(__file__).resolve().parents[2] / "fixtures" / "frames"
    manifest = json.loads((frames_dir / "frames.json").read_text())
    assert manifest
    for name, e in manifest.items():
        got = run(units, "frame", str(frames_dir / name)).strip()
        if e["verdict"] == "ok":
            assert got == (f"ok seq={e['seq']} flags={e['flags']} len={e['payload_len']} "
                           f"crc={e['payload_crc']} rx={e['rx_time_us']} tx={e['tx_time_us']}"), name
        else:
            assert got == e["verdict"], name


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=300))
def test_crc32_equals_zlib(units: Path, data: bytes) -> None:
    assert int(run(units, "crc", data.hex()), 16) == zlib.crc32(data)


def test_console_stat_names_are_the_contract_layout(units: Path) -> None:
    assert tuple(run(units, "statnames").split()) == c.STATS.names


def test_console_answers_like_the_contract_says(units: Path) -> None:
    out = run(units, "console", stdin=b"help\r\nversion\n\n  \nbogus arg\ntime\nreset-stats\nstats\n")
    replies = out.split(c.CONSOLE_PROMPT)
    assert replies[-1] == ""
    help_lines = replies[0].split("\r\n")[:-1]
    assert help_lines == [f"{name} - {doc}" for name, doc in c.CONSOLE_COMMANDS.items()]
    major, minor, patch = c.FIRMWARE_VERSION
    assert replies[1] == f"firmware {major}.{minor}.{patch} contract {c.CONTRACT_VERSION}\r\n"
    assert replies[2] == ""  # a blank (whitespace) line gets just the prompt; an empty one nothing
    assert replies[3] == "error: unknown command 'bogus' (try help)\r\n"
    assert replies[4] == "1234567890123\r\n"
    assert replies[5] == "ok\r\n"
    assert replies[6] == "".join(f"{name}=0\r\n" for name in c.STATS.names)


def test_log_command_sets_and_reports_the_state(units: Path) -> None:
    out = run(units, "console", stdin=b"log\nlog on\nlog\nlog  off extra\nlog maybe\n")
    assert out.split(c.CONSOLE_PROMPT) == ["log off dropped=42\r\n", "log on dropped=42\r\n",
                                           "log on dropped=42\r\n", "log off dropped=42\r\n",
                                           "error: usage: log [on|off]\r\n", ""]


def test_firmware_log_lines_are_the_loopback_log_lines_byte_for_byte(units: Path) -> None:
    """firmware/src/log.c (built with a stub clock) and rig.loopback.cdc format every event alike."""
    host = Host()
    port = Port()
    session = ConsoleSession(host, port)
    session.log_on = True
    events: list[tuple[int, Callable[[], None]]] = [
        (1, session.log_bus_reset), (22, lambda: session.log_configuration(1)),
        (333, lambda: session.log_configuration(0))]
    events += [(4000 + m, partial(session.log_midi_mode, m)) for m in range(5)]
    events += [(5000 + m, partial(session.log_frame_mode, m)) for m in range(4)]
    events += [(66, lambda: session.log_stall(0xC0, 0x0A)), (77, lambda: session.log_frame_bad_header(10)),
               (88, lambda: session.log_frame_bad_crc(0xFFFFFFFF)),
               (99, lambda: session.log_frame_seq_gap(5, 3)),
               (2**64 - 1, lambda: session.log_ring_full(c.FRAME_RING_SLOTS))]
    for time_us, emit in events:
        host.time_us = time_us
        emit()
    firmware = run(units, "logfmt")
    assert firmware == b"".join(port.written).decode()
    lines = firmware.split("\r\n")
    assert lines[-1] == "" and all(line.startswith(LOG_PREFIX) for line in lines[:-1])
    assert lines[:4] == ["# 1 bus-reset", "# 22 configured value=1", "# 333 unconfigured",
                         "# 4000 midi-mode mode=ECHO"]
    assert lines[6:8] == ["# 4003 midi-mode mode=SINK", "# 4004 midi-mode mode=4"]
    assert lines[12:] == ["# 66 stall bmRequestType=0xC0 bRequest=0x0A",
                          "# 77 frame-error kind=header len=10", "# 88 frame-error kind=crc seq=4294967295",
                          "# 99 frame-error kind=seq seq=5 expected=3",
                          f"# {2**64 - 1} ring-full slots={c.FRAME_RING_SLOTS}", ""]

"""A late JACK client must delay MIDI, never lose it: the JACK dummy servers the rig starts run with
--sync and a 2 s client timeout (rig.os_midi.jack.CLIENT_TIMEOUT_MS), and a client whose process
callback stalls for many periods still gets every event. jackd's defaults (async engine, two-period
timeout) are run the same way to show the loss the settings exist for, and that the probe can see it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rig.os_midi.jack import CLIENT_TIMEOUT_MS, JackServer, jackd_installed
from rig.pytest_plugin.testing import require, require_module

PROBE = Path(__file__).with_name("jack_stall_probe.py")


def probe(*args: str) -> dict[str, Any]:
    """Run the stalling-reader probe in its own interpreter (one JACK server per process)."""
    require(jackd_installed(), "jackd is not installed (apt-get install jackd2)")
    require_module("rtmidi", "pip install python-rtmidi")
    done = subprocess.run([sys.executable, str(PROBE), *args], capture_output=True, text=True, timeout=180,
                          check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"probe exited {done.returncode}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def test_a_stalling_client_loses_nothing_on_the_rigs_jack_server() -> None:
    got = probe("--period", "64")
    assert got["stalls"] >= 3, got  # the reader did stall, for 45 periods each time
    assert got["lost"] == 0 and got["received"] == got["sent"] and got["in_order"], got
    # JackServer.xruns() saw the cycles come late, and no client skipped: late, not lost
    assert got["late_cycles"] >= got["stalls"] and got["skipped_clients"] == 0, got


def test_jackds_defaults_lose_what_a_stalling_client_misses() -> None:
    """What the rig's settings prevent: with jackd's async engine the writer runs on while the reader
    is late, and each cycle the reader missed is gone."""
    got = probe("--period", "64", "--async", "--default-timeout")
    assert got["stalls"] >= 3, got
    assert got["lost"] > 0, got
    assert got["skipped_clients"] > 0, got  # what the books report as JACK's loss


@pytest.mark.parametrize("period", [32, 1024])
def test_a_cycle_holds_thousands_of_events_whatever_the_period(period: int) -> None:
    """JACK2 gives every MIDI port a 32 KiB buffer, not one sized by the period: a short period does not
    make a flood overflow it (what was once thought to lose events at 64 frames)."""
    got = probe("--period", str(period), "--buffer")
    assert got["events_per_cycle"] >= 2000, got


def test_a_started_server_is_synchronous_with_an_explicit_client_timeout() -> None:
    server = JackServer(reuse=False)
    assert server.sync and server.client_timeout_ms == CLIENT_TIMEOUT_MS >= 100
    with pytest.raises(ValueError, match="client timeout 0 ms"):
        JackServer(client_timeout_ms=0)


def test_a_refused_client_is_explained_by_what_jackd_logged() -> None:
    """libjack says "JACK server not running?" for any refused client; the server's own reason, from
    the log of a server the rig started, is what the error message adds (late cycles left out)."""
    from rig.os_midi import jack
    from rig.os_midi.jack_log import JackLog

    server = JackServer(reuse=False)
    log = JackLog()
    os.write(log.fileno(), b"jackdmp 1.9.21\nCopyright 2001-2005 Paul Davis and others.\n"
             b"JACK server starting in non-realtime mode\n"
             + b"JackTimedDriver::Process XRun = 6 usec\n" * 5000
             + b"Cannot notify add client\nJackTimedDriver::Process XRun = 9 usec\n")
    server._log, server.started = log, True
    assert server.complaints() == ["Cannot notify add client"]
    JackServer._running.append(server)
    try:
        assert f"jackd {server.name} logged: Cannot notify add client)" in jack.server_complaints()
        assert "starting in non-realtime" not in jack.server_complaints(), "start-up lines are no complaint"
    finally:
        JackServer._running.remove(server)
        server.started = False
        log.close()
    assert server.name not in jack.server_complaints()


def test_jackds_log_is_freed_as_it_is_read_and_counted_whole() -> None:
    """A loaded 32-frame server logs ~1,500 late cycles a second: the log the rig reads must not grow
    on disk without bound (issue #9), and no line may be lost or counted twice across the reads."""
    from rig.os_midi.jack_log import JackLog

    server = JackServer(reuse=False)
    log = JackLog()
    server._log, server.started = log, True
    line = b"JackTimedDriver::Process XRun = 6 usec\n"
    try:
        for _ in range(50):  # 50 reads of 1 MB each, one line cut in two across every read
            os.write(log.fileno(), line * 26_000 + line[:10])
            server.xruns()
            os.write(log.fileno(), line[10:])
        xruns = server.xruns()
        assert xruns is not None and xruns.late_cycles == 50 * 26_001
        assert log.size() > 50_000_000
        assert log.disk_bytes() < 2_000_000, f"{log.disk_bytes()} bytes on disk for {log.size()} written"
    finally:
        server.started = False
        log.close()

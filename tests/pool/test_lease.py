"""Leases on targets between processes (rig.targets.lease): exclusive, given back when the holder dies
however it dies, a stale lock broken with a message, a busy pool named in the error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.errors import TargetError
from rig.pytest_plugin.pool import PoolError, read_pool
from rig.targets.emulator import EmulatorArgs, parse_emulator_arg
from rig.targets.lease import Lease, LeaseBusy, lease_one, lock_path

HOLD = """
import sys, time
from pathlib import Path
from rig.targets.lease import Lease
lease = Lease(sys.argv[1], Path(sys.argv[2]))
assert lease.try_acquire()
print("held", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lease on "loopback" (lock files in tmp_path)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, "loopback", str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_a_lease_excludes_another_process_and_names_it(tmp_path: Path,
                                                       holder: subprocess.Popen[str]) -> None:
    lease = Lease("loopback", tmp_path)
    assert not lease.try_acquire()
    who = lease.holder()
    assert who is not None and who.pid == holder.pid
    with pytest.raises(LeaseBusy, match=f"pid {holder.pid}"):
        lease.__enter__()


def test_a_killed_holder_gives_the_lease_back(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    holder.kill()  # SIGKILL: no cleanup code of the holder runs; the kernel drops its flock
    holder.wait()
    with Lease("loopback", tmp_path) as lease:
        assert lease.held
        assert lease.holder() is not None and lease.holder().pid == os.getpid()  # type: ignore[union-attr]


def test_a_stale_lock_is_broken_with_a_message(tmp_path: Path) -> None:
    """The lock is held (by an orphaned descriptor, here a child) but names a holder that is gone."""
    path = lock_path("loopback", tmp_path)
    orphan = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert orphan.stdout is not None and orphan.stdout.readline().strip() == "held"
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        path.write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename, "since": time.time()}))
        lease = Lease("loopback", tmp_path)
        assert lease.try_acquire()
        assert lease.notes and f"pid {dead.pid}" in lease.notes[0] and "stale" in lease.notes[0]
        lease.release()
    finally:
        orphan.kill()
        orphan.wait()


def test_a_lease_is_not_broken_while_its_holder_lives(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    lease = Lease("loopback", tmp_path)
    assert not lease.try_acquire()
    assert not lease.notes


def test_waiting_for_a_busy_pool_ends_naming_every_holder(tmp_path: Path,
                                                          holder: subprocess.Popen[str]) -> None:
    heard: list[str] = []
    start = time.monotonic()
    with pytest.raises(LeaseBusy) as caught:
        lease_one(["loopback"], 0.3, tmp_path, on_wait=heard.append)
    assert time.monotonic() - start >= 0.3
    assert f"loopback: pid {holder.pid}" in str(caught.value)
    assert heard == ["all 1 pool targets are leased; waiting up to 0 s"]


def test_lease_one_takes_the_first_free_target(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    lease = lease_one(["loopback", "emulator"], 0.0, tmp_path)
    assert lease.spec == "emulator"
    lease.release()


def test_a_pool_is_read_from_a_file_or_the_command_line(tmp_path: Path) -> None:
    pool = tmp_path / "pool.txt"
    pool.write_text("# the lab bench\nloopback:0000000000000001\n\nemulator:uid=E000000000000001  # one\n")
    assert read_pool(str(pool)) == ["loopback:0000000000000001", "emulator:uid=E000000000000001"]
    assert read_pool("loopback;emulator") == ["loopback", "emulator"]


@pytest.mark.parametrize(("text", "message"), [
    ("loopback;loopback", "loopback is in the pool twice"),
    ("loopback;toaster", "2: unknown target 'toaster'"),
    (" ; # nothing", "lists no target"),
    ("/nowhere/lab.pool", "no such file"),
])
def test_a_bad_pool_is_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(PoolError, match=message):
        read_pool(text)


def test_emulator_options_give_each_board_its_own_unique_id() -> None:
    assert parse_emulator_arg("uid=e000000000000001", {}) == EmulatorArgs(uid="E000000000000001")
    assert parse_emulator_arg("fw.bin,uid=E000000000000001", {}) == EmulatorArgs(Path("fw.bin"),
                                                                               uid="E000000000000001")
    with pytest.raises(TargetError, match="unknown option 'colour=red'"):
        parse_emulator_arg("colour=red", {})
    with pytest.raises(TargetError, match="16 hex digits"):
        parse_emulator_arg("uid=12", {})

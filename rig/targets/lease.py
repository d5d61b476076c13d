"""Exclusive leases on targets between processes (pytest-xdist workers, two `rig` commands, two
people): one lock file per target spec, held with flock(2).

Why flock: the kernel drops the lock when its holder dies, however it dies, so a killed worker never
leaves a board locked. The file also names its holder (pid, host, time): a lock whose named holder is
gone while the lock is still held (an inherited descriptor in an orphaned child, a lock on a shared
filesystem) is stale; it is broken with a message naming both, never waited on forever.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from rig.errors import TargetError

ENV_LOCK_DIR = "RIG_LOCK_DIR"
"""Directory of the lock files (default: rig-locks-UID in the temporary directory)."""
POLL_S = 0.05


class LeaseBusy(TargetError):
    """Every wanted target stayed leased by someone else for the whole wait; names the holders."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a lease, as written into its lock file."""

    pid: int
    host: str
    since: float
    """time.time() when the lease was taken."""

    @classmethod
    def this_process(cls) -> Holder:
        """This process, from now."""
        return cls(os.getpid(), socket.gethostname(), time.time())

    @classmethod
    def parse(cls, text: str) -> Holder:
        """The holder a lock file's text names (ValueError, TypeError or KeyError when it names none)."""
        raw = json.loads(text or "null")
        return cls(int(raw["pid"]), str(raw["host"]), float(raw["since"]))

    def lock_text(self, spec: str) -> bytes:
        """What a lock file says: this holder, and the spec for a person reading the file."""
        return json.dumps({**asdict(self), "spec": spec}).encode()

    def alive(self) -> bool:
        """True unless the holder is a process on this host that no longer exists."""
        if self.host != socket.gethostname():
            return True  # cannot tell: another host's process
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def __str__(self) -> str:
        age = time.time() - self.since
        return f"pid {self.pid} on {self.host} for {age:.0f} s"


def lock_dir() -> Path:
    """The directory lock files live in (created 0700 when missing)."""
    configured = os.environ.get(ENV_LOCK_DIR)
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / f"rig-locks-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def lock_path(spec: str, directory: Path | None = None) -> Path:
    """The lock file of one target spec (a file name safe for any spec text)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", spec)[:120]
    return (directory or lock_dir()) / f"{name}.lock"


def read_holder(path: Path) -> Holder | None:
    """The holder a lock file names, or None when it names none (empty, unreadable, not ours)."""
    try:
        return Holder.parse(path.read_text())
    except (OSError, ValueError, TypeError, KeyError):
        return None


class Lease:
    """An exclusive lease on one target spec; released by `release()`, on `with` exit, or by the
    kernel when this process dies."""

    def __init__(self, spec: str, directory: Path | None = None) -> None:
        self.spec = spec
        self.path = lock_path(spec, directory)
        self._fd: int | None = None
        self.notes: list[str] = []
        """What happened while taking it (a stale lock broken), for the report."""

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lease now if it is free (or stale, which is broken with a note); False if another
        live holder has it."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = read_holder(self.path)
            if holder is None or holder.alive():
                return False
            self._break_stale(holder)
            return self.try_acquire()
        if os.fstat(fd).st_nlink == 0:  # broken (unlinked) by someone between our open and lock
            os.close(fd)
            return self.try_acquire()
        os.ftruncate(fd, 0)
        os.write(fd, Holder.this_process().lock_text(self.spec))
        self._fd = fd
        return True

    def _break_stale(self, holder: Holder) -> None:
        """Unlink a lock file whose named holder is gone: the next open creates a fresh one, so the
        descriptor that still holds the old file no longer excludes anybody."""
        note = (f"lease {self.spec}: broke a stale lock held for {holder} (that process is gone; "
                f"the lock was still held, by an inherited descriptor): {self.path}")
        self.notes.append(note)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def holder(self) -> Holder | None:
        """Who holds it now (as its lock file says)."""
        return read_holder(self.path)

    def release(self) -> None:
        """Give the lease back (safe to call twice)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)

    def __enter__(self) -> Self:
        if not self.try_acquire():
            raise LeaseBusy(f"target {self.spec} is leased by {self.holder() or 'another process'}")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def lease_one(specs: list[str], wait_s: float, directory: Path | None = None,
              on_wait: Callable[[str], None] | None = None) -> Lease:
    """The first of `specs` that can be leased, waiting up to `wait_s` for one to come free;
    LeaseBusy naming every holder when none did. `on_wait` hears one line when waiting starts."""
    if not specs:
        raise LeaseBusy("no target to lease: the pool is empty")
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        for spec in specs:
            lease = Lease(spec, directory)
            if lease.try_acquire():
                return lease
        if time.monotonic() >= deadline:
            holders = "; ".join(f"{s}: {Lease(s, directory).holder() or 'unknown holder'}" for s in specs)
            raise LeaseBusy(f"no target of the pool came free within {wait_s:.0f} s ({holders})")
        if not told and on_wait is not None:
            on_wait(f"all {len(specs)} pool targets are leased; waiting up to {wait_s:.0f} s")
            told = True
        time.sleep(POLL_S)

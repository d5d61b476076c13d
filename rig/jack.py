"""A JACK server for python-rtmidi where there is no ALSA sequencer (CI containers): JackServer starts
`jackd --no-realtime -d dummy` under a unique server name unless one is already reachable.

JACK clients find their server through the JACK_DEFAULT_SERVER environment variable, so the server
name is exported to this process while the server runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from rig.errors import RigError

ENV_SERVER = "JACK_DEFAULT_SERVER"
_JACK_NO_START_SERVER = 0x01
_JACK_SERVER_NAME = 0x04
_PR_SET_PDEATHSIG = 1


class JackError(RigError, RuntimeError):
    """jackd is missing, or did not start or accept clients in time (the message says which)."""


class JackMissing(JackError, FileNotFoundError):
    """No jackd executable or no libjack on this machine."""


def _libjack() -> ctypes.CDLL:
    name = ctypes.util.find_library("jack") or "libjack.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise JackMissing(f"libjack not found ({exc}); install jackd2 / libjack-jackd2-0") from None
    lib.jack_client_open.restype = ctypes.c_void_p
    lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int),
                                     ctypes.c_char_p]
    lib.jack_client_close.argtypes = [ctypes.c_void_p]
    return lib


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM jackd when the process that started it dies (no orphans)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def server_running(name: str | None = None) -> bool:
    """True when a JACK server `name` (default: JACK_DEFAULT_SERVER, else "default") accepts a client."""
    try:
        lib = _libjack()
    except JackMissing:
        return False
    server = name or os.environ.get(ENV_SERVER) or "default"
    status = ctypes.c_int(0)
    client = lib.jack_client_open(b"rig-probe", _JACK_NO_START_SERVER | _JACK_SERVER_NAME,
                                  ctypes.byref(status), server.encode())
    if not client:
        return False
    lib.jack_client_close(client)
    return True


class JackServer:
    """Context manager: use a reachable JACK server, or start a dummy-driver one and stop it after.

    On Linux the started jackd gets SIGTERM when the thread that started it ends, so start it from
    the main thread (a pytest session fixture does) and no jackd outlives a killed test run.
    """

    def __init__(self, name: str | None = None, *, timeout_s: float = 10.0, jackd: str = "jackd") -> None:
        self.name = name or f"rig-{os.getpid()}-{time.monotonic_ns() % 1_000_000}"
        self.timeout_s = timeout_s
        self.jackd = jackd
        self.started = False
        """True when this object started the server (and so stops it)."""
        self._process: subprocess.Popen[bytes] | None = None
        self._previous_env: str | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None

    def start(self) -> Self:
        """Reuse a running server (JACK_DEFAULT_SERVER or "default"), else start our own and wait for it."""
        existing = os.environ.get(ENV_SERVER) or "default"
        if server_running(existing):
            self.name = existing
            return self
        path = shutil.which(self.jackd)
        if path is None:
            raise JackMissing(f"{self.jackd} not found on PATH; install jackd2 to run the MIDI tests")
        self._previous_env = os.environ.get(ENV_SERVER)
        os.environ[ENV_SERVER] = self.name
        env = dict(os.environ)
        self._log = tempfile.NamedTemporaryFile(prefix="jackd-", suffix=".log")  # noqa: SIM115
        self._process = subprocess.Popen(
            [path, "--no-realtime", "-n", self.name, "-d", "dummy"], env=env,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        self.started = True
        deadline = time.monotonic() + self.timeout_s
        while not server_running(self.name):
            if self._process.poll() is not None:
                output = self._read_log()
                self.stop()
                raise JackError(f"jackd exited with status {self._process.returncode} before accepting "
                                f"clients: {output.decode(errors='replace').strip()[-500:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise JackError(f"jackd server {self.name!r} did not accept clients within "
                                f"{self.timeout_s} s")
            time.sleep(0.05)
        return self

    def _remove_leftovers(self) -> None:
        """Delete the semaphores and segments named after our (unique) server that clients left behind."""
        for pattern in (f"jack_sem.*_{self.name}_*", f"jack_{self.name}_*"):
            for path in Path("/dev/shm").glob(pattern):
                with contextlib.suppress(OSError):
                    path.unlink()

    def _read_log(self) -> bytes:
        if self._log is None:
            return b""
        self._log.seek(0)
        return self._log.read()

    def _cleanup_env(self) -> None:
        if os.environ.get(ENV_SERVER) == self.name:
            if self._previous_env is None:
                os.environ.pop(ENV_SERVER, None)
            else:
                os.environ[ENV_SERVER] = self._previous_env

    def stop(self) -> None:
        """Stop the server if we started it (SIGTERM, then SIGKILL after 5 s); safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
            self._cleanup_env()
            self._remove_leftovers()
        log, self._log = self._log, None
        if log is not None:
            with contextlib.suppress(OSError):
                log.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

"""A labgrid place held for one session: acquired through `labgrid-client` (waiting while someone else
holds it), its RigBoard found through a labgrid environment that imports rig.labgrid.board, and
released on every way out (success, failure, Ctrl-C).

Why labgrid-client for acquire/release: it is labgrid's own, stable interface to the coordinator's
locking, and each call is one short process; the environment (RemotePlace) is labgrid's own way for a
client to see the resources of a place it holds.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from rig.errors import TargetError

if TYPE_CHECKING:
    from rig.labgrid.driver import RigConsoleDriver, RigDriver, RigFlashDriver

ENV_COORDINATOR = "LG_COORDINATOR"
DEFAULT_COORDINATOR = "127.0.0.1:20408"
POLL_S = 0.5
CLIENT_TIMEOUT_S = 60.0


class PlaceError(TargetError):
    """A labgrid place could not be used: the message names the place, the coordinator and why."""


class PlaceBusy(PlaceError):
    """The place stayed acquired by someone else for the whole wait."""


def client_program() -> str:
    """The labgrid-client beside this Python (the extra's install), else on PATH."""
    beside = Path(sys.executable).with_name("labgrid-client")
    if beside.is_file():
        return str(beside)
    found = shutil.which("labgrid-client")
    if found is None:
        raise PlaceError("labgrid-client not found: install the extra (pip install '.[labgrid]')")
    return found


class Place:
    """One labgrid place on one coordinator; `with Place(...)` acquires it and always releases it."""

    def __init__(self, name: str, coordinator: str | None = None, wait_s: float = 0.0,
                 on_wait: Callable[[str], None] | None = None) -> None:
        self.name = name
        self.coordinator = coordinator or os.environ.get(ENV_COORDINATOR) or DEFAULT_COORDINATOR
        self.wait_s = wait_s
        self.on_wait = on_wait
        self.acquired = False
        self._env_dir: tempfile.TemporaryDirectory[str] | None = None
        self._drivers: dict[str, Any] = {}

    def _client(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [client_program(), "-x", self.coordinator, "-p", self.name, *args]
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            raise PlaceError(f"labgrid place {self.name}: the coordinator {self.coordinator} did not answer "
                             f"`labgrid-client {' '.join(args)}` within {CLIENT_TIMEOUT_S:.0f} s") from None

    def acquire(self) -> None:
        """Acquire the place, waiting up to wait_s while another session holds it."""
        deadline = time.monotonic() + self.wait_s
        told = False
        while True:
            done = self._client("acquire")
            if done.returncode == 0:
                self.acquired = True
                return
            why = _error_line(done)
            if not re.search(r"already acquired", why):
                raise PlaceError(f"labgrid place {self.name} on {self.coordinator}: {why}")
            if time.monotonic() >= deadline:
                raise PlaceBusy(f"labgrid place {self.name} on {self.coordinator} stayed acquired for "
                                f"{self.wait_s:.0f} s: {why}")
            if not told and self.on_wait is not None:
                self.on_wait(f"labgrid place {self.name} is acquired; waiting up to {self.wait_s:.0f} s")
                told = True
            time.sleep(POLL_S)

    def release(self) -> None:
        """Release the place if this object acquired it (safe to call twice)."""
        self._drivers.clear()
        if self._env_dir is not None:
            self._env_dir.cleanup()
            self._env_dir = None
        if not self.acquired:
            return
        self.acquired = False
        done = self._client("release")
        if done.returncode != 0:
            raise PlaceError(f"labgrid place {self.name}: release failed: {_error_line(done)}")

    def driver(self) -> RigDriver:
        """The RigDriver of the place's RigBoard (rig commands where the board is)."""
        driver: RigDriver = self._driver("RigDriver")
        return driver

    def flash_driver(self) -> RigFlashDriver:
        """The RigFlashDriver of the place (it needs a RigBootselDrive besides the RigBoard)."""
        driver: RigFlashDriver = self._driver("RigFlashDriver")
        return driver

    def console_driver(self) -> RigConsoleDriver:
        """The RigConsoleDriver of the place (its RigConsole port, else the board target's console)."""
        driver: RigConsoleDriver = self._driver("RigConsoleDriver")
        return driver

    def _driver(self, name: str) -> Any:
        """Driver `name` bound to the place's resources, through a labgrid environment (RemotePlace)
        that imports rig.labgrid.board, as a user's own environment would."""
        if name in self._drivers:
            return self._drivers[name]
        from labgrid import Environment

        if self._env_dir is None:
            self._env_dir = tempfile.TemporaryDirectory(prefix="rig-labgrid-")
        config = Path(self._env_dir.name) / f"{name}.yaml"
        config.write_text(
            "targets:\n  main:\n    resources:\n      RemotePlace:\n"
            f"        name: {self.name}\n    drivers:\n      {name}: {{}}\n"
            f"options:\n  coordinator_address: '{self.coordinator}'\n"
            "imports:\n  - rig.labgrid.board\n")
        try:
            target = Environment(str(config)).get_target("main")
            driver = target.get_driver(name)
        except Exception as exc:
            what = {"RigFlashDriver": "RigBoard and RigBootselDrive"}.get(name, "RigBoard")
            raise PlaceError(f"labgrid place {self.name}: no usable {what} for {name} "
                             f"({type(exc).__name__}: {exc})") from None
        self._drivers[name] = driver
        return driver

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with contextlib.suppress(PlaceError) if exc is not None else contextlib.nullcontext():
            self.release()


def _error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    text = (errors or lines or [f"exit status {done.returncode}"])[-1]
    return text.removeprefix("labgrid-client: ").removeprefix("Error: ")

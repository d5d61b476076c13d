"""A labgrid place held for one session: acquired through a labgrid client session in this process
(waiting while someone else holds it), its RigBoard found through a labgrid environment that imports
rig.labgrid.board, and released on every way out (success, failure, Ctrl-C).

Acquire and release go through labgrid's own client session of this process (the one its RemotePlace
resources use: RemotePlaceManager's, started here when there is none yet), with the per-place steps
and the arguments of `labgrid-client -p PLACE acquire|release`: the same checks, coordinator calls and
messages, without starting a labgrid-client process (~0.4 s CPU each) per call and per poll while
the place is busy. One session per process: the coordinator tells clients apart by their connection,
which gRPC shares between channels to one address. The environment (RemotePlace) is labgrid's own
way for a client to see the resources of a place it holds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import re
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from rig.errors import TargetError

if TYPE_CHECKING:
    from rig.labgrid.driver import RigConsoleDriver, RigDriver, RigFlashDriver

ENV_COORDINATOR = "LG_COORDINATOR"
DEFAULT_COORDINATOR = "127.0.0.1:20408"
POLL_S = 0.1
"""How often a busy place is asked again (an in-process round trip to the coordinator)."""
CLIENT_TIMEOUT_S = 60.0


class PlaceError(TargetError):
    """A labgrid place could not be used: the message names the place, the coordinator and why."""


class PlaceBusy(PlaceError):
    """The place stayed acquired by someone else for the whole wait."""


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

    def _run(self, what: str, step: Callable[[Any], Coroutine[Any, Any, Any]]) -> None:
        """Run one client step (given the session) on the session's event loop, with the arguments
        `labgrid-client -p PLACE` gives it; labgrid's errors as a _ClientError (its text, as
        labgrid-client prints it; what it prints on success is not shown)."""
        from labgrid.remote.client import Error

        session = client_session(self.coordinator)
        session.args = argparse.Namespace(place=self.name, allow_unmatched=False, kick=False)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # "acquired place ...", as labgrid-client says
                session.loop.run_until_complete(asyncio.wait_for(step(session), CLIENT_TIMEOUT_S))
        except TimeoutError:
            raise PlaceError(f"labgrid place {self.name}: the coordinator {self.coordinator} did not answer "
                             f"`{what}` within {CLIENT_TIMEOUT_S:.0f} s") from None
        except Error as exc:
            raise _ClientError(str(exc)) from None

    def acquire(self) -> None:
        """Acquire the place, waiting up to wait_s while another session holds it."""
        deadline = time.monotonic() + self.wait_s
        told = False
        while True:
            try:
                # the places as the coordinator has them now, then labgrid-client's acquire of one place
                self._run("acquire", lambda session: session.sync_with_coordinator())
                self._run("acquire", lambda session: session._acquire_place(self.name))
                self.acquired = True
                return
            except _ClientError as exc:
                why = str(exc)
            if not re.search(r"already acquired", why):
                raise PlaceError(f"labgrid place {self.name} on {self.coordinator}: {why}")
            if time.monotonic() >= deadline:
                raise PlaceBusy(f"labgrid place {self.name} on {self.coordinator} stayed acquired for "
                                f"{self.wait_s:.0f} s: {why}")
            if not told and self.on_wait is not None:
                self.on_wait(f"labgrid place {self.name} is acquired; waiting up to {self.wait_s:.0f} s")
                told = True
            self._run("acquire", lambda _: asyncio.sleep(POLL_S))  # the session takes place updates meanwhile

    def release(self) -> None:
        """Release the place if this object acquired it (safe to call twice)."""
        self._drivers.clear()
        if self._env_dir is not None:
            self._env_dir.cleanup()
            self._env_dir = None
        if not self.acquired:
            return
        self.acquired = False
        try:
            self._run("release", lambda session: session._release_place(self.name))
        except _ClientError as exc:
            raise PlaceError(f"labgrid place {self.name}: release failed: {exc}") from None

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


class _ClientError(PlaceError):
    """What labgrid's client refused (its message), before this module says which place and why."""


def client_session(coordinator: str) -> Any:
    """labgrid's client session of this process (RemotePlaceManager's, which its RemotePlace resources
    use), started on `coordinator` when there is none yet; a PlaceError when it cannot connect or
    when the process already talks to another coordinator (labgrid keeps one session per process)."""
    from labgrid.remote.client import Error, start_session
    from labgrid.resource.remote import RemotePlaceManager

    manager = RemotePlaceManager.get()
    if manager.session is None:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                session = start_session(coordinator, extra={"env": None})
        except (Error, OSError) as exc:
            raise PlaceError(f"labgrid coordinator {coordinator}: {exc}") from None
        manager.url, manager.session, manager.loop = coordinator, session, session.loop
    elif manager.url != coordinator:
        raise PlaceError(f"this process already uses the labgrid coordinator {manager.url}; labgrid keeps "
                         f"one client session per process, so {coordinator} cannot be used beside it")
    return manager.session


def close_client_session() -> None:
    """Stop and close this process's labgrid client session, if there is one (the next
    client_session() starts a new one, on whichever coordinator it names)."""
    from labgrid.resource.remote import RemotePlaceManager

    manager = RemotePlaceManager.get()
    session, manager.session = manager.session, None
    if session is not None:
        with contextlib.suppress(Exception):  # the coordinator may be gone already
            session.loop.run_until_complete(session.stop())
            session.loop.run_until_complete(session.close())

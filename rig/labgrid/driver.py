"""labgrid drivers for a rig board, bound to the resources of rig.labgrid.resources:

- RigDriver (RigBoard): runs `rig` commands where the board is attached.
- RigFlashDriver (RigBoard, RigBootselDrive, optional RigConsole): flashes a .uf2 through the BOOTSEL
  drive with rig's own flashing sequence (rig.labgrid.flashing over rig.tools.flash).
- RigConsoleDriver (RigBoard, optional RigConsole): the board's console, one command at a time.

Each runs on the board's host: in this process when that host is this machine, else over ssh (in the
RigBoard's workdir, with that checkout's .venv), so the client needs no access to the board itself.
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory

from rig.client.console import Console, ConsoleError
from rig.errors import TargetError
from rig.labgrid.flashing import DEFAULT_TIMEOUT_S, flash_here
from rig.labgrid.hosts import copy_to_host, fetch_from_host, is_local, remove_on_host, run_on_host
from rig.targets.factory import make_target
from rig.targets.registry import Feature
from rig.tools.flash import FlashError

REPO = Path(__file__).resolve().parents[2]


def _workdir(board: Any) -> str:
    return str(board.workdir or REPO)


def rig_argv(board: Any, args: list[str]) -> list[str]:
    """The argv that runs `rig ARGS --rig=SPEC` on the board's host."""
    if is_local(board.host) and not board.workdir:
        return [sys.executable, "-m", "rig.cli", *args, f"--rig={board.spec}"]
    return [f"{_workdir(board)}/.venv/bin/rig", *args, f"--rig={board.spec}"]


def python_argv(board: Any, module: str, args: list[str]) -> list[str]:
    """The argv that runs `python -m MODULE ARGS` with the rig checkout's Python on the board's host."""
    if is_local(board.host) and not board.workdir:
        return [sys.executable, "-m", module, *args]
    return [f"{_workdir(board)}/.venv/bin/python", "-m", module, *args]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else "").removeprefix("error: ")


@target_factory.reg_driver
@attr.s(eq=False)
class RigDriver(Driver):
    """Runs `rig` commands against the bound RigBoard on the host it is attached to."""

    bindings = {"board": "RigBoard"}  # noqa: RUF012  (labgrid declares bindings this way)

    @property
    def spec(self) -> str:
        return str(self.board.spec)

    @property
    def host(self) -> str:
        return str(self.board.host)

    def rig_command(self, args: list[str]) -> list[str]:
        """The argv that runs `rig ARGS --rig=SPEC` on the board's host."""
        return rig_argv(self.board, args)

    def run(self, args: list[str], env: dict[str, str] | None = None) -> int:
        """Run `rig ARGS --rig=SPEC` where the board is (with the variables `env` set), passing its
        output through; its exit status."""
        return run_on_host(self.host, _workdir(self.board), self.rig_command(args), env=env).returncode

    def fetch(self, remote_dir: str, local_dir: Path) -> None:
        """Copy a directory the command wrote on the board's host (its reports) into `local_dir`."""
        if not is_local(self.host):
            fetch_from_host(self.host, remote_dir, local_dir)


@target_factory.reg_driver
@attr.s(eq=False)
class RigFlashDriver(Driver):
    """Flashes a .uf2 onto the bound board through its RigBootselDrive (entering BOOTSEL by the
    1200-baud touch on its RigConsole port when the drive is not there; an emulated drive: see
    rig.labgrid.flashing)."""

    bindings = {"board": "RigBoard", "drive": "RigBootselDrive",  # noqa: RUF012
                "console": {"RigConsole", None}}
    timeout_s: float = attr.ib(default=DEFAULT_TIMEOUT_S, converter=float)

    def _console_port(self) -> str:
        return str(self.console.port) if self.console is not None else ""

    def flash(self, image: Path | str, say: Callable[[str], None] = print) -> str:
        """Flash `image` (a file here) onto the board; the steps go to `say`. Returns the last step's
        line; a FlashError names the step that failed."""
        image = Path(image)
        drive, spec, host = str(self.drive.path), str(self.board.spec), str(self.drive.host)
        if is_local(host):
            lines: list[str] = []

            def keep(line: str) -> None:
                lines.append(line)
                say(line)

            flash_here(image, Path(drive), spec, emulated=bool(self.drive.emulated),
                       console_port=self._console_port(), say=keep, timeout_s=self.timeout_s)
            return lines[-1]
        remote = f"/tmp/rig-flash-{uuid.uuid4().hex}-{image.name}"
        copy_to_host(host, image, remote)
        try:
            args = [remote, "--drive", drive, "--spec", spec, "--timeout", f"{self.timeout_s:g}",
                    *(["--emulated"] if self.drive.emulated else []),
                    *(["--console", self._console_port()] if self._console_port() else [])]
            argv = python_argv(self.board, "rig.labgrid.flashing", args)
            done = run_on_host(host, _workdir(self.board), argv, capture=True)
        finally:
            remove_on_host(host, remote)
        for line in done.stdout.splitlines():
            say(line)
        if done.returncode != 0:
            raise FlashError(f"flashing on {host}: {_last_line(done.stderr + done.stdout)}")
        return _last_line(done.stdout)


@target_factory.reg_driver
@attr.s(eq=False)
class RigConsoleDriver(Driver):
    """The bound board's console: its RigConsole port, or (without one, or with an empty port) the
    console of the RigBoard's target, opened for the purpose."""

    bindings = {"board": "RigBoard", "console": {"RigConsole", None}}  # noqa: RUF012

    def _port(self) -> str:
        return str(self.console.port) if self.console is not None else ""

    @contextlib.contextmanager
    def open(self) -> Iterator[Console]:
        """The console as a rig.client.console.Console, on a board attached to this host."""
        if not is_local(self.board.host):
            raise ConsoleError(f"the console of {self.board.spec} is on {self.board.host}: use command(), "
                               f"which runs there")
        if self._port():
            with Console.open(self._port()) as console:
                yield console
            return
        target = make_target(str(self.board.spec))
        target.open()
        try:
            target.require(Feature.CONSOLE)
            with Console.open(target.console_port()) as console:
                yield console
        finally:
            target.close()

    def command(self, text: str, timeout_s: float = 2.0) -> str:
        """Send one command and return the board's reply (on the board's host, over ssh if remote)."""
        if is_local(self.board.host):
            with self.open() as console:
                return console.command(text, timeout_s)
        port = ["--port", self._port()] if self._port() else []
        args = ["console", *port, "--command", text, "--timeout", f"{timeout_s:g}"]
        argv = rig_argv(self.board, args)
        done = run_on_host(str(self.board.host), _workdir(self.board), argv, capture=True)
        if done.returncode != 0 and not done.stdout.strip():
            raise TargetError(f"console of {self.board.spec} on {self.board.host}: "
                              f"{_last_line(done.stderr) or f'exit {done.returncode}'}")
        return done.stdout.rstrip("\n")

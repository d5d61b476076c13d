"""labgrid's view of a rig board: the `RigBoard` resource and the `RigDriver` that runs rig commands
on the host the board is attached to. Load it with `imports: [rig.labgrid.board]` in a labgrid
environment file; an exporter publishes a RigBoard under its own class name, e.g.

    rig-board-1:
      RigBoard:
        host: lab1.example.org      # where the board is attached (the exporter's host)
        spec: board:E66138935F2B2B2C # the rig target on that host (board, usb:, emulator:...)
        workdir: /srv/midi-usb-rig   # a checkout with its .venv (default: the same path as here)
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.resource.common import NetworkResource

from rig.labgrid.hosts import is_local


@target_factory.reg_resource
@attr.s(eq=False)
class RigBoard(NetworkResource):
    """A board (or any rig target) attached to `host`, named by its rig target `spec` there."""

    spec: str = attr.ib(validator=attr.validators.instance_of(str))
    workdir: str = attr.ib(default="", validator=attr.validators.instance_of(str))
    """The rig checkout on `host` (its .venv/bin/rig runs the commands); empty: this checkout's path."""


@target_factory.reg_driver
@attr.s(eq=False)
class RigDriver(Driver):
    """Runs `rig` commands against the bound RigBoard on the host it is attached to: directly when that
    host is this one, else over ssh (labgrid's ssh manager, which shares one connection)."""

    bindings = {"board": "RigBoard"}  # noqa: RUF012  (labgrid declares bindings this way)

    @property
    def spec(self) -> str:
        return str(self.board.spec)

    @property
    def host(self) -> str:
        return str(self.board.host)

    def rig_command(self, args: list[str]) -> list[str]:
        """The argv that runs `rig ARGS --rig=SPEC` on the board's host."""
        workdir = self.board.workdir or str(Path(__file__).resolve().parents[2])
        if is_local(self.host) and not self.board.workdir:
            return [sys.executable, "-m", "rig.cli", *args, f"--rig={self.spec}"]
        return [f"{workdir}/.venv/bin/rig", *args, f"--rig={self.spec}"]

    def _ssh_prefix(self) -> list[str]:
        from labgrid.util.ssh import sshmanager

        return list(sshmanager.get(self.host).get_prefix())

    def run(self, args: list[str], *, env: dict[str, str] | None = None) -> int:
        """Run `rig ARGS --rig=SPEC` where the board is, passing its output through; its exit status."""
        command = self.rig_command(args)
        if is_local(self.host):
            return subprocess.run(command, env={**os.environ, **(env or {})}, check=False).returncode
        assignments = [f"{k}={shlex.quote(v)}" for k, v in (env or {}).items()]
        remote = " ".join([*assignments, *(shlex.quote(c) for c in command)])
        return subprocess.run([*self._ssh_prefix(), remote], check=False).returncode

    def fetch(self, remote_dir: str, local_dir: Path) -> None:
        """Copy a directory the command wrote on the board's host (its reports) into `local_dir`."""
        if is_local(self.host):
            return  # already here
        local_dir.mkdir(parents=True, exist_ok=True)
        pack = subprocess.Popen([*self._ssh_prefix(), f"tar -C {shlex.quote(remote_dir)} -cf - ."],
                                stdout=subprocess.PIPE)
        unpack = subprocess.run(["tar", "-C", str(local_dir), "-xf", "-"], stdin=pack.stdout, check=False)
        if pack.wait() != 0 or unpack.returncode != 0:
            raise OSError(f"could not copy {self.host}:{remote_dir} to {local_dir}")

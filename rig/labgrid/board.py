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

ENV_SSH_CONFIG = "RIG_SSH_CONFIG"
"""An ssh_config file for reaching exporter hosts (default: the user's own ssh configuration)."""
REPO = Path(__file__).resolve().parents[2]


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
    host is this one, else over ssh (in the board's workdir, with that checkout's .venv)."""

    bindings = {"board": "RigBoard"}  # noqa: RUF012  (labgrid declares bindings this way)

    @property
    def spec(self) -> str:
        return str(self.board.spec)

    @property
    def host(self) -> str:
        return str(self.board.host)

    def rig_command(self, args: list[str]) -> list[str]:
        """The argv that runs `rig ARGS --rig=SPEC` on the board's host."""
        if is_local(self.host) and not self.board.workdir:
            return [sys.executable, "-m", "rig.cli", *args, f"--rig={self.spec}"]
        workdir = self.board.workdir or str(REPO)
        return [f"{workdir}/.venv/bin/rig", *args, f"--rig={self.spec}"]

    def ssh_prefix(self) -> list[str]:
        """`ssh` to the board's host: the user's ssh configuration (or RIG_SSH_CONFIG's file), keys
        only (BatchMode: a password prompt would hang a CI job)."""
        config = os.environ.get(ENV_SSH_CONFIG)
        return ["ssh", *(["-F", config] if config else []), "-o", "BatchMode=yes", self.host]

    def run(self, args: list[str]) -> int:
        """Run `rig ARGS --rig=SPEC` where the board is, passing its output through; its exit status."""
        command = self.rig_command(args)
        if is_local(self.host):
            return subprocess.run(command, check=False).returncode
        workdir = self.board.workdir or str(REPO)
        remote = f"cd {shlex.quote(workdir)} && " + " ".join(shlex.quote(c) for c in command)
        return subprocess.run([*self.ssh_prefix(), remote], check=False).returncode

    def fetch(self, remote_dir: str, local_dir: Path) -> None:
        """Copy a directory the command wrote on the board's host (its reports) into `local_dir`."""
        if is_local(self.host):
            return  # already here
        local_dir.mkdir(parents=True, exist_ok=True)
        pack = subprocess.Popen([*self.ssh_prefix(), f"tar -C {shlex.quote(remote_dir)} -cf - ."],
                                stdout=subprocess.PIPE)
        unpack = subprocess.run(["tar", "-C", str(local_dir), "-xf", "-"], stdin=pack.stdout, check=False)
        if pack.wait() != 0 or unpack.returncode != 0:
            raise OSError(f"could not copy {self.host}:{remote_dir} to {local_dir}")
        subprocess.run([*self.ssh_prefix(), f"rm -rf {shlex.quote(remote_dir)}"], check=False)

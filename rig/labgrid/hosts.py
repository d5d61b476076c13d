"""Running things on a labgrid exporter's host: here when that host is this machine, else over ssh
(keys only; RIG_SSH_CONFIG names an ssh_config file, else the user's own configuration is used)."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
from pathlib import Path

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
ENV_SSH_CONFIG = "RIG_SSH_CONFIG"
"""An ssh_config file for reaching exporter hosts (default: the user's own ssh configuration)."""


class HostError(OSError):
    """A command or a copy on an exporter's host failed; the message names the host and what."""


def is_local(host: str) -> bool:
    """True when `host` names this machine."""
    return host in LOCAL_HOSTS or host in {socket.gethostname(), socket.getfqdn()}


def ssh_prefix(host: str) -> list[str]:
    """`ssh` to `host`: the user's ssh configuration (or RIG_SSH_CONFIG's file), keys only (BatchMode:
    a password prompt would hang a CI job)."""
    config = os.environ.get(ENV_SSH_CONFIG)
    return ["ssh", *(["-F", config] if config else []), "-o", "BatchMode=yes", host]


def run_on_host(host: str, workdir: str, command: list[str], *, capture: bool = False,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `command` on `host` (in `workdir` there when remote) with the variables `env` added; its
    output passes through unless `capture`, which returns it as text."""
    if is_local(host):
        return subprocess.run(command, check=False, text=True, capture_output=capture,
                              env=None if not env else {**os.environ, **env})
    assigned = ["env", *(f"{k}={v}" for k, v in (env or {}).items())] if env else []
    remote = f"cd {shlex.quote(workdir)} && " + " ".join(shlex.quote(c) for c in [*assigned, *command])
    return subprocess.run([*ssh_prefix(host), remote], check=False, text=True, capture_output=capture,
                          stdin=subprocess.DEVNULL)


def copy_to_host(host: str, local: Path, remote: str) -> None:
    """Copy the file `local` to the path `remote` on `host` (over ssh; a local host needs no copy)."""
    with local.open("rb") as source:
        done = subprocess.run([*ssh_prefix(host), f"cat > {shlex.quote(remote)}"], stdin=source,
                              capture_output=True, check=False)
    if done.returncode != 0:
        raise HostError(f"could not copy {local} to {host}:{remote}: "
                        f"{done.stderr.decode(errors='replace').strip() or f'exit {done.returncode}'}")


def remove_on_host(host: str, path: str) -> None:
    """Remove a file or directory on `host` (best effort: a leftover temporary file is harmless)."""
    subprocess.run([*ssh_prefix(host), f"rm -rf {shlex.quote(path)}"], check=False, capture_output=True)


def fetch_from_host(host: str, remote_dir: str, local_dir: Path) -> None:
    """Copy the directory `remote_dir` on `host` into `local_dir`, then remove it there."""
    local_dir.mkdir(parents=True, exist_ok=True)
    pack = subprocess.Popen([*ssh_prefix(host), f"tar -C {shlex.quote(remote_dir)} -cf - ."],
                            stdout=subprocess.PIPE)
    unpack = subprocess.run(["tar", "-C", str(local_dir), "-xf", "-"], stdin=pack.stdout, check=False)
    if pack.wait() != 0 or unpack.returncode != 0:
        raise HostError(f"could not copy {host}:{remote_dir} to {local_dir}")
    remove_on_host(host, remote_dir)

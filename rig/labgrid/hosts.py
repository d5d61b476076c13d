"""Whether a labgrid exporter's host is this machine (then a command runs here, without ssh)."""

from __future__ import annotations

import socket

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def is_local(host: str) -> bool:
    """True when `host` names this machine."""
    return host in LOCAL_HOSTS or host in {socket.gethostname(), socket.getfqdn()}

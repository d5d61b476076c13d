"""Every JACK client the rig opens has a name no other rig process uses (rig.os_midi.jack.client_name),
the server probe included: processes sharing one server (a pool's workers, a CLI run a test starts)
each probed it as "rig-probe", and a namesake closing unlinked the other's semaphore ("can't connect
named futex ... rig-probe"); that process then died of SIGSEGV closing its ports (CI, issue #9)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from rig.os_midi import jack


class _Lib:
    """Stands in for libjack's two calls the probe makes, noting the names asked for."""

    def __init__(self) -> None:
        self.names: list[bytes] = []

    def jack_client_open(self, name: bytes, options: int, status: Any, server: bytes) -> int:
        self.names.append(name)
        return 1

    def jack_client_close(self, client: int) -> int:
        return 0


def test_the_server_probe_uses_a_name_of_its_own_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    lib = _Lib()
    monkeypatch.setattr(jack, "_libjack", lambda: lib)
    assert jack.server_running("any") and jack.server_running("any")
    first, second = (name.decode() for name in lib.names)
    assert first != second
    assert f"-{os.getpid()}-" in first and f"-{os.getpid()}-" in second
    assert len(lib.names[0]) < 64, "JACK client names are at most 63 bytes"

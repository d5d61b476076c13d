"""Every JACK client the rig opens has a name no other rig process uses (rig.os_midi.jack.client_name),
the server probe included: processes sharing one server (a pool's workers, a CLI run a test starts)
each probed it as "rig-probe", and a namesake closing unlinked the other's semaphore ("can't connect
named futex ... rig-probe"); that process then died of SIGSEGV closing its ports (CI, issue #9)."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import pytest

from rig.os_midi import jack


class _Lib:
    """Stands in for libjack's two calls the probe makes, noting the names asked for."""

    def __init__(self) -> None:
        self.names: list[bytes] = []
        self.closed: list[int] = []

    def jack_client_open(self, name: bytes, options: int, status: Any, server: bytes) -> int:
        self.names.append(name)
        return 1

    def jack_client_close(self, client: int) -> int:
        self.closed.append(client)
        return 0


def test_the_server_probe_uses_a_name_of_its_own_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    lib = _Lib()
    monkeypatch.setattr(jack, "_libjack", lambda: lib)
    monkeypatch.setattr(jack, "_socket_missing", lambda server: False)
    monkeypatch.setattr(jack, "_probe", ("another server", 0))  # kept: each probe here opens and closes
    assert jack.server_running("any") and jack.server_running("any")
    first, second = (name.decode() for name in lib.names)
    assert first != second
    assert f"-{os.getpid()}-" in first and f"-{os.getpid()}-" in second
    assert len(lib.names[0]) < 64, "JACK client names are at most 63 bytes"


class _Client:
    """Stands in for python-rtmidi's MidiOut/MidiIn, noting the client names asked for."""

    names: ClassVar[list[str | None]] = []

    def __init__(self, rtapi: int = 0, name: str | None = None, **kwargs: Any) -> None:
        _Client.names.append(name)

    def get_ports(self) -> list[str]:
        return []

    def close_port(self) -> None:
        pass

    def delete(self) -> None:
        pass


def test_every_listing_client_has_a_name_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """`rig list` and port discovery opened python-rtmidi's default "RtMidiOut Client": a namesake in
    another process sharing the server (a test's) races it (see rig.os_midi.jack.client_name), and
    a worker crashed closing one in test_list_prints_three_sections."""
    import rtmidi

    from rig.cli.list_cmd import midi_ports
    from rig.targets.discovery import rtmidi_port_names

    _Client.names = []
    monkeypatch.setattr(rtmidi, "MidiOut", _Client)
    monkeypatch.setattr(rtmidi, "MidiIn", _Client)
    monkeypatch.setattr(rtmidi, "get_compiled_api", lambda: [rtmidi.API_UNIX_JACK])
    midi_ports()
    rtmidi_port_names()
    assert len(_Client.names) == 4
    assert all(name and f"-{os.getpid()}-" in name for name in _Client.names), _Client.names
    assert len(set(_Client.names)) == 4, _Client.names


def test_no_probe_opens_a_client_while_the_servers_socket_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed open starts and stops libjack's message thread at once: the window in which a worker
    once hung forever in jack_client_close. Where the socket is missing, libjack is not called."""
    lib = _Lib()
    monkeypatch.setattr(jack, "_libjack", lambda: lib)
    assert not jack.server_running(f"rig-no-such-server-{os.getpid()}")
    assert lib.names == []


def test_the_first_client_that_answers_stays_open_as_the_graph_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Later probes of that server open nothing, and nothing is closed until the server stops."""
    lib = _Lib()
    monkeypatch.setattr(jack, "_libjack", lambda: lib)
    monkeypatch.setattr(jack, "_socket_missing", lambda server: False)
    monkeypatch.setattr(jack, "_probe", None)
    assert jack.server_running("any") and jack.server_running("any")
    assert len(lib.names) == 1 and lib.closed == []
    assert jack._probe == ("any", 1)

"""Fixtures for the miniport unit tests: a loopback board behind a fault-injecting UsbLink (the seam
under the pyusb backend), the pyusb device on it, and a rig.client.board.Board client."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import usb.core

from rig import contract as c
from rig.client.board import Board
from rig.links.pyusb_backend import LinkBackend
from rig.links.usb_link import ForwardingLink, write_timed_out
from rig.loopback import LoopbackBoard
from rig.pytest_plugin.testing import close_rtmidi_port, every_mxf_allocator_checked, open_rtmidi_port

Rewrite = Callable[[bytes], bytes]


@pytest.fixture(autouse=True)
def _mxf_allocators_checked() -> Iterator[None]:
    """Every MXF allocator in these tests runs checked and must end with its pool full."""
    yield from every_mxf_allocator_checked()


class FaultyLink(ForwardingLink):
    """A UsbLink in front of a LoopbackBoard that can rewrite what an IN endpoint returns (a device
    answering garbage) or make an OUT endpoint time out (a device NAKing), per endpoint."""

    def __init__(self, inner: LoopbackBoard) -> None:
        super().__init__(inner)
        self.read_rewrites: dict[int, Rewrite] = {}
        self.write_timeouts: set[int] = set()
        self.writes: dict[int, int] = {}

    def write(self, endpoint: int, data: bytes, timeout_ms: int) -> int:
        if endpoint in self.write_timeouts:
            # a device NAKing from the first packet: nothing acknowledged, as every rig link reports it
            raise write_timed_out(f"endpoint 0x{endpoint:02x} NAKed (injected)", 0)
        self.writes[endpoint] = self.writes.get(endpoint, 0) + 1
        return self.inner.write(endpoint, data, timeout_ms)

    def read(self, endpoint: int, length: int, timeout_ms: int) -> bytes:
        data = self.inner.read(endpoint, length, timeout_ms)
        rewrite = self.read_rewrites.get(endpoint)
        return rewrite(data) if rewrite is not None else data


@pytest.fixture
def loopback() -> Iterator[LoopbackBoard]:
    """A fresh loopback board without a console pty; no thread of its own left after close."""
    before = set(threading.enumerate())
    board = LoopbackBoard(console_pty=False)
    try:
        yield board
    finally:
        board.close()
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()
                  and t.name.startswith("loopback")]
        assert not leaked, f"threads left running after close: {leaked}"


@pytest.fixture
def link(loopback: LoopbackBoard) -> FaultyLink:
    """The fault-injecting link in front of the board."""
    return FaultyLink(loopback)


@pytest.fixture
def board(link: FaultyLink) -> Iterator[Board]:
    """A Board client on the pyusb device found through the link; counters reset; 300 ms timeouts."""
    device = usb.core.find(idVendor=c.VID, idProduct=c.PID, backend=LinkBackend([link]))
    assert device is not None
    client = Board(device, timeout_ms=300)
    client.info()
    client.reset_stats()
    client.restart_sequences()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def jack_server(pytestconfig: pytest.Config) -> object:
    """A JACK server for python-rtmidi (dummy driver). Missing jackd: a failure in CI, a skip elsewhere.
    Stopped at unconfigure, not at fixture teardown: a rig target opened later in the session may use
    this server for its ports, and the plugin closes targets at session finish, after the fixtures."""
    from rig.os_midi.jack import JackMissing, JackServer
    from rig.pytest_plugin.testing import missing

    try:
        server = JackServer(timeout_s=15).start()
    except JackMissing as exc:
        missing(f"no JACK: {exc}")
    pytestconfig.add_cleanup(server.stop)
    return server


def _open_jack_port(kind: str, wanted: str) -> Any:
    """A JACK client port connected to `wanted` in the running graph, under a client name of its own."""
    import rtmidi

    return open_rtmidi_port(rtmidi.API_UNIX_JACK, kind, wanted)


@pytest.fixture
def ports(jack_server: object, loopback: LoopbackBoard) -> Iterator[tuple[Any, Any]]:
    """rtmidi ports opened on the loopback board's virtual OS MIDI ports."""
    import rtmidi

    from rig.targets.loopback import OsMidiPorts

    virtual = OsMidiPorts(loopback, rtmidi.API_UNIX_JACK)
    send_to, listen_on = virtual.port_names()
    out = _open_jack_port("out", send_to)
    inp = _open_jack_port("in", listen_on)
    inp.ignore_types(sysex=False, timing=False, active_sense=False)
    try:
        yield out, inp
    finally:
        for port in (inp, out):
            close_rtmidi_port(port)
        virtual.close()

"""A JACK server for python-rtmidi where there is no ALSA sequencer (CI containers): JackServer starts
`jackd --no-realtime --sync --timeout CLIENT_TIMEOUT_MS -d dummy` under a unique server name unless
one is already reachable. `JackServer.xruns()` counts the xruns a started server reported (JACK's own
losses are reported as JACK's, with that count, never as a device's).

Why --sync and a long client timeout: without real-time scheduling, on a loaded machine a client's
process thread is sometimes not scheduled for tens or hundreds of milliseconds. By default (async
engine, client timeout = two periods) jackd then starts the next cycle without that client: the
writer of a MIDI connection is run again and clears its port buffer before the late reader has read
it, and that cycle's events are gone (measured: a window of 64 notes handed to RtMidi that never
arrived, with "JackEngine::XRun: client = ... was not finished" in jackd's log). In sync mode the
driver waits until every client has finished the cycle (up to ten client timeouts), so a late client
delays the cycle instead of losing it; the dummy driver has no hardware deadline to miss.

JACK clients find their server through the JACK_DEFAULT_SERVER environment variable, so the server
name is exported to this process while the server runs.

Whether the loopback target starts one is chosen by `jack_mode()`: the RIG_JACK environment variable
(or an explicit value) `auto` (default: start one when there is no MIDI system and jackd is
installed), `never`, or `always` (start a private one even where ALSA or another JACK server exists;
a missing jackd is then an error).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import enum
import functools
import itertools
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from rig.errors import RigError
from rig.os_midi import jack_ports
from rig.os_midi.jack_log import JackLog
from rig.os_midi.quiet import quietly

ENV_SERVER = "JACK_DEFAULT_SERVER"
ENV_MODE = "RIG_JACK"
"""Environment variable choosing when the loopback target starts a private JACK server."""
ENV_PERIOD = "RIG_JACK_PERIOD"
"""Environment variable: frames per period of a JACK server a target starts (`jack_period()`)."""
DEFAULT_PERIOD = 32
"""32 frames at 48 kHz (0.67 ms): an OS MIDI round trip on the loopback of about 1.4 ms at p50 (the
dummy driver's own default, 1024 frames, gave ~42 ms). A short period once lost events in floods; the
cause was jackd's async engine skipping late clients, not the port buffers (JACK2 gives every MIDI port
32 KiB whatever the period: 2727 three-byte events a cycle), and with --sync nothing is lost. The
price is jackd and every client thread waking 1,500 times a second even when idle: in a test worker
with the loopback and the emulator open, jackd 5.7 % of a core and its six clients about 10 % (at 256
frames 1 % and 2 %), so the rig's own test sessions choose 256 (tests/conftest.py)."""
_PERIOD_RANGE = (16, 8192)
DUMMY_RATE = 48000
"""Frames per second of the dummy driver (its default; servers started here do not set -r)."""
_JACK_NO_START_SERVER = 0x01
_JACK_SERVER_NAME = 0x04
_PR_SET_PDEATHSIG = 1
CLIENT_TIMEOUT_MS = 2000
"""jackd --timeout for servers started here (jackd's default: two periods, 1.3 ms at 32 frames). In
sync mode a cycle waits up to ten times this long for a late client before giving up on it, and jackd
waits this long for a cycle when a client opens. 2 s is ~7x the longest scheduling stall seen under
stress-ng --cpu 2 (~300 ms); a reader stalled 3 s in tests/rig/jack_stall_probe.py lost nothing.
(Clients refused at open under load were reused client names, not this timeout: see
client_name.)"""


class JackError(RigError, RuntimeError):
    """jackd is missing, or did not start or accept clients in time (the message says which)."""


class JackMissing(JackError, FileNotFoundError):
    """No jackd executable or no libjack on this machine."""


class JackMode(enum.StrEnum):
    """When a target starts its own JACK dummy server for OS MIDI."""

    AUTO = "auto"
    """Only when there is no MIDI system (no ALSA sequencer, no reachable JACK server) and jackd exists."""
    NEVER = "never"
    """Never: without a MIDI system the target has no OS MIDI ports."""
    ALWAYS = "always"
    """Always a private server, whatever else exists; a missing jackd is an error."""


def jack_mode(value: str | None = None) -> JackMode:
    """`value`, else $RIG_JACK, else auto; ValueError naming the bad value and the choices."""
    text = (value if value is not None else os.environ.get(ENV_MODE, "")).strip().lower() or "auto"
    try:
        return JackMode(text)
    except ValueError:
        where = "jack mode" if value is not None else f"${ENV_MODE}"
        raise ValueError(f"{where} {text!r} is not one of {', '.join(m.value for m in JackMode)}") from None


def jack_period(value: str | None = None) -> int:
    """`value`, else $RIG_JACK_PERIOD, else DEFAULT_PERIOD: frames per period of a server a target
    starts; ValueError naming the bad value when it is not a power of two from 16 to 8192."""
    text = (value if value is not None else os.environ.get(ENV_PERIOD, "")).strip()
    if not text:
        return DEFAULT_PERIOD
    low, high = _PERIOD_RANGE
    frames = int(text) if text.isdigit() else 0
    if not low <= frames <= high or frames & (frames - 1):
        where = "jack period" if value is not None else f"${ENV_PERIOD}"
        raise ValueError(f"{where} {text!r} is not a power of two from {low} to {high} frames")
    return frames


def jackd_installed(jackd: str = "jackd") -> bool:
    """True when the jackd executable is on PATH."""
    return shutil.which(jackd) is not None


REGISTRY = Path("/dev/shm/jack-shm-registry")
"""JACK2's shared-memory registry: a table of MAX_SERVERS (pid, "jack-UID:NAME:") slots."""
_REGISTRY_HEADER = struct.Struct("<4s5I")
_SLOT_SIZE = 264
_MAX_SERVERS = 8
NAME_PREFIX = "rig-"
"""Servers this module starts are called rig-PID-NUMBER."""
_START_ATTEMPTS = 3
_BANNER = ("jackdmp", "Copyright", "This is free", "under certain")
"""How the lines of jackd's start-up banner begin (left out of error messages)."""
_ROUTINE = ("JACK server starting", "self-connect-mode", "jackdmp comes with")
"""How jackd's other start-up lines begin (left out of complaints())."""


def registered_servers(registry: Path = REGISTRY) -> list[tuple[int, str]]:
    """(pid, server name) of every used slot of JACK2's server registry; empty when unreadable.

    JACK2 frees a slot only when its server exits cleanly, or when a server of the same name
    registers again: a killed server's slot stays taken, and after eight of them no server starts
    ("Too many servers already active"). JackServer therefore reuses the name of a dead rig server.
    """
    try:
        data = registry.read_bytes()
    except OSError:
        return []
    if len(data) < _REGISTRY_HEADER.size + _MAX_SERVERS * _SLOT_SIZE:
        return []
    magic, _protocol, _kind, _size, hdr_len, _entry_len = _REGISTRY_HEADER.unpack_from(data)
    if magic != b"KCAJ" or hdr_len != _REGISTRY_HEADER.size + _MAX_SERVERS * _SLOT_SIZE:
        return []
    prefix = f"jack-{os.getuid()}:"
    out = []
    for slot in range(_MAX_SERVERS):
        offset = _REGISTRY_HEADER.size + slot * _SLOT_SIZE
        (pid,) = struct.unpack_from("<i", data, offset)
        raw = data[offset + 4:offset + _SLOT_SIZE].split(b"\0", 1)[0].decode(errors="replace")
        if pid and raw.startswith(prefix) and raw.endswith(":"):
            out.append((pid, raw[len(prefix):-1]))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_rig_servers(registry: Path = REGISTRY) -> list[str]:
    """Names of rig servers whose process is gone but whose registry slot is still taken."""
    return [name for pid, name in registered_servers(registry)
            if name.startswith(NAME_PREFIX) and not _alive(pid)]


@functools.cache
def libjack_path() -> str:
    """The libjack this process talks to JACK with: the copy python-rtmidi is linked against (its
    wheels bundle one, e.g. python_rtmidi./libjack-5305d520.so.0.1.0), else the system's.

    One copy per process: two copies keep two sets of libjack's process globals (client table,
    shared-memory registry, message thread) for one server. With ctypes loading the system copy
    beside python-rtmidi's, a `rig` process deadlocked twice in jack_client_close (JackMessageBuffer's
    condition variable destroyed while the other copy's message thread waited on it)."""
    with contextlib.suppress(ImportError):
        import rtmidi  # noqa: F401 - maps the copy it is linked against
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/maps").read_text().splitlines():
            fields = line.split(maxsplit=5)  # address perms offset dev inode [path]
            path = fields[5] if len(fields) == 6 else ""
            if Path(path).name.startswith("libjack") and ".so" in path and Path(path).exists():
                return path
    return ctypes.util.find_library("jack") or "libjack.so.0"


def _libjack() -> ctypes.CDLL:
    name = libjack_path()
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise JackMissing(f"libjack not found ({exc}); install jackd2 / libjack-jackd2-0") from None
    lib.jack_client_open.restype = ctypes.c_void_p
    lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int),
                                     ctypes.c_char_p]
    lib.jack_client_close.argtypes = [ctypes.c_void_p]
    return lib


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL jackd when the process that started it dies (no orphans).

    SIGKILL, not SIGTERM: a --sync jackd whose clients died with their process waits up to ten client
    timeouts per cycle for them before a SIGTERM takes effect (with a 5 s timeout it outlived its
    killed parent by more than 10 s). A killed jackd's registry slot is reclaimed by the next
    JackServer, which reuses its name (`_pick_name`); jackd opens its /dev/shm files by that name."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def server_running(name: str | None = None) -> bool:
    """True when a JACK server `name` (default: JACK_DEFAULT_SERVER, else "default") accepts a client."""
    try:
        lib = _libjack()
    except JackMissing:
        return False
    server = name or os.environ.get(ENV_SERVER) or "default"
    status = ctypes.c_int(0)
    # libjack prints "Cannot connect to server socket ..." for every probe that finds no server: an
    # expected answer here, so the text is dropped (rig.os_midi.quiet shows it only if the call raises)
    # A name of its own (client_name): every rig process probes, and processes sharing one server
    # (a pool's workers, a CLI run a test starts) each opened "rig-probe" there; a namesake closing
    # unlinked the other's semaphore ("can't connect named futex ... rig-probe"), and that process
    # died of SIGSEGV closing its ports. Opening and closing a client are graph changes (jack_ports).
    #
    # No probe at all while the server's socket is missing, and the first client that answers is kept
    # open as the process's graph probe (closed when the server stops and at exit): libjack starts its
    # message thread when a process's first client opens and joins it when its last one closes, and
    # an open and close in quick succession (a probe, failed or not) once left a worker in
    # jack_client_close forever, joining a message thread that had missed its stop signal (two such
    # threads waiting on one condition; seen once, under load, in a helper's run).
    if _socket_missing(server):
        return False
    global _probe
    with _probe_lock:
        if _probe is not None and _probe[0] == server:
            return True
        probe = client_name("rig-probe").encode()
        with jack_ports.graph_change():
            client = quietly(lambda: lib.jack_client_open(probe, _JACK_NO_START_SERVER | _JACK_SERVER_NAME,
                                                          ctypes.byref(status), server.encode()))
        if not client:
            return False
        if _probe is None:
            _probe = (server, int(client))
            return True
        with jack_ports.graph_change():
            lib.jack_client_close(client)
        return True


def _socket_missing(server: str) -> bool:
    """True when JACK2's request socket for `server` (/dev/shm/jack_SERVER_UID_0 on Linux) does not
    exist: no server of that name can answer. False where the path is not known."""
    if not sys.platform.startswith("linux"):
        return False
    return not Path(f"/dev/shm/jack_{server}_{os.getuid()}_0").exists()


_client_numbers = itertools.count(1)


def started_server(name: str | None) -> JackServer | None:
    """The running server called `name` that this process started (its log is readable here)."""
    return next((s for s in JackServer._running if s.started and s.name == name), None)


def server_complaints() -> str:
    """' (jackd NAME logged: ...)' with what the servers this process started last complained of
    beyond late cycles, or '': appended to a JACK client that could not be opened, which libjack
    only reports as "JACK server not running?" whatever the server's reason."""
    said = [f"jackd {server.name} logged: {' / '.join(lines)}"
            for server in JackServer._running if (lines := server.complaints())]
    return f" ({'; '.join(said)})" if said else ""


def client_name(role: str) -> str:
    """A MIDI client name no other client of this machine's rig processes uses: `role`, this process's
    id and a running number ("rig test out-4242-7").

    JACK2 names a client's notification socket after the client name. Reusing a name (python-rtmidi's
    default "RtMidiOut Client" for every test's ports) races: the previous client of that name, still
    closing, unlinks the socket the new one has just made, and jackd cannot reach the new client
    ("Cannot connect to server socket err = No such file or directory ... Cannot connect to client
    name = RtMidiOut Client ... Cannot create new client"), so the port fails to open or later
    clients are confused and python-rtmidi crashes deleting them. A --sync server closes clients more
    slowly, which widened the window (seen under stress-ng --cpu 2)."""
    return f"{role}-{os.getpid()}-{next(_client_numbers)}"


def _graph_lib() -> ctypes.CDLL:
    """libjack with the port-graph calls typed (jack_port_by_name, jack_port_get_all_connections)."""
    lib = _libjack()
    lib.jack_port_by_name.restype = ctypes.c_void_p
    lib.jack_port_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.jack_port_get_all_connections.restype = ctypes.POINTER(ctypes.c_char_p)
    lib.jack_port_get_all_connections.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.jack_free.argtypes = [ctypes.c_void_p]
    lib.jack_port_register.restype = ctypes.c_void_p
    lib.jack_port_register.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                                       ctypes.c_ulong]
    lib.jack_activate.argtypes = [ctypes.c_void_p]
    lib.jack_get_client_name.restype = ctypes.c_char_p
    lib.jack_get_client_name.argtypes = [ctypes.c_void_p]
    for call in (lib.jack_connect, lib.jack_disconnect):
        call.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    lib.jack_last_frame_time.restype = ctypes.c_uint32
    lib.jack_last_frame_time.argtypes = [ctypes.c_void_p]
    lib.jack_get_uuid_for_client_name.restype = ctypes.c_void_p
    lib.jack_get_uuid_for_client_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    return lib


def _connections(lib: ctypes.CDLL, client: int, port: str) -> list[str] | None:
    """Full names of the ports `port` is connected to in the graph the server runs now (JACK answers
    from the current graph state, which a new connection joins at the start of a cycle); None when
    there is no such port."""
    handle = lib.jack_port_by_name(client, port.encode())
    if not handle:
        return None
    names = lib.jack_port_get_all_connections(client, handle)
    if not names:
        return []
    found = []
    for name in names:
        if name is None:
            break
        found.append(name.decode(errors="replace"))
    lib.jack_free(names)
    return found


GRAPH_WAIT_S = 10.0
"""How long `wait_for_connection` waits for jackd to run a cycle with the new connection, beyond the
cycle bound of a server started here (`JackServer.cycle_bound_s`): the switch to the new graph waits
for the cycle under way, which a starved client may hold that long with --sync (a 10 s wait alone
failed a test's set-up at load 26; issue #9)."""


_probe_lock = jack_ports.GRAPH_LOCK
"""Held while the probe is opened, used or closed: the graph lock itself (a probe change is a graph
change, and `settle_graph` runs inside graph changes; one lock keeps one order)."""
_probe: tuple[str, int] | None = None
"""(server, client) of this process's graph probe: opened once per server (a client open and close
cost ~50 ms each on the loaded machine), closed by `close_graph_probe`."""


def _graph_probe(lib: ctypes.CDLL, server: str) -> int:
    """The process's never activated client on `server` (opened now if there is none); lock held."""
    global _probe
    if _probe is not None and _probe[0] == server:
        return _probe[1]
    _close_probe(lib)
    status = ctypes.c_int(0)
    name = client_name("rig graph").encode()  # a name of its own: see client_name
    with jack_ports.graph_change():  # a client joining is a graph change (see rig.os_midi.jack_ports)
        client = quietly(lambda: lib.jack_client_open(name, _JACK_NO_START_SERVER | _JACK_SERVER_NAME,
                                                      ctypes.byref(status), server.encode()))
    if not client:
        raise JackError(f"cannot open a JACK client on server {server!r} to watch the graph")
    _probe = (server, int(client))
    return int(client)


def _close_probe(lib: ctypes.CDLL) -> None:
    global _probe, _marks
    if _probe is not None:
        with jack_ports.graph_change():
            lib.jack_client_close(_probe[1])
        _probe = None
        _marks = None


def close_graph_probe(server: str | None = None) -> None:
    """Close the graph probe (only if it is on `server`, when given): before that server stops, and at
    exit."""
    with _probe_lock:
        if _probe is not None and server in (None, _probe[0]):
            _close_probe(_graph_lib())


atexit.register(close_graph_probe)


_MIDI_PORT_TYPE = b"8 bit raw midi"
_PORT_IS_INPUT, _PORT_IS_OUTPUT = 0x1, 0x2
_marks: tuple[str, str] | None = None
"""Full names of the probe's marker ports (output, input), registered and the probe activated by the
first `settle_graph` (a client's ports connect only while it is active)."""
SETTLE_WAIT_S = 30.0
"""How long `settle_graph` waits for each step (jack_ports.QUIET_WAIT_S: a --sync cycle may be held
up to ten 2 s client timeouts, and the switch waits for a finished cycle)."""
unsettled = 0
"""`settle_graph` calls that could not finish: a step outwaited its timeout, or the probe could not
register, activate or connect its marker ports (each one a race with libjack left open)."""


def _marker_ports(lib: ctypes.CDLL, probe: int) -> tuple[str, str] | None:
    """The marker ports' full names; None when they cannot be made."""
    global _marks
    if _marks is None:
        name = (lib.jack_get_client_name(probe) or b"").decode()
        with jack_ports.graph_change():  # registered while the probe is inactive: no walk of its list
            for short, flags in ((b"mark out", _PORT_IS_OUTPUT), (b"mark in", _PORT_IS_INPUT)):
                if not lib.jack_port_register(probe, short, _MIDI_PORT_TYPE, flags, 0):
                    return None
            if lib.jack_activate(probe) != 0:
                return None
        _marks = (f"{name}:mark out", f"{name}:mark in")
    return _marks


def settle_graph(timeout_s: float = SETTLE_WAIT_S) -> bool:
    """Return once jackd has run every graph change made so far and each client of this process has
    answered the latency notices it causes; False (counted in `unsettled`) when a step took longer
    than `timeout_s` or the probe could not toggle its marker. Called before a port is unregistered.

    Why (issue #9): jackd does not switch to a changed graph when the request is made but at the start
    of a later cycle, and only then posts the "graph reordered" notice that makes its request thread
    send every client a latency notice, which libjack's notification thread handles by walking the
    client's port list unlocked. A port unregistered meanwhile is unlinked from that list under the
    walk (SIGSEGV in JackClient::HandleLatencyCallback, seen in gdb). Waiting for idle threads does
    not help: the notice is not sent yet. So: (1) toggle a connection between the probe's two marker
    ports, a change after every earlier one; (2) wait until the graph jackd runs shows it (the
    switch, at the start of some cycle, took every earlier change with it); (3) wait for the next
    cycle to begin (the cycle that switched has posted its notice); (4) make two requests in turn:
    jackd's request thread serves every readable socket once per poll round, the notice's among them,
    so the second request is served only after the notice and every latency notice it sent were."""
    server = os.environ.get(ENV_SERVER) or "default"
    if _socket_missing(server):
        return True
    lib = _graph_lib()
    with _probe_lock:
        probe = _graph_probe(lib, server)
        marks = _marker_ports(lib, probe)
        if marks is None:
            return _unsettled()
        out, inp = marks
        linked = _linked(lib, probe, out, inp)
        toggle = lib.jack_disconnect if linked else lib.jack_connect
        if toggle(probe, out.encode(), inp.encode()) != 0:
            return _unsettled()
        if not _settle_step(lambda: _linked(lib, probe, out, inp) != linked, timeout_s):
            return False
        frame = lib.jack_last_frame_time(probe)
        if not _settle_step(lambda: lib.jack_last_frame_time(probe) != frame, timeout_s):
            return False
        own = lib.jack_get_client_name(probe)
        for _ in range(2):
            lib.jack_free(lib.jack_get_uuid_for_client_name(probe, own))
        return True


def _linked(lib: ctypes.CDLL, probe: int, out: str, inp: str) -> bool:
    return inp in (_connections(lib, probe, out) or [])


def _settle_step(done: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            return _unsettled()
        time.sleep(0.0002)  # polling jackd's shared memory: it offers no wait on a cycle
    return True


def _unsettled() -> bool:
    global unsettled
    unsettled += 1
    return False


def _settle_before_unregister(port: object) -> None:
    """settle_graph before a JACK port of python-rtmidi's is unregistered (an ALSA port needs none, and
    must not open a probe on a JACK server the rig does not use)."""
    import rtmidi

    current_api = getattr(port, "get_current_api", None)
    if current_api is not None and current_api() == rtmidi.API_UNIX_JACK:
        settle_graph()


jack_ports.settle_before_unregister = _settle_before_unregister


def wait_for_connection(client: str, port: str, timeout_s: float | None = None) -> None:
    """Return once the JACK graph connects a port of client `client` with `port` (a full port name).

    A connection made with jack_connect (python-rtmidi's open_port) takes effect at the start of a
    later cycle; a message sent before then is not routed and is lost. Polls the view of the graph of
    the process's graph probe; JackError when the connection does not appear within `timeout_s`
    (default: GRAPH_WAIT_S beyond the server's cycle bound)."""
    lib = _graph_lib()
    server = os.environ.get(ENV_SERVER) or "default"
    if timeout_s is None:
        started = started_server(server)
        timeout_s = GRAPH_WAIT_S + ((started.cycle_bound_s() if started is not None else None) or 0.0)
    deadline = time.monotonic() + timeout_s
    with _probe_lock:
        probe = _graph_probe(lib, server)
        while True:
            found = _connections(lib, probe, port)
            if found is None:
                raise JackError(f"JACK port {port!r} does not exist on server {server!r}")
            if any(name.startswith(f"{client}:") for name in found):
                return
            if time.monotonic() > deadline:
                raise JackError(f"JACK did not connect client {client!r} with {port!r} within {timeout_s} s "
                                f"(connected: {found})")
            time.sleep(0.001)  # polling a condition; the graph offers no wait on it without a callback


@dataclass(frozen=True)
class JackXruns:
    """What a JACK server started here reported as xruns, counted from its own output.

    Counted from jackd's log, not with jack_set_xrun_callback: a ctypes callback is Python on libjack's
    notification thread and needs the GIL, while python-rtmidi's delete() keeps the GIL and waits for
    the server, which (in sync mode) waits for every client's notification thread: closing a port
    then hung (seen: a conformance run stuck in rtmidi's delete() for minutes)."""

    late_cycles: int = 0
    """"JackTimedDriver::Process XRun": the dummy driver started a cycle late (the machine did not run
    jackd or a client in time). With --sync nothing is lost by it; the cycle only comes late."""
    skipped_clients: int = 0
    """"JackEngine::XRun: client = ... was not finished": a cycle ran on without a late client. Events
    on that client's MIDI ports may be lost (jackd's async engine; with --sync only after 10 timeouts)."""

    def __str__(self) -> str:
        return f"{self.late_cycles} late cycle(s), {self.skipped_clients} late client(s) skipped"

    @classmethod
    def counted(cls, lines: Iterable[bytes]) -> JackXruns:
        """The xruns in whole lines of jackd's output."""
        late = skipped = 0
        for line in lines:
            late += line.startswith(_LATE_CYCLE)
            skipped += line.startswith(_SKIPPED_CLIENT)
        return cls(late, skipped)

    def __add__(self, other: JackXruns) -> JackXruns:
        return JackXruns(self.late_cycles + other.late_cycles, self.skipped_clients + other.skipped_clients)


_LATE_CYCLE = b"JackTimedDriver::Process XRun"
_COMPLAINT_TAIL = 64 * 1024
"""Bytes at the end of a started server's log that complaints() reads (late cycles fill the rest)."""
_SKIPPED_CLIENT = b"JackEngine::XRun: client"


class JackServer:
    """Context manager: use a reachable JACK server, or start a dummy-driver one and stop it after.

    On Linux the started jackd gets SIGKILL when the thread that started it ends, so start it from
    the main thread (a pytest session fixture does) and no jackd outlives a killed test run.
    """

    _running: ClassVar[list[JackServer]] = []
    """Servers this process started and has not stopped yet."""

    def __init__(self, name: str | None = None, *, timeout_s: float = 10.0, jackd: str = "jackd",
                 reuse: bool = True, period: int | None = None, sync: bool = True,
                 client_timeout_ms: int | None = CLIENT_TIMEOUT_MS) -> None:
        self._fixed_name = name is not None
        self.name = name or self._fresh_name()
        self.timeout_s = timeout_s
        self.jackd = jackd
        self.reuse = reuse
        """Use an already reachable server instead of starting one (False: always a private server)."""
        if period is not None and (period < 16 or period & (period - 1)):
            raise ValueError(f"JACK period {period} must be a power of two of at least 16 frames")
        self.period = period
        """Frames per period of a started server (None: the dummy driver's default, 1024 at 48 kHz)."""
        self.sync = sync
        """Start the server with --sync: a cycle waits for late clients instead of dropping their events
        (False only to show what jackd's default loses)."""
        if client_timeout_ms is not None and client_timeout_ms < 1:
            raise ValueError(f"client timeout {client_timeout_ms} ms must be at least 1 ms (or None)")
        self.client_timeout_ms = client_timeout_ms
        """jackd --timeout of a started server (None: jackd's default, two periods)."""
        self.started = False
        """True when this object started the server (and so stops it). A process talks to one JACK
        server at a time (libjack's limit): while one started here runs, start() shares it."""
        self._process: subprocess.Popen[bytes] | None = None
        self._serving = False
        self._previous_env: str | None = None
        self._log: JackLog | None = None
        self._xruns = JackXruns()
        self._log_rest = b""
        """The partial last line of the log that xruns() has read (counted when it is whole)."""

    def cycle_s(self) -> float | None:
        """Seconds per cycle of a server started here (None for one found running: not known here)."""
        return (self.period or 1024) / DUMMY_RATE if self.started else None

    def cycle_bound_s(self) -> float | None:
        """How long one cycle of a server started here may take before jackd gives up on a late client
        (and logs it, JackXruns.skipped_clients): ten client timeouts with --sync, one without. None for
        a server found running or started with jackd's default timeout (its bound is not known here)."""
        if not self.started or self.client_timeout_ms is None:
            return None
        return (10 if self.sync else 1) * self.client_timeout_ms / 1000

    @staticmethod
    def _fresh_name() -> str:
        return f"{NAME_PREFIX}{os.getpid()}-{time.monotonic_ns() % 1_000_000_000}"

    def _pick_name(self, tried: set[str]) -> str:
        """A dead rig server's name (reclaims its registry slot), else a fresh unique one."""
        if self._fixed_name:
            return self.name
        for name in stale_rig_servers():
            if name not in tried:
                return name
        return self._fresh_name()

    def start(self) -> Self:
        """Reuse a running server (JACK_DEFAULT_SERVER or "default") unless reuse=False, else start our
        own under a unique name and wait for it."""
        existing = os.environ.get(ENV_SERVER) or "default"
        ours = next((s.name for s in JackServer._running if s.started), None)
        if ours is not None:
            # libjack serves one server per process (a second one crashes it): share ours
            self.name = os.environ[ENV_SERVER] = ours
            return self
        if self.reuse and server_running(existing):
            self.name = existing
            return self
        path = shutil.which(self.jackd)
        if path is None:
            raise JackMissing(f"{self.jackd} not found on PATH; install jackd2 to run the MIDI tests")
        tried: set[str] = set()
        while True:
            self.name = self._pick_name(tried)
            tried.add(self.name)
            try:
                return self._start_once(path)
            except JackError as exc:
                retry = "already active" in str(exc) or "Too many servers" in str(exc)
                if self._fixed_name or not retry or len(tried) >= _START_ATTEMPTS:
                    raise

    def _start_once(self, path: str) -> Self:
        self._previous_env = os.environ.get(ENV_SERVER)
        os.environ[ENV_SERVER] = self.name
        env = dict(os.environ)
        self._log = JackLog()
        command = [path, "--no-realtime", "-n", self.name]
        if self.sync:
            command.append("--sync")
        if self.client_timeout_ms is not None:
            command += ["--timeout", str(self.client_timeout_ms)]
        command += ["-d", "dummy"]
        if self.period is not None:
            command += ["-p", str(self.period)]
        self._process = subprocess.Popen(
            command, env=env,
            stdin=subprocess.DEVNULL, stdout=self._log.fileno(), stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        self.started = True
        process = self._process
        deadline = time.monotonic() + self.timeout_s
        while not (server_running(self.name) and self._owns_name(process)):
            if process.poll() is not None:
                output = self._read_log().decode(errors="replace")
                self.stop()
                lines = [line for line in output.splitlines()
                         if line.strip() and not line.startswith(_BANNER)]
                hint = ""
                if "Too many servers" in output:
                    hint = (f" (JACK's registry of {_MAX_SERVERS} servers is full: "
                            f"{', '.join(n for _, n in registered_servers()) or 'unreadable'})")
                raise JackError(f"jackd exited with status {process.returncode} before accepting "
                                f"clients: {' / '.join(lines)[-500:]}{hint}")
            if time.monotonic() > deadline:
                self.stop()
                raise JackError(f"jackd server {self.name!r} did not accept clients within "
                                f"{self.timeout_s} s")
            time.sleep(0.05)
        self._serving = True
        JackServer._running.append(self)
        return self

    def _owns_name(self, process: subprocess.Popen[bytes]) -> bool:
        """True when the server answering to our name is our jackd (not another session's that took a
        reclaimed name first: ours then exits "already active" and start() tries another name)."""
        entries = registered_servers()
        if not entries:
            return process.poll() is None  # registry unreadable: trust a live process
        return (process.pid, self.name) in entries

    def _remove_leftovers(self) -> None:
        """Delete the semaphores and segments named after our (unique) server that clients left behind."""
        for pattern in (f"jack_sem.*_{self.name}_*", f"jack_{self.name}_*"):
            for path in Path("/dev/shm").glob(pattern):
                with contextlib.suppress(OSError):
                    path.unlink()

    def xruns(self) -> JackXruns | None:
        """Xruns reported by a server this object started, counted from its output so far (None when
        it did not start one: a server found running keeps its output to itself)."""
        if self._log is None or not self.started:
            return None
        data = self._log_rest + self._log.read_new()
        *lines, self._log_rest = data.split(b"\n")
        self._xruns += JackXruns.counted(lines)
        return self._xruns

    def complaints(self, limit: int = 5) -> list[str]:
        """The last `limit` lines a server started here logged that are not late-cycle xruns (why it
        refused a client, for instance), for error messages; [] when it did not start one."""
        if self._log is None or not self.started:
            return []
        text = self._log.tail(_COMPLAINT_TAIL).decode(errors="replace")
        lines = [line for line in text.splitlines()[1:] if line.strip() and "\0" not in line
                 and not line.startswith((_LATE_CYCLE.decode(), *_BANNER, *_ROUTINE))]
        return lines[-limit:]

    def _read_log(self) -> bytes:
        return b"" if self._log is None else self._log.tail(_COMPLAINT_TAIL)

    def _cleanup_env(self) -> None:
        if os.environ.get(ENV_SERVER) == self.name:
            if self._previous_env is None:
                os.environ.pop(ENV_SERVER, None)
            else:
                os.environ[ENV_SERVER] = self._previous_env

    def stop(self) -> None:
        """Stop the server if we started it (SIGTERM, then SIGKILL after 5 s); safe to call twice."""
        process, self._process = self._process, None
        if process is not None:  # a client left on a stopped server is not safe to use
            jack_ports.close_all()  # (libjack serves one server per process: this one)
            close_graph_probe(self.name)
        if self in JackServer._running:
            JackServer._running.remove(self)
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
            self._cleanup_env()
            if self._serving:  # a jackd that never served must not delete files of a namesake's
                self._remove_leftovers()
            self._serving = False
        log, self._log = self._log, None
        if log is not None:
            log.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

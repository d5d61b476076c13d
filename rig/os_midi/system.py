"""Which MIDI system a target's OS MIDI ports live on: ALSA or CoreMIDI when present, a running JACK
server, or a private JACK dummy server the target starts (RIG_JACK=auto|never|always, rig.os_midi.jack).

One piece of code for every target that opens virtual ports (the loopback, the emulator's class
driver), so they get Feature.MIDI_OS the same way and report it the same way.
"""

from __future__ import annotations

import atexit
import os

from rig.errors import TargetError
from rig.os_midi import jack
from rig.os_midi.jack import JackMode, JackServer, JackXruns, client_name
from rig.os_midi.quiet import quietly

JACK_START_TIMEOUT_S = 15


class OsMidiUnavailable(TargetError):
    """No MIDI system python-rtmidi can open virtual ports on (no ALSA sequencer, no JACK server)."""


def jack_compiled() -> bool:
    """True when python-rtmidi is installed with its JACK API."""
    try:
        import rtmidi
    except ImportError:
        return False
    return rtmidi.API_UNIX_JACK in rtmidi.get_compiled_api()


def jack_server_running() -> bool:
    """rig.os_midi.jack.server_running without libjack's "Cannot connect to server" lines on stderr."""
    return quietly(jack.server_running)


def os_midi_api() -> int | None:
    """The rtmidi API to open virtual ports with here, or None when there is no MIDI system."""
    try:
        import rtmidi
    except ImportError:
        return None
    compiled = rtmidi.get_compiled_api()
    if rtmidi.API_LINUX_ALSA in compiled and os.access("/dev/snd/seq", os.R_OK | os.W_OK):
        return int(rtmidi.API_LINUX_ALSA)
    if rtmidi.API_MACOSX_CORE in compiled:
        return int(rtmidi.API_MACOSX_CORE)
    if rtmidi.API_UNIX_JACK in compiled and jack_server_running():
        return int(rtmidi.API_UNIX_JACK)
    return None


def midi_possible(mode: JackMode) -> bool:
    """Before opening: whether OS MIDI ports are expected (a MIDI system exists or can be started)."""
    if mode is JackMode.ALWAYS:
        return jack_compiled()
    if os_midi_api() is not None:
        return True
    return mode is JackMode.AUTO and jack_compiled() and jack.jackd_installed()


class MidiSystem:
    """The rtmidi API chosen for a target and the JACK server it started for it (None when it uses
    ALSA/CoreMIDI or a server it found). A started server outlives `close`: it runs until the process
    exits, shared by later targets (`_kept`)."""

    def __init__(self, api: int, mode: JackMode, server: JackServer | None = None) -> None:
        self.api = api
        self.mode = mode
        self.jack = server

    def _server(self) -> JackServer | None:
        """The JACK server of these ports when this process started it: the target's own, or the one a
        target found running that is this process's (a test session's, shared by every target)."""
        import rtmidi

        if self.jack is not None and self.jack.started:
            return self.jack
        if self.api != rtmidi.API_UNIX_JACK:
            return None
        return jack.started_server(os.environ.get(jack.ENV_SERVER))

    def xruns(self) -> JackXruns | None:
        """The xruns the JACK server this system uses has reported so far, when this process started it
        (None for ALSA, CoreMIDI or another process's server): a loss between JACK ports is reported
        with them, as JACK's."""
        server = self._server()
        return None if server is None else server.xruns()

    def delay_bound_s(self) -> float:
        """How much longer than the device itself an answer through these ports may take before it counts
        as lost: on a JACK server started here, the two cycles a round trip crosses (out to the device's
        port, back to ours) at JACK's own bound each (JackServer.cycle_bound_s: 20 s with --sync); 0
        elsewhere. A cycle that a starved client holds longer loses nothing silently: jackd skips the
        client and logs it (xruns())."""
        server = self._server()
        bound = None if server is None else server.cycle_bound_s()
        return 0.0 if bound is None else 2 * bound

    def cycle_s(self) -> float | None:
        """Seconds per JACK cycle when this process started the server of these ports, else None."""
        server = self._server()
        return None if server is None else server.cycle_s()

    def describe(self) -> str:
        """Which MIDI system carries the ports, for reports."""
        import rtmidi

        if self.api != rtmidi.API_UNIX_JACK:
            return str(rtmidi.get_api_display_name(self.api))
        if self.jack is not None and self.jack.started:
            return (f"JACK server {self.jack.name} (started by the target, RIG_JACK={self.mode.value}, "
                    f"dummy driver, {self.jack.period or 1024}-frame period"
                    f"{', synchronous' if self.jack.sync else ''})")
        return "JACK (a running server)"

    def close(self) -> None:
        """Let go of the MIDI system. A JACK server it started keeps running for the rest of the
        process (`_kept`): the next target shares it instead of starting another."""


def _kept(server: JackServer) -> JackServer:
    """A server a MidiSystem started stays up until the process exits. libjack serves one server per
    process, and a server started after another one stopped confuses it (ports that "do not exist",
    SIGSEGV closing clients; issue #9): `rig run` started one for its suite and another for latency,
    and a test session one per in-process `rig test`."""
    if server.started:
        atexit.register(server.stop)
    return server


def open_midi_system(mode: JackMode, period: int = jack.DEFAULT_PERIOD) -> MidiSystem:
    """Choose the API, starting a private JACK dummy server of `period` frames when `mode` says so. Raises
    OsMidiUnavailable naming what is missing; JackMissing/JackError when a server cannot start."""
    import rtmidi

    if mode is JackMode.ALWAYS:
        if not jack_compiled():
            raise OsMidiUnavailable("RIG_JACK=always, but python-rtmidi was built without JACK")
        private = JackServer(timeout_s=JACK_START_TIMEOUT_S, reuse=False, period=period)
        server = _kept(private.start())
        return MidiSystem(int(rtmidi.API_UNIX_JACK), mode, server)
    api = os_midi_api()
    if api is not None:
        return MidiSystem(api, mode)
    if mode is JackMode.NEVER:
        raise OsMidiUnavailable("no MIDI system (no ALSA sequencer, no JACK server) and RIG_JACK=never")
    if not jack_compiled():
        raise OsMidiUnavailable("no MIDI system, and python-rtmidi was built without JACK")
    if not jack.jackd_installed():
        raise OsMidiUnavailable("no MIDI system (no ALSA sequencer, no JACK server) and no jackd to "
                                "start one: install jackd2")
    server = _kept(JackServer(timeout_s=JACK_START_TIMEOUT_S, period=period).start())
    return MidiSystem(int(rtmidi.API_UNIX_JACK), mode, server)


__all__ = ["MidiSystem", "OsMidiUnavailable", "client_name", "jack_compiled",
           "jack_server_running", "midi_possible", "open_midi_system", "os_midi_api"]

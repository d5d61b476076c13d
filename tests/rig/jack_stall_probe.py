"""Run as a script (one JACK server per process): start a private JACK dummy server configured as the
command line says, send a paced stream of numbered notes from a python-rtmidi output to a JACK client
whose process callback stalls now and then (as a client thread does when a loaded machine does not
schedule it), and print one JSON line saying what arrived.

The stalling reader stands for any late client on a MIDI connection (the class driver's ports, a
test's ports): what it misses is what a late rtmidi input misses.

    python jack_stall_probe.py --period 64 [--async] [--default-timeout]
    python jack_stall_probe.py --period 32 --buffer    # how many 3-byte events one cycle's port holds
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time

_PORT_IS_INPUT = 0x1
_MIDI_TYPE = b"8 bit raw midi"
_NO_START_SERVER = 0x01
_SERVER_NAME = 0x04
SETTLE_CYCLES = 20
"""Reader cycles after the last note is sent by which every note has arrived or been lost (the writer
hands its notes to the graph in the next cycle; the margin covers nothing but bookkeeping)."""


class _MidiEvent(ctypes.Structure):
    """jack_midi_event_t."""

    _fields_ = [("time", ctypes.c_uint32), ("size", ctypes.c_size_t),
                ("buffer", ctypes.POINTER(ctypes.c_ubyte))]


_Process = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p)


def libjack() -> ctypes.CDLL:
    """libjack with the prototypes the probe uses."""
    from rig.os_midi.jack import libjack_path

    lib = ctypes.CDLL(libjack_path())  # the copy python-rtmidi uses: one libjack per process
    ptr, u32, text = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_char_p
    lib.jack_client_open.restype = ptr
    lib.jack_client_open.argtypes = [text, ctypes.c_int, ctypes.POINTER(ctypes.c_int), text]
    lib.jack_port_register.restype = ptr
    lib.jack_port_register.argtypes = [ptr, text, text, ctypes.c_ulong, ctypes.c_ulong]
    lib.jack_port_get_buffer.restype = ptr
    lib.jack_port_get_buffer.argtypes = [ptr, u32]
    lib.jack_midi_get_event_count.restype = u32
    lib.jack_midi_get_event_count.argtypes = [ptr]
    lib.jack_midi_get_lost_event_count.restype = u32
    lib.jack_midi_get_lost_event_count.argtypes = [ptr]
    lib.jack_midi_event_get.argtypes = [ctypes.POINTER(_MidiEvent), ptr, u32]
    lib.jack_midi_clear_buffer.argtypes = [ptr]
    lib.jack_midi_event_write.argtypes = [ptr, u32, text, ctypes.c_size_t]
    lib.jack_set_process_callback.argtypes = [ptr, _Process, ptr]
    lib.jack_activate.argtypes = [ptr]
    lib.jack_connect.argtypes = [ptr, text, text]
    lib.jack_client_close.argtypes = [ptr]
    return lib


class StallingReader:
    """A JACK client with one MIDI input whose process callback records every note's sequence number
    and sleeps `stall_s` every `stall_every` cycles that carried events."""

    def __init__(self, server: str, stall_every: int, stall_s: float) -> None:
        lib = libjack()
        self.lib = lib
        self.stall_every = stall_every
        self.stall_s = stall_s
        self.seqs: list[int] = []
        self.jack_lost = 0
        self.stalls = 0
        self.cycles = 0
        """Process callbacks run: the graph's progress as this client sees it."""
        self._busy_cycles = 0
        status = ctypes.c_int(0)
        self.client = lib.jack_client_open(b"stalling-reader", _NO_START_SERVER | _SERVER_NAME,
                                           ctypes.byref(status), server.encode())
        if not self.client:
            raise SystemExit(f"no JACK client (status {status.value:#x})")
        self.port = lib.jack_port_register(self.client, b"in", _MIDI_TYPE, _PORT_IS_INPUT, 0)
        self._callback = _Process(self._process)
        lib.jack_set_process_callback(self.client, self._callback, None)
        if lib.jack_activate(self.client):
            raise SystemExit("jack_activate failed")

    def _process(self, nframes: int, _arg: int | None) -> int:
        lib = self.lib
        self.cycles += 1
        buffer = lib.jack_port_get_buffer(self.port, nframes)
        self.jack_lost += lib.jack_midi_get_lost_event_count(buffer)
        count = lib.jack_midi_get_event_count(buffer)
        event = _MidiEvent()
        for index in range(count):
            lib.jack_midi_event_get(ctypes.byref(event), buffer, index)
            if event.size == 3:
                data = event.buffer
                self.seqs.append((data[0] & 0x0F) | data[1] << 4 | (data[2] - 1) << 11)
        if count:
            self._busy_cycles += 1
            if self._busy_cycles % self.stall_every == 0:
                self.stalls += 1
                time.sleep(self.stall_s)
        return 0

    def connect_from(self, source: str) -> None:
        if self.lib.jack_connect(self.client, source.encode(), b"stalling-reader:in"):
            raise SystemExit(f"jack_connect {source} failed")

    def close(self) -> None:
        self.lib.jack_client_close(self.client)


def events_per_cycle(server: str) -> int:
    """Write 3-byte events into a MIDI output port in one process cycle until JACK refuses one."""
    lib = libjack()
    status = ctypes.c_int(0)
    client = lib.jack_client_open(b"buffer-probe", _NO_START_SERVER | _SERVER_NAME, ctypes.byref(status),
                                  server.encode())
    port = lib.jack_port_register(client, b"out", _MIDI_TYPE, 0x2, 0)
    fits: list[int] = []

    def process(nframes: int, _arg: int | None) -> int:
        if not fits:
            buffer = lib.jack_port_get_buffer(port, nframes)
            lib.jack_midi_clear_buffer(buffer)
            count = 0
            while lib.jack_midi_event_write(buffer, 0, b"\x90\x40\x40", 3) == 0:
                count += 1
            lib.jack_midi_clear_buffer(buffer)
            fits.append(count)
        return 0

    callback = _Process(process)
    lib.jack_set_process_callback(client, callback, None)
    lib.jack_activate(client)
    deadline = time.monotonic() + 10
    while not fits and time.monotonic() < deadline:
        time.sleep(0.01)
    lib.jack_client_close(client)
    return fits[0] if fits else -1


MAX_NOTES = 200_000
"""What note() can number (and a bound on a run that never sees its reader stall)."""


def note(seq: int) -> list[int]:
    """Note on carrying `seq` (channel = low 4 bits, note = next 7, velocity - 1 = the rest)."""
    return [0x90 | seq & 0x0F, (seq >> 4) & 0x7F, 1 + (seq >> 11)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--period", type=int, default=64)
    parser.add_argument("--async", dest="sync", action="store_false")
    parser.add_argument("--default-timeout", action="store_true")
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--stall-every", type=int, default=25)
    parser.add_argument("--stall-ms", type=float, default=60.0)
    parser.add_argument("--min-stalls", type=int, default=3)
    parser.add_argument("--buffer", action="store_true", help="only count the events one cycle holds")
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    import rtmidi

    from rig.os_midi import jack_ports
    from rig.os_midi.jack import CLIENT_TIMEOUT_MS, JackServer, wait_for_connection

    timeout = None if args.default_timeout else CLIENT_TIMEOUT_MS
    if args.buffer:
        with JackServer(reuse=False, period=args.period) as server:
            print(json.dumps({"period": args.period, "events_per_cycle": events_per_cycle(server.name)}))
        return
    with JackServer(reuse=False, period=args.period, sync=args.sync, client_timeout_ms=timeout) as server:
        # The reader's callback is Python: it needs the GIL, which python-rtmidi's constructors and
        # delete() keep while they wait for the server (and, in sync mode, the server for the
        # reader). So RtMidi's client exists before the reader and is deleted after it; ctypes calls
        # (connect, close) let go of the GIL.
        out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="probe-writer")
        out.open_virtual_port("out")
        reader = StallingReader(server.name, args.stall_every, args.stall_ms / 1000)
        reader.connect_from("probe-writer:out")
        wait_for_connection("probe-writer", "stalling-reader:in")  # JACK connects at a later cycle
        # At least --count notes, and on until the reader has stalled --min-stalls times: on a loaded
        # machine the notes come in fewer, fuller cycles, and a fixed count once saw one stall only.
        sent = 0
        stalls_by = time.monotonic() + 60
        while sent < args.count or (reader.stalls < args.min_stalls and sent < MAX_NOTES
                                    and time.monotonic() < stalls_by):
            out.send_message(note(sent))
            if sent % 8 == 7:
                time.sleep(0.001)  # a stream, not one burst: some cycles carry events during every stall
            sent += 1
        # Every note is in the writer's ring now; its process callback hands them to the graph in the
        # next cycle, where the reader gets them or (async engine, reader late) they are gone. So once
        # the reader has run SETTLE_CYCLES more cycles, everything has arrived that ever will.
        settled = reader.cycles + SETTLE_CYCLES
        deadline = time.monotonic() + 10 + sent * args.stall_ms / 1000 / args.stall_every
        while reader.cycles < settled and time.monotonic() < deadline:
            time.sleep(0.01)
        received = list(reader.seqs)
        reader.close()
        jack_ports.close(out)  # unregistered once the graph settled (rig.os_midi.jack_ports)
        xruns = server.xruns()
    lost = len(set(range(sent)) - set(received))
    print(json.dumps({"sent": sent, "received": len(received), "lost": lost,
                      "in_order": received == sorted(received),
                      "jack_lost_events": reader.jack_lost, "stalls": reader.stalls,
                      "late_cycles": None if xruns is None else xruns.late_cycles,
                      "skipped_clients": None if xruns is None else xruns.skipped_clients}),
          flush=True)


if __name__ == "__main__":
    main()

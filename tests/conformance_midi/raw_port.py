"""The `raw_midi` fixture and what the MIDI tests share: how long to wait for an echo, and sending
messages and waiting for them to come back."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest

from rig.checks.event_packets import check_event_packets
from rig.checks.findings import errors
from rig.client.board import Board
from rig.client.raw_midi import MarkerNotEchoed, RawUsbMidi
from rig.targets.raw_port import raw_midi_port
from rig.targets.registry import Feature, Target

ECHO_BASE_S = 5.0
"""Every wait for an echo allows this much (a loaded 2-core machine, the emulator's slow start)..."""
DIN_BYTE_S = 320e-6
"""...plus, per MIDI byte, the time one byte takes on a 31250-baud DIN cable (10 bits), twice over."""
POLL_MS = 5
"""How long one read waits while EchoBooks wait for our board's books to balance."""


def echo_timeout(midi_bytes: int) -> float:
    """How long to wait for `midi_bytes` to come back: generous, since only a positive signal (the
    expected count) ends the wait early."""
    return ECHO_BASE_S + 2 * DIN_BYTE_S * midi_bytes


def same_stream(got: list[bytes], sent: list[bytes]) -> str | None:
    """None when `got` is `sent`; else what differs first (the count, or the first message)."""
    if len(got) != len(sent):
        return f"{len(sent)} sent, {len(got)} came back"
    for index, (a, b) in enumerate(zip(got, sent, strict=True)):
        if a != b:
            return f"message {index}: sent {b.hex()}, got {a.hex()}"
    return None


class EchoBooks:
    """Our board's MIDI counters (GET_STATS, the contract) around one test, for a positive end instead
    of a quiet window: the device has sent everything once it has echoed every good packet it received
    (midi_tx_packets = midi_rx_packets - midi_rx_bad since the start) and the host has read them all.
    Stricter than a quiet window, too: it counts what the device queued, however late it would come."""

    def __init__(self, board: Board, port: RawUsbMidi) -> None:
        self.board = board
        self.port = port
        self.start = board.stats()
        self.read_at_start = port.packets_read

    def read_the_rest(self, timeout_s: float = ECHO_BASE_S) -> int:
        """Read until the books balance; the messages read here (each one the test left behind). Fails
        naming the counters when they do not balance within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        left = 0
        while True:
            now = self.board.stats()
            good_rx = (now["midi_rx_packets"] - self.start["midi_rx_packets"]
                       - (now["midi_rx_bad"] - self.start["midi_rx_bad"]))
            tx = now["midi_tx_packets"] - self.start["midi_tx_packets"]
            read = self.port.packets_read - self.read_at_start
            if tx == good_rx and read == tx:
                return left
            if read > tx or time.monotonic() > deadline:
                pytest.fail(f"the device's MIDI books do not balance: it received {good_rx} good event "
                            f"packets, sent {tx}, and the host read {read}", pytrace=False)
            left += len(self.port.read_once(POLL_MS))  # ends as soon as a transfer comes


def drain(port: RawUsbMidi) -> int:
    """The messages a device that is not ours still sent before our end marker came back; fails the
    test, naming the marker, when the device does not echo it in time."""
    try:
        return port.drain_to_marker(ECHO_BASE_S)
    except MarkerNotEchoed as exc:
        pytest.fail(str(exc), pytrace=False)


def start_clean(port: RawUsbMidi) -> None:
    """Before a test on a device that is not ours: read until our marker comes back and forget it
    all. A marker that does not come back (a device that holds its last message back, or drops
    it) is left for the test to judge, with its own diagnosis: after ECHO_BASE_S, forgotten too."""
    with contextlib.suppress(MarkerNotEchoed):
        port.drain_to_marker(ECHO_BASE_S)
    port.clear()


@pytest.fixture
def raw_midi(rig_target: Target) -> Iterator[RawUsbMidi]:
    """Raw USB-MIDI on the target's first MS OUT/IN pair (rig.targets.raw_port: only that interface
    claimed, our board put in ECHO by the contract). After the test nothing may be left queued, and
    every packet the device sent must be legal (USB-MIDI 1.0 4). On our board the device's counters
    say when it has sent everything (EchoBooks), and SET_MIDI_MODE has emptied its IN queue before
    the test (docs/protocol.md); any other device, which echoes, is drained until a marker sent after
    the test comes back (RawUsbMidi.drain_to_marker: no quiet window waited out)."""
    ours = Feature.CONTRACT in rig_target.features
    with raw_midi_port(rig_target) as (port, in_cables):
        # the Board only asks GET_STATS; it is not closed (it claims nothing, and closing it would
        # dispose of pyusb's resources, the port's interface claim with them)
        books = EchoBooks(Board(port.device), port) if ours else None
        if books is None:
            start_clean(port)
        port.start_reader()  # echoes are read while a test writes: the device never backs up
        try:
            yield port
        finally:
            port.stop_reader()
        sent = list(port.transfers)
        left = books.read_the_rest() if books is not None else drain(port)
    problems = errors(check_event_packets(sent, in_cables, f"EP 0x{port.in_address:02X}"))
    if left:
        pytest.fail(f"{left} message(s) still arrived after the test: not every event was accounted for",
                    pytrace=False)
    if problems:
        pytest.fail("illegal event packets from the device: " + "; ".join(map(str, problems)), pytrace=False)

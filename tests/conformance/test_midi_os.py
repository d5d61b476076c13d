"""Conformance, MIDI in OS mode: the MXF graph through the OS-MIDI miniport on the target's
python-rtmidi ports (the OS driver between host and device), on every target with MIDI_OS. On the
loopback and the emulator that OS driver is the rig's own USB-MIDI class driver
(rig.os_midi.class_driver); on a board it is the OS's.

The same messages as driver mode: every channel and system message, running status, real-time bytes
inside channel messages and SysEx, SysEx up to the OS API's limit (python-rtmidi on JACK carries at
most 16379 bytes; longer lengths are skipped with that reason here and covered in driver mode), a
note flood with every sequence number accounted for, and, where the target also has USB to switch
modes, TRANSFORM, SOURCE and SINK. Host books are kept in USB-MIDI packet units so the plugin's
device-versus-host check holds across the OS driver. When messages do not come back, the failure
shows how far they got (rig.os_midi.books: host, class driver, device and JACK's xruns), so a loss is
put on the stage that lost it.

Clauses checked (each test's docstring names its own): MIDI 1.0; docs/protocol.md, MIDI modes.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from host import midi as m
from rig import contract as c
from rig.client.board import Board
from rig.miniport.errors import MiniportTimeout
from rig.miniport.rtmidi_port import MessageTooLong, OsMidiMiniport
from rig.os_midi.books import HostCounts, PathWatch
from rig.os_midi.system import MidiSystem
from rig.pytest_plugin.fixtures import MidiPorts
from rig.targets.registry import Feature, Target

pytestmark = pytest.mark.needs("midi-os")

WINDOW = 64
"""Messages in flight at most (OS MIDI queues drop what overflows; see OsMidiMiniport.send_window)."""
SYSEX_LENGTHS = [2, 3, 4, 5, 7, 8, 9, 63, 64, 65, 4095, 4096, 4097, 16379, 16380, 65536]
FLOOD = 2_000


class SlowPathWarning(UserWarning):
    """A test passed, but answers came later than a device should take: the OS MIDI path was slow (a
    loaded machine's late JACK cycles), shown in the warnings summary."""


@pytest.fixture
def device(request: pytest.FixtureRequest, rig_target: Target) -> Board | None:
    """Our board behind the OS ports when the target is ours (mode switches, books), else None."""
    if Feature.CONTRACT not in rig_target.features:
        return None
    board: Board = request.getfixturevalue("board")
    return board


def path_report(watch: PathWatch, miniport: OsMidiMiniport, echoes: bool) -> str:
    """How far the miniport's messages got, stage by stage (for a failure message)."""
    counts = miniport.counters
    return watch.explain(HostCounts(counts.messages_sent, counts.packets_sent, counts.messages_received,
                                    counts.packets_received), echoes=echoes)


@contextmanager
def os_driver(ports: MidiPorts, board: Board | None, target: Target, mode: c.MidiMode = c.MidiMode.ECHO,
              **mode_args: int) -> Iterator[OsMidiMiniport]:
    """The device in `mode` (ECHO needs no board: a cable loops back) and a started OS-MIDI miniport;
    on exit every event must be back in its pool and nothing left unsent or untaken. A MiniportTimeout
    or a failed assertion inside (messages that did not come back, or not as sent) fails the test with
    the path's counts, stage by stage."""
    if board is not None:
        board.leave_midi_to_os()  # the OS driver keeps the interface: SOURCE goes to the OS ports
        board.set_midi_mode(mode, **mode_args)
    elif mode is not c.MidiMode.ECHO:
        raise pytest.UsageError(f"{mode.name} needs a device whose mode can be set over USB: mark the "
                                f"test needs('usb')")
    answers = mode in (c.MidiMode.ECHO, c.MidiMode.TRANSFORM)
    system: MidiSystem | None = getattr(target, "midi_system", None)
    miniport = OsMidiMiniport(ports.out, ports.inp, board=board, name=f"OS MIDI {ports.out_name}",
                              send_window=WINDOW if answers else None,
                              delay_bound_s=0.0 if system is None else system.delay_bound_s())
    watch = PathWatch(target, board)
    miniport.start()
    try:
        yield miniport
    except (MiniportTimeout, AssertionError) as exc:  # missing messages: say which stage lost them
        pytest.fail(f"{exc}\n{path_report(watch, miniport, answers)}", pytrace=False)
    finally:
        miniport.stop()
    assert miniport.books() == [], "MXF books not balanced"
    counts = miniport.counters
    if counts.slow_answers:  # passed, late: the summary shows how late, and JACK's count of late cycles
        warnings.warn(SlowPathWarning(
            f"{counts.slow_answers} answer(s) took over {miniport.send_timeout_s} s, the longest "
            f"{counts.longest_answer_wait_s:.1f} s; nothing lost (JACK meanwhile: {watch.xruns_since()})"),
            stacklevel=1)


def wait_for(what: str, ready: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll until `ready()`; fail naming `what` (the OS path is asynchronous)."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def channel_messages(channel: int) -> list[bytes]:
    return [m.note_off(channel, 0, 0), m.note_on(channel, 127, 127), m.poly_pressure(channel, 64, 1),
            m.control_change(channel, 120, 0), m.program_change(channel, 127), m.channel_pressure(channel, 0),
            m.pitch_bend(channel, -8192), m.pitch_bend(channel, 8191)]


SYSTEM_MESSAGES = [m.mtc_quarter_frame(7, 15), m.song_position(16383), m.song_select(127), m.tune_request(),
                   m.sysex(b""), m.sysex(b"\x7d\x01"), m.timing_clock(), m.start(), m.continue_(), m.stop(),
                   m.active_sensing(), m.system_reset()]


def test_every_channel_message_on_every_channel(midi_ports: MidiPorts, device: Board | None,
        rig_target: Target) -> None:
    """MIDI 1.0 (channel voice messages on all 16 channels) through the OS MIDI ports and docs/protocol.md,
    MIDI modes (ECHO; or a loopback cable): each comes back unchanged, in order."""
    sent = [msg for channel in range(16) for msg in channel_messages(channel)]
    with os_driver(midi_ports, device, rig_target) as mp:
        mp.send(sent)
        assert [g.data for g in mp.receive(len(sent))] == sent


def test_every_system_message(midi_ports: MidiPorts, device: Board | None,
        rig_target: Target) -> None:
    """MIDI 1.0 (system common, System Exclusive and real-time messages) through the OS MIDI ports and
    docs/protocol.md, MIDI modes (ECHO): each comes back unchanged."""
    with os_driver(midi_ports, device, rig_target) as mp:
        mp.send(SYSTEM_MESSAGES)
        assert [g.data for g in mp.receive(len(SYSTEM_MESSAGES))] == SYSTEM_MESSAGES


def test_running_status_is_expanded(midi_ports: MidiPorts, device: Board | None,
        rig_target: Target) -> None:
    """MIDI 1.0 running status: data bytes after a channel message reuse its status; each comes back from the
    OS port as a complete message."""
    sent = [b"\x92\x30\x10", b"\x31\x11", b"\xe5\x00\x40", b"\x7f\x7f", b"\xc1\x05", b"\x06"]
    expected = [b"\x92\x30\x10", b"\x92\x31\x11", b"\xe5\x00\x40", b"\xe5\x7f\x7f", b"\xc1\x05", b"\xc1\x06"]
    with os_driver(midi_ports, device, rig_target) as mp:
        mp.send(sent)
        assert [g.data for g in mp.receive(len(expected))] == expected


def test_real_time_inside_channel_messages_and_sysex(midi_ports: MidiPorts, device: Board | None,
        rig_target: Target) -> None:
    """MIDI 1.0: real-time bytes between a channel message's bytes or inside a System Exclusive message do not
    disturb it; they come back first, the interrupted message whole after them."""
    sent = [b"\x93\xf8\x40\x50", b"\xe0\x01\xfe\x02", b"\xf0\x01\x02\xfa\x03\xf7"]
    expected = [b"\xf8", b"\x93\x40\x50", b"\xfe", b"\xe0\x01\x02", b"\xfa", b"\xf0\x01\x02\x03\xf7"]
    with os_driver(midi_ports, device, rig_target) as mp:
        mp.send(sent)
        assert [g.data for g in mp.receive(len(expected))] == expected


@pytest.mark.parametrize("length", SYSEX_LENGTHS)
def test_sysex_lengths(midi_ports: MidiPorts, device: Board | None, rig_target: Target,
                      length: int) -> None:
    """MIDI 1.0 (System Exclusive, F0 .. F7): SysEx from 2 bytes up to the OS API's limit comes back whole; a
    longer one is refused by the miniport with MessageTooLong and nothing is sent (the rig's rule: driver mode
    carries those lengths end to end)."""
    message = m.sysex(bytes((i * 3 + length) % 128 for i in range(length - 2)))
    with os_driver(midi_ports, device, rig_target) as mp:
        if length > mp.max_message_bytes:
            # The OS API would drop it silently: the miniport refuses it and sends nothing (driver mode
            # covers this length end to end).
            with pytest.raises(MessageTooLong, match=f"{length}-byte message exceeds"):
                mp.send([message])
            assert mp.counters.messages_sent == 0
            return
        mp.send([message])
        (got,) = mp.receive(1, 20)
        assert got.data == message


def encode_seq(seq: int) -> bytes:
    return m.note_on(seq % 16, (seq // 16) % 128, 1 + (seq // 2048) % 127)


def decode_seq(message: bytes) -> int:
    status, note, velocity = message
    return (status & 0x0F) + 16 * note + 2048 * (velocity - 1)


def test_note_flood_every_event_accounted_for(midi_ports: MidiPorts, device: Board | None,
        rig_target: Target) -> None:
    """docs/protocol.md, MIDI modes (ECHO sends every good packet back; nothing is dropped): a note flood
    through the OS ports, every sequence number back, in order."""
    with os_driver(midi_ports, device, rig_target) as mp:
        mp.send([encode_seq(seq) for seq in range(FLOOD)])
        seqs = [decode_seq(g.data) for g in mp.receive(FLOOD, 60)]
        missing = sorted(set(range(FLOOD)) - set(seqs))
        assert not missing, f"{len(missing)} events lost, first {missing[:10]}"
        assert seqs == list(range(FLOOD))


@pytest.mark.needs("usb")
def test_transform_mode_the_device_does_the_work(midi_ports: MidiPorts, device: Board | None,
        rig_target: Target) -> None:
    """docs/protocol.md, MIDI modes (TRANSFORM: note off, note on and poly pressure get (note + transpose) mod
    128, every other message unchanged), through the OS ports."""
    notes = [m.note_on(0, 60, 100), m.note_off(1, 125, 0), m.poly_pressure(2, 5, 9)]
    with os_driver(midi_ports, device, rig_target, c.MidiMode.TRANSFORM, transpose=5) as mp:
        mp.send([*notes, m.control_change(0, 60, 1)])
        got = [g.data for g in mp.receive(4)]
    assert got == [bytes((n[0], (n[1] + 5) % 128, n[2])) for n in notes] + [m.control_change(0, 60, 1)]


@pytest.mark.needs("usb")
def test_source_mode_count_and_order(midi_ports: MidiPorts, device: Board | None,
        rig_target: Target) -> None:
    """docs/protocol.md, MIDI modes (SOURCE: `count` pairs of note-on and note-off, in order; a note-on of
    velocity 0 is also taken as the note-off, MIDI 1.0), to the OS ports while the OS driver holds the
    interface."""
    count = 200
    with os_driver(midi_ports, device, rig_target, c.MidiMode.SOURCE, rate_hz=5_000, count=count) as mp:
        got = [g.data for g in mp.receive(2 * count, 30)]
    for seq in range(count):
        note, velocity = seq & 0x7F, 1 + ((seq >> 7) % 127)
        assert got[2 * seq] == m.note_on(0, note, velocity), f"event {2 * seq}"
        assert got[2 * seq + 1] in (m.note_off(0, note, 0), m.note_on(0, note, 0)), f"event {2 * seq + 1}"


@pytest.mark.needs("usb")
def test_sink_mode_device_counts_everything(midi_ports: MidiPorts, device: Board | None,
        rig_target: Target) -> None:
    """docs/protocol.md, MIDI modes (SINK: input is counted; nothing is sent): 300 notes and a 102-byte SysEx
    sent through the OS ports are 334 packets in midi_rx_packets, and nothing comes back."""
    assert device is not None
    sent = [encode_seq(seq) for seq in range(300)] + [m.sysex(bytes(100))]
    with os_driver(midi_ports, device, rig_target, c.MidiMode.SINK) as mp:
        mp.send(sent)
        wait_for("the device to count every packet",
                 lambda: device.stats().midi_rx_packets == mp.counters.packets_sent)
        assert mp.take() == []
    assert device.stats().midi_rx_packets == 300 + 34

"""USB-MIDI 1.0 section 4: a device survives event packets that carry no legal event (reserved CINs,
all-zero padding, malformed SysEx) on its MS OUT endpoint: it still answers standard requests,
still takes data, and (declared echoing) still sends back a valid note sent after them."""

from __future__ import annotations

import time

import pytest
import usb.core

from rig.checks.event_packets import EventStreamChecker
from rig.checks.findings import errors
from rig.client.board import Board
from rig.contract import MidiMode
from rig.targets.probe import read_capabilities
from rig.targets.registry import Feature, Target

from ..conformance_usb.standard_device import get_status
from .midi_endpoints import MidiEndpoint
from .test_event_packets import (
    READ_TIMEOUT_MS,
    READ_WINDOW_S,
    WRITE_TIMEOUT_MS,
    configured_endpoints,
    read_for,
)

pytestmark = pytest.mark.needs("usb", "usb-midi")

ECHO_TIMEOUT_S = 10.0
"""The longest wait for the note to come back (the emulator on a loaded 2-core machine); only its
arrival ends the wait, so a working device never waits this long."""
RECIPIENT_DEVICE = 0


def bad_packets(cable: int) -> list[bytes]:
    """Packets with no legal event on `cable` (USB-MIDI 1.0 table 4-1): all-zero padding, the reserved
    CINs 0x0 and 0x1 with data, a SysEx continue (CIN 0x4) and ends (CIN 0x5-0x7) with no SysEx open,
    and a SysEx start never ended followed by a control change."""
    head = cable << 4
    return [bytes(p) for p in (
        (0, 0, 0, 0), (0, 0, 0, 0),
        (head | 0x0, 0x12, 0x34, 0x56), (head | 0x1, 0x90, 0x40, 0x40),
        (head | 0x4, 0x01, 0x02, 0x03),
        (head | 0x5, 0xF7, 0, 0), (head | 0x6, 0x04, 0xF7, 0), (head | 0x7, 0x05, 0x06, 0xF7),
        (head | 0x4, 0xF0, 0x7D, 0x01), (head | 0x4, 0x02, 0x03, 0x04),
        (head | 0xB, 0xB0, 0x07, 0x64),
    )]


def note(cable: int) -> tuple[bytes, bytes]:
    """A valid note (on, then off) on `cable`, not among `bad_packets`."""
    head = cable << 4
    return bytes((head | 0x9, 0x9F, 0x3D, 0x7E)), bytes((head | 0x8, 0x8F, 0x3D, 0x00))


def illegal(packets: list[bytes], sent: list[bytes], cables: int, where: str) -> list[str]:
    """The USB-MIDI 1.0 section 4 errors among `packets` a device sent, except the packets that repeat,
    in order, what it was sent (an echoing device's copy of the bad packets: what a device sends back
    for them is its own business, and a copy is the echo's)."""
    checker = EventStreamChecker(cables, where)
    problems: list[str] = []
    pending = list(sent)
    for packet in packets:
        if packet in pending:
            del pending[:pending.index(packet) + 1]
            continue
        problems += map(str, errors(checker.packet(packet)))
    return problems


def packets_of(transfers: list[bytes]) -> list[bytes]:
    """The 4-byte event packets of `transfers` (a trailing partial packet is kept, to be judged)."""
    return [t[pos:pos + 4] for t in transfers for pos in range(0, len(t), 4)]


def read_until(dev: usb.core.Device, ep: MidiEndpoint, last: bytes) -> list[bytes]:
    """The packets read from `ep` up to and including `last`, or all read when it does not come within
    ECHO_TIMEOUT_S."""
    got: list[bytes] = []
    deadline = time.monotonic() + ECHO_TIMEOUT_S
    while last not in got and time.monotonic() < deadline:
        try:
            got += packets_of([bytes(dev.read(ep.address, 8 * ep.endpoint.wMaxPacketSize, READ_TIMEOUT_MS))])
        except usb.core.USBTimeoutError:
            continue
    return got[:got.index(last) + 1] if last in got else got


@pytest.fixture
def echoes(rig_target: Target) -> bool:
    """Whether the target sends back what its MS OUT endpoint gets (Feature.MIDI_ECHO). Our board is put
    in the contract's MIDI ECHO here, before the test's guard refuses vendor requests; a device that is
    not ours gets none."""
    if Feature.MIDI_ECHO not in rig_target.features:
        return False
    if Feature.CONTRACT in rig_target.features:
        board = Board(rig_target.usb_device())
        try:
            board.set_midi_mode(MidiMode.ECHO)
        finally:
            board.close()
    return True


def test_device_survives_reserved_cins_padding_and_malformed_sysex(
        echoes: bool, rig_target: Target, std_device: usb.core.Device) -> None:
    """USB-MIDI 1.0 4 (table 4-1): CIN 0x0 and 0x1 are reserved, an all-zero packet is padding, and
    SysEx is only a CIN 0x4 start/continue closed by CIN 0x5-0x7. After packets breaking that, the
    device answers GET_STATUS (USB 2.0 9.4.5), takes a valid note, and, declared echoing, sends that
    note back unchanged; all it sends is legal USB-MIDI (its copies of the bad packets aside)."""
    outs, ins = configured_endpoints(std_device)
    cable = rig_target.midi_options.cable
    bad, (note_on, note_off) = bad_packets(cable), note(cable)
    for ep in outs:
        assert std_device.write(ep.address, b"".join(bad), WRITE_TIMEOUT_MS) == 4 * len(bad)
    assert get_status(std_device, RECIPIENT_DEVICE) & ~0x3 == 0, "GET_STATUS(device): reserved bits set"
    problems: list[str] = []
    pair = read_capabilities(std_device).midi_pair() if echoes else None
    echo_out, echo_in = (pair[0].address, pair[1].address) if pair is not None else (None, None)
    for ep in outs:
        assert std_device.write(ep.address, note_on + note_off, WRITE_TIMEOUT_MS) == 8
    for ep in ins:
        where = f"EP 0x{ep.address:02X}"
        if ep.address == echo_in:
            got = read_until(std_device, ep, note_off)
            if got[-2:] != [note_on, note_off]:
                problems.append(f"{where}: the note {note_on.hex(' ')} / {note_off.hex(' ')} sent to "
                                f"EP 0x{echo_out:02X} after the bad packets did not come back as the next "
                                f"message; got {[p.hex(' ') for p in got]}")
        else:
            got = packets_of(read_for(std_device, ep, READ_WINDOW_S))
        problems += illegal(got, bad, ep.cables, where)
    assert not problems, "\n".join(problems)

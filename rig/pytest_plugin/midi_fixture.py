"""The `midi` fixture: expect-style verbs (`send`, `expect`, `receive`) on the target's OS MIDI ports,
so a device test needs no polling loop of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rig.client.board import Board
from rig.contract import MidiMode
from rig.miniport.expect import MidiVerbs
from rig.pytest_plugin.fixtures import MidiPorts
from rig.pytest_plugin.skip_rule import pending_failure
from rig.targets.registry import Feature, Target


def _echoing_board(request: pytest.FixtureRequest, target: Target) -> Board | None:
    """On a target with our USB contract, the device's MIDI in ECHO with the OS driver holding the
    interface, whatever an earlier test left: the test's `board` when it uses one (so the OS traffic
    is counted in its books), else a Board opened for this and closed again (None is returned)."""
    if Feature.USB not in target.features:
        return None  # a MIDI cable target: its loop is the cable
    shared = "board" in request.fixturenames
    board: Board = request.getfixturevalue("board") if shared else Board(target.usb_device())
    try:
        board.leave_midi_to_os()
        board.set_midi_mode(MidiMode.ECHO)
    finally:
        if not shared:
            board.close()
    return board if shared else None


@pytest.fixture
def midi(request: pytest.FixtureRequest, rig_target: Target, midi_ports: MidiPorts) -> Iterator[MidiVerbs]:
    """`midi.send(msg, ...)`, `midi.expect(msg_or_predicate, timeout)` (the first matching message;
    failing with what arrived instead) and `midi.receive(n, timeout)` on the target's OS MIDI ports,
    through the OS-MIDI miniport; on our board the device is put in MIDI ECHO first. Messages are
    bytes, lists of ints or mido messages; what arrives comes back as mido messages. Takes over
    `midi_ports.inp`: receive through `midi` only. After the test every MXF event must be back in its
    pool (messages left unread are dropped); with `board` too, the traffic counts in its books."""
    if midi_ports is None or pending_failure(request):
        yield None  # type: ignore[misc]  # the call phase fails or skips with the reason
        return
    from rig.miniport.rtmidi_port import OsMidiMiniport

    board = _echoing_board(request, rig_target)
    miniport = OsMidiMiniport(midi_ports.out, midi_ports.inp, name=f"OS MIDI {midi_ports.out_name}",
                              board=board)
    miniport.start()
    try:
        yield MidiVerbs(miniport)
    finally:
        miniport.stop()
    miniport.take()  # unread messages are the test's business, not a leak
    problems = miniport.books()
    if problems:
        pytest.fail(f"midi books not balanced: {'; '.join(problems)}", pytrace=False)

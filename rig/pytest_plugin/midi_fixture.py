"""The `midi` fixture: expect-style verbs (`send`, `expect`, `receive`) on the target's OS MIDI ports,
so a device test needs no polling loop of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rig.miniport.expect import MidiVerbs
from rig.pytest_plugin.fixtures import MidiPorts
from rig.pytest_plugin.skip_rule import pending_failure


@pytest.fixture
def midi(request: pytest.FixtureRequest, midi_ports: MidiPorts) -> Iterator[MidiVerbs]:
    """`midi.send(msg, ...)`, `midi.expect(msg_or_predicate, timeout)` (the first matching message;
    failing with what arrived instead) and `midi.receive(n, timeout)` on the target's OS MIDI ports,
    through the OS-MIDI miniport. Messages are bytes, lists of ints or mido messages; what arrives
    comes back as mido messages. Takes over `midi_ports.inp`: receive through `midi` only. After the
    test every MXF event must be back in its pool (messages left unread are dropped)."""
    if midi_ports is None or pending_failure(request):
        yield None  # type: ignore[misc]  # the call phase fails or skips with the reason
        return
    from rig.miniport.rtmidi_port import OsMidiMiniport

    miniport = OsMidiMiniport(midi_ports.out, midi_ports.inp, name=f"OS MIDI {midi_ports.out_name}")
    miniport.start()
    try:
        yield MidiVerbs(miniport)
    finally:
        miniport.stop()
    miniport.take()  # unread messages are the test's business, not a leak
    problems = miniport.books()
    if problems:
        pytest.fail(f"midi books not balanced: {'; '.join(problems)}", pytrace=False)

"""The parser's books, checked after every host.midi parser test: every byte that went in came out in
a message, was dropped and counted, or is still held."""

from __future__ import annotations

from host.midi.stream import MidiMessage, MidiStreamParser


def assert_balanced(parser: MidiStreamParser, delivered: list[MidiMessage]) -> None:
    """`parser`'s counters agree with `delivered` (what its feeds returned) and with its input."""
    c = parser.counters
    out = sum(len(m.data) for m in delivered)
    assert c.bytes_out == out
    assert c.messages == len(delivered)
    assert out + c.dropped_bytes() + parser.pending_bytes == c.bytes_in + c.running_status

"""USB-MIDI 1.0 section 4 event-packet stream checks: legal streams (including our own encoder's
output and padding) pass; a CIN that does not match its status, broken SysEx splitting and an
undeclared cable each fail."""

from __future__ import annotations

import pytest

from host.midi import encode_message
from rig.checks.event_packets import EventStreamChecker, check_event_packets
from rig.checks.midi_descriptors import cables_by_endpoint

from .variants import cfg, error_list, flagged

TABLE = "USB-MIDI 1.0 4 (table 4-1)"
CLAUSE = "USB-MIDI 1.0 4"


def packets(text: str) -> bytes:
    """Event packets written as hex, spaces ignored."""
    return bytes.fromhex(text.replace(" ", ""))


GOOD = [
    "09 90 3c 40", "08 80 3c 00", "0b b0 07 7f", "0c c0 05 00", "0d d0 10 00", "0e e0 00 40", "0a a0 3c 10",
    "02 f1 12 00", "02 f3 05 00", "03 f2 01 02", "05 f6 00 00", "0f f8 00 00", "0f fe 00 00",
    "04 f0 7e 7f", "04 09 01 02", "0f f8 00 00", "05 f7 00 00",  # SysEx with real-time inside, ends 1 byte
    "06 f0 f7 00",  # empty SysEx in one packet
    "07 f0 01 f7",  # short SysEx in one packet
    "04 f0 01 02", "06 03 f7 00",  # ends with 2 bytes
    "04 f0 01 02", "07 03 04 f7",  # ends with 3 bytes
    "00 00 00 00",  # padding
]


def test_legal_stream_passes() -> None:
    assert error_list(check_event_packets([packets("".join(GOOD))], cables=1)) == []


def test_our_encoder_output_passes() -> None:
    """host.midi's encoder output for a mix of messages, SysEx of every tail length included."""
    messages = [bytes([0x90, 60, 100]), bytes([0xC3, 5]), bytes([0xF8]),
                *(bytes([0xF0, *range(n), 0xF7]) for n in range(8))]
    stream = b"".join(encode_message(m, cable=0) for m in messages)
    assert error_list(check_event_packets([stream], cables=1)) == []


def test_sysex_may_span_transfers() -> None:
    checker = EventStreamChecker(cables=1)
    assert checker.feed(packets("04 f0 01 02")) == []
    assert checker.feed(packets("05 f7 00 00")) == []
    assert checker.finish() == []


@pytest.mark.parametrize("packet", ["09 80 3c 40", "08 90 3c 00", "0b c0 07 00", "0c b0 05 00"])
def test_cin_not_matching_status_fails(packet: str) -> None:
    """Table 4-1: a channel message's CIN is its status byte's high nibble."""
    assert flagged(check_event_packets([packets(packet)], cables=1), TABLE, "does not match the CIN")


def test_system_common_under_the_wrong_cin_fails() -> None:
    assert flagged(check_event_packets([packets("02 f2 01 00")], cables=1), TABLE, "status 0xF2")


@pytest.mark.parametrize(("stream", "words"), [
    ("04 01 02 03", ("0x01 outside a SysEx",)),            # continues a SysEx never started
    ("05 f7 00 00", ("0xF7 outside a SysEx",)),            # ends a SysEx never started
    ("04 f0 01 02 06 03 04 00", ("last byte is 0x04",)),   # CIN 6 without F7 last
    ("04 f0 01 02 07 03 f7 04", ("last byte is 0x04",)),   # CIN 7 with F7 in the middle
    ("04 f0 01 f7", ("0xF7", "bit 7")),                     # CIN 4 carrying the end byte
    ("04 f0 01 02 09 90 3c 40", ("inside an unfinished SysEx",)),
    ("06 f0 f7 01", ("must be zero",)),                     # bytes past the CIN's size
])
def test_broken_sysex_splitting_fails(stream: str, words: tuple[str, ...]) -> None:
    """Table 4-1: CIN 4 starts or continues a SysEx; 5, 6 and 7 end it with 1, 2 or 3 bytes, F7 last."""
    assert flagged(check_event_packets([packets(stream)], cables=1), TABLE, *words) or flagged(
        check_event_packets([packets(stream)], cables=1), CLAUSE, *words)


def test_unfinished_sysex_is_reported_at_the_end() -> None:
    findings = check_event_packets([packets("04 f0 01 02")], cables=1)
    assert any("never ended" in f.message for f in findings)


def test_undeclared_cable_fails() -> None:
    """Section 4: the cable number indexes the endpoint's embedded jacks; ours declare one per endpoint."""
    cables = cables_by_endpoint(cfg())[0x81]
    findings = check_event_packets([packets("19 90 3c 40")], cables=cables)
    assert flagged(findings, CLAUSE, "cable number 1", "declares 1")


def test_padding_on_any_cable_is_allowed_but_reserved_cin_with_data_warns() -> None:
    assert check_event_packets([packets("00 00 00 00 00 00 00 00")], cables=1) == []
    findings = check_event_packets([packets("01 02 03 00")], cables=1)
    assert findings and not error_list(findings)


def test_partial_packet_fails() -> None:
    assert flagged(check_event_packets([packets("09 90 3c")], cables=1), CLAUSE, "not whole 4-byte")


def test_sysex_state_is_per_cable() -> None:
    """Section 4: each cable is its own MIDI stream, so SysEx on two cables may interleave."""
    stream = packets("04 f0 01 02 14 f0 11 12 05 f7 00 00 16 13 f7 00")
    assert error_list(check_event_packets([stream], cables=2)) == []
    assert flagged(check_event_packets([packets("04 f0 01 02 15 f7 00 00")], cables=2), TABLE,
                   "cable 1", "0xF7 outside a SysEx")

"""The link backend's descriptor parser (it reads device input, so it is fuzzed) and the MIDI
message <-> USB-MIDI packet conversion the loopback's OS side uses."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig import descriptors
from rig.loopback import midi
from rig.usb_backend import DescriptorError, parse_configuration, parse_device_descriptor


def test_parses_the_board_configuration() -> None:
    cfg = parse_configuration(descriptors.config_descriptor())
    assert [alts[0].bInterfaceNumber for alts in cfg.interfaces] == [0, 1, 2, 3, 4]
    assert [len(alts[0].endpoints) for alts in cfg.interfaces] == [0, 2, 2, 1, 2]
    # the IAD follows the vendor interface's last endpoint, so libusb puts it in that endpoint's extra
    assert cfg.interfaces[2][0].endpoints[1].extra_descriptors[:2] == [8, 0x0B]


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda b: b[:-1], "wTotalLength 190, received 189"),
    (lambda b: b[:9] + b"\x00" + b[10:], "bLength 0 at offset 9"),
    (lambda b: b[:4] + b"\x06" + b[5:], "bNumInterfaces 6"),
    (lambda b: b[:31] + b"\x03" + b[32:], "bNumEndpoints 3, 2 endpoint"),
])
def test_rejects_broken_configurations(mutate: object, message: str) -> None:
    assert callable(mutate)
    with pytest.raises(DescriptorError, match=message):
        parse_configuration(mutate(descriptors.config_descriptor()))


@given(st.binary(max_size=300))
def test_configuration_parser_never_crashes(data: bytes) -> None:
    blob = struct.pack("<BBH", 9, 2, len(data) + 4) + data if len(data) >= 5 else data
    with contextlib.suppress(DescriptorError):
        parse_configuration(blob)


@given(st.binary(max_size=40))
def test_device_descriptor_parser_never_crashes(data: bytes) -> None:
    with contextlib.suppress(DescriptorError):
        parse_device_descriptor(data)


short_messages = st.one_of(
    st.tuples(st.integers(0x80, 0xBF), st.integers(0, 127), st.integers(0, 127)).map(bytes),
    st.tuples(st.integers(0xC0, 0xDF), st.integers(0, 127)).map(bytes),
    st.tuples(st.integers(0xE0, 0xEF), st.integers(0, 127), st.integers(0, 127)).map(bytes),
    st.sampled_from([b"\xf8", b"\xfa", b"\xfe", b"\xf6", b"\xf1\x10", b"\xf3\x05", b"\xf2\x01\x02"]),
    st.binary(max_size=40).map(lambda b: b"\xf0" + bytes(x & 0x7F for x in b) + b"\xf7"),
)


@given(st.lists(short_messages, max_size=20))
def test_messages_round_trip_through_packets(messages: list[bytes]) -> None:
    assembler = midi.PacketsToMessages()
    out = []
    for message in messages:
        packets = midi.message_to_packets(message)
        assert all(len(p) == 4 and not midi.is_bad(p) and not midi.is_padding(p) for p in packets)
        for packet in packets:
            done = assembler.feed(packet)
            if done is not None:
                out.append(done)
    assert out == messages


def test_message_errors() -> None:
    with pytest.raises(midi.MidiMessageError, match="status byte"):
        midi.message_to_packets(b"\x10")
    with pytest.raises(midi.MidiMessageError, match="does not end with F7"):
        midi.message_to_packets(b"\xf0\x01")
    with pytest.raises(midi.MidiMessageError, match="takes 3 bytes, message has 2"):
        midi.message_to_packets(b"\x90\x01")
    with pytest.raises(midi.MidiMessageError, match="undefined"):
        midi.message_to_packets(b"\xf4")

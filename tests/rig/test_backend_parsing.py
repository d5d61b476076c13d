"""The link backend's descriptor parser (it reads device input, so it is fuzzed) and the loopback's
OS side, which converts MIDI messages to and from USB-MIDI packets with host.midi."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.midi import UsbMidiDecoder, encode_message
from rig import descriptors
from rig.loopback import LoopbackBoard, midi
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


def os_echo_board() -> tuple[LoopbackBoard, list[bytes]]:
    """A loopback board in ECHO mode whose OS side is attached to a list (what its OS port would send)."""
    board = LoopbackBoard(console_pty=False)
    sent: list[bytes] = []
    board.attach_os_midi(sent.append)
    return board, sent


@given(st.lists(short_messages, max_size=20))
def test_messages_round_trip_through_the_os_side(messages: list[bytes]) -> None:
    """Messages from the OS port go through the engine as host.midi packets and come back whole."""
    board, sent = os_echo_board()
    try:
        for message in messages:
            board.midi_from_os(message)
        stats = board.stats()
    finally:
        board.close()
    assert sent == messages
    packets = sum(len(encode_message(message)) // 4 for message in messages)
    assert stats["midi_rx_packets"] == stats["midi_tx_packets"] == packets
    assert stats["midi_rx_bad"] == 0


@pytest.mark.parametrize("message", [b"\x10", b"\xf0\x01", b"\x90\x01", b"\xf4", b"\x90\x80\x01", b""])
def test_bad_os_messages_are_counted_not_echoed(message: bytes) -> None:
    board, sent = os_echo_board()
    try:
        board.midi_from_os(message)
        stats = board.stats()
    finally:
        board.close()
    assert sent == []
    assert stats["midi_rx_packets"] == stats["midi_rx_bad"] == 1


def test_source_packets_decode_with_host_midi() -> None:
    """The engine's SOURCE packets are valid USB-MIDI packets for host.midi's decoder."""
    packets = b"".join(midi.source_pair(0, seq)[0] + midi.source_pair(0, seq)[1] for seq in range(300))
    got = [m.data for _, m in UsbMidiDecoder(strict=True).messages(packets)]
    assert [midi.source_seq(packets[i:i + 4]) for i in range(0, len(packets), 8)] == list(range(300))
    assert got[0::2] == [bytes((0x90, seq & 0x7F, 1 + (seq >> 7))) for seq in range(300)]
    assert all(m[0] == 0x80 and m[2] == 0 for m in got[1::2])

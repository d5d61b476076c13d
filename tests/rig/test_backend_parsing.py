"""The link backend's descriptor parser (it reads device input, so it is fuzzed) and the loopback
engine's SOURCE packets as host.midi decodes them (the OS side's round trips: tests/class_driver)."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.midi import UsbMidiDecoder
from rig.contract import descriptors
from rig.links.pyusb_backend import DescriptorError, parse_configuration, parse_device_descriptor
from rig.loopback import midi


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


def test_source_packets_decode_with_host_midi() -> None:
    """The engine's SOURCE packets are valid USB-MIDI packets for host.midi's decoder."""
    packets = b"".join(midi.source_pair(0, seq)[0] + midi.source_pair(0, seq)[1] for seq in range(300))
    got = [m.data for _, m in UsbMidiDecoder(strict=True).messages(packets)]
    assert [midi.source_seq(packets[i:i + 4]) for i in range(0, len(packets), 8)] == list(range(300))
    assert got[0::2] == [bytes((0x90, seq & 0x7F, 1 + (seq >> 7))) for seq in range(300)]
    assert all(m[0] == 0x80 and m[2] == 0 for m in got[1::2])

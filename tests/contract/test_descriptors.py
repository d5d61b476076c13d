"""The descriptors rig.contract.descriptors builds, read back by a small parser written here from the
specs."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from rig import contract as c
from rig.contract import ch9
from rig.contract import descriptors as d
from rig.contract.c_header import HEADER_PATH

ROOT = Path(__file__).resolve().parents[2]
UID = bytes.fromhex("E660C0D1C7352A2F")


def split(blob: bytes) -> list[bytes]:
    """Split a descriptor blob into descriptors by bLength, refusing overruns and zero lengths."""
    out = []
    pos = 0
    while pos < len(blob):
        length = blob[pos]
        assert length >= 2, f"descriptor at {pos} has bLength {length}"
        assert pos + length <= len(blob), f"descriptor at {pos} overruns the blob"
        out.append(blob[pos:pos + length])
        pos += length
    return out


def test_device_descriptor_fields() -> None:
    raw = d.device_descriptor()
    fields = struct.unpack("<BBHBBBBHHHBBBB", raw)
    assert fields == (18, 1, 0x0200, 0xEF, 0x02, 0x01, 64, c.VID, c.PID, c.bcd_device(), 1, 2, 3, 1)


def test_config_total_length_and_counts() -> None:
    raw = d.config_descriptor()
    parts = split(raw)
    length, dtype, total, n_if, value, i_config, attrs, power = struct.unpack("<BBHBBBBB", parts[0])
    assert (length, dtype, total, n_if, value, i_config) == (9, 2, len(raw), 5, 1, 0)
    assert attrs & 0x80 and power * 2 == c.MAX_POWER_MA
    interfaces = [p for p in parts if p[1] == ch9.DT_INTERFACE]
    assert [p[2] for p in interfaces] == [0, 1, 2, 3, 4]
    # every interface's bNumEndpoints equals the endpoint descriptors that follow it
    current = -1
    counted: dict[int, int] = {}
    for part in parts:
        if part[1] == ch9.DT_INTERFACE:
            current = part[2]
            counted[current] = 0
        elif part[1] == ch9.DT_ENDPOINT:
            counted[current] += 1
    assert counted == {p[2]: p[4] for p in interfaces}
    assert counted == {0: 0, 1: 2, 2: 2, 3: 1, 4: 2}


def _after(parts: list[bytes], interface: int) -> list[bytes]:
    start = next(i for i, p in enumerate(parts) if p[1] == ch9.DT_INTERFACE and p[2] == interface)
    end = next((i for i, p in enumerate(parts) if i > start and p[1] in (ch9.DT_INTERFACE, 0x0B)), len(parts))
    return parts[start:end]


def test_audio_control_header_points_at_midi_streaming() -> None:
    parts = _after(split(d.config_descriptor()), c.IF_AUDIO_CONTROL)
    assert parts[0][5:7] == bytes((c.CLASS_AUDIO, c.SUBCLASS_AUDIO_CONTROL))
    header = parts[1]
    _, dtype, subtype, bcd, total, n, member = struct.unpack("<BBBHHBB", header)
    assert (dtype, subtype, bcd, total, n, member) == (0x24, 1, 0x0100, 9, 1, c.IF_MIDI_STREAMING)


def test_midi_streaming_jacks_and_endpoints() -> None:
    parts = _after(split(d.config_descriptor()), c.IF_MIDI_STREAMING)
    intf = parts[0]
    assert intf[4:8] == bytes((2, c.CLASS_AUDIO, c.SUBCLASS_MIDI_STREAMING, 0))
    assert intf[8] == c.STRING_INDEX_MIDI
    header = parts[1]
    _, dtype, subtype, bcd, total = struct.unpack("<BBBHH", header)
    assert (dtype, subtype, bcd) == (0x24, 1, 0x0100)
    assert total == sum(len(p) for p in parts[1:]) == 65  # as in USB-MIDI 1.0 appendix B.4.3
    in_jacks = {p[4]: p[3] for p in parts if p[1] == 0x24 and p[2] == d.MS_MIDI_IN_JACK}
    out_jacks = {p[4]: (p[3], p[6], p[7]) for p in parts if p[1] == 0x24 and p[2] == d.MS_MIDI_OUT_JACK}
    assert sorted(in_jacks.values()) == [d.JACK_EMBEDDED, d.JACK_EXTERNAL]
    assert sorted(v[0] for v in out_jacks.values()) == [d.JACK_EMBEDDED, d.JACK_EXTERNAL]
    # each OUT jack takes its input from an IN jack of the other kind
    for kind, source, pin in out_jacks.values():
        assert in_jacks[source] != kind and pin == 1
    endpoints = [(p, parts[i + 1]) for i, p in enumerate(parts) if p[1] == ch9.DT_ENDPOINT]
    assert [e[0][2] for e in endpoints] == [c.EP_MIDI_OUT, c.EP_MIDI_IN]
    for ep, cs in endpoints:
        assert len(ep) == 9 and ep[3] == 2 and struct.unpack_from("<H", ep, 4)[0] == c.BULK_PACKET_SIZE
        assert cs[:4] == bytes((5, 0x25, 1, 1))
        jack = cs[4]
        if ep[2] & 0x80:
            assert out_jacks[jack][0] == d.JACK_EMBEDDED
        else:
            assert in_jacks[jack] == d.JACK_EMBEDDED


def test_vendor_interface() -> None:
    parts = _after(split(d.config_descriptor()), c.IF_VENDOR)
    assert parts[0][4:6] == bytes((2, 0xFF)) and parts[0][8] == c.STRING_INDEX_VENDOR
    eps = [struct.unpack("<BBBBHB", p) for p in parts[1:]]
    assert eps == [(7, 5, c.EP_FRAME_OUT, 2, 64, 0), (7, 5, c.EP_FRAME_IN, 2, 64, 0)]


def test_cdc_function() -> None:
    parts = split(d.config_descriptor())
    iad_at = next(i for i, p in enumerate(parts) if p[1] == 0x0B)
    assert parts[iad_at] == bytes((8, 0x0B, c.IF_CDC_COMM, 2, 2, 2, 0, c.STRING_INDEX_CDC))
    comm = _after(parts, c.IF_CDC_COMM)
    assert parts[iad_at + 1] == comm[0]
    assert comm[0][4:7] == bytes((1, c.CLASS_CDC, c.SUBCLASS_CDC_ACM))
    functional = {p[2]: p for p in comm if p[1] == 0x24}
    assert functional[0x00] == bytes((5, 0x24, 0, 0x20, 0x01))
    assert functional[0x01] == bytes((5, 0x24, 1, 0, c.IF_CDC_DATA))
    assert functional[0x02] == bytes((4, 0x24, 2, 0x02))
    assert functional[0x06] == bytes((5, 0x24, 6, c.IF_CDC_COMM, c.IF_CDC_DATA))
    notify = comm[-1]
    assert struct.unpack("<BBBBHB", notify) == (7, 5, c.EP_CDC_NOTIFY, 3, 8, c.CDC_NOTIFY_INTERVAL_MS)
    data = _after(parts, c.IF_CDC_DATA)
    assert data[0][4:6] == bytes((2, c.CLASS_CDC_DATA))
    assert [p[2] for p in data[1:]] == [c.EP_CDC_OUT, c.EP_CDC_IN]


def test_every_endpoint_address_is_unique() -> None:
    addresses = [p[2] for p in split(d.config_descriptor()) if p[1] == ch9.DT_ENDPOINT]
    assert len(addresses) == len(set(addresses)) == 7


def test_strings() -> None:
    assert d.string_descriptor(0, UID) == bytes((4, 3, 0x09, 0x04))
    serial = d.string_descriptor(c.STRING_INDEX_SERIAL, UID)
    assert serial[0] == len(serial) == 2 + 2 * 16 and serial[1] == 3
    assert serial[2:].decode("utf-16-le") == "E660C0D1C7352A2F"
    for index, text in c.STRINGS.items():
        assert d.string_descriptor(index, UID)[2:].decode("utf-16-le") == text
    with pytest.raises(KeyError, match="index 9"):
        d.string_descriptor(9, UID)
    with pytest.raises(ValueError, match="8 bytes, got 3"):
        d.serial_number(b"abc")


def test_header_carries_the_same_bytes() -> None:
    text = (ROOT / HEADER_PATH).read_text()
    config = d.config_descriptor()
    assert f"#define RIG_CONFIG_DESCRIPTOR_LEN {len(config)}u" in text
    body = text.split("rig_config_descriptor[RIG_CONFIG_DESCRIPTOR_LEN]", 1)[1].split("};", 1)[0]
    values = bytes(int(tok.rstrip(","), 16) for tok in body.split() if tok.startswith("0x"))
    assert values == config


def test_header_carries_the_framing() -> None:
    text = (ROOT / HEADER_PATH).read_text()
    body = text.split("rig_framing_ex[RIG_FRAMING_EX_LEN]", 1)[1].split("};", 1)[0]
    values = bytes(int(tok.rstrip(","), 16) for tok in body.split() if tok.startswith("0x"))
    assert values == d.framing_ex() and len(values) == 112
    assert struct.unpack_from("<I", values, 24 + 44)[0] == c.FRAME_RING_SLOTS  # item Frames

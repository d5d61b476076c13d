"""Frame codec: round trips, every validation error with its message, sequence tracking."""

from __future__ import annotations

import contextlib
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig import contract as c
from rig.contract import frame_wire as f


@given(st.binary(max_size=2048), st.integers(0, 0xFFFFFFFF), st.integers(0, 7),
       st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_round_trip(payload: bytes, seq: int, flags: int, rx: int, tx: int) -> None:
    data = f.encode(payload, seq, flags, rx, tx)
    assert len(data) == f.HEADER_SIZE + len(payload)
    frame = f.decode(data)
    assert (frame.seq, int(frame.flags), bytes(frame.payload), frame.rx_time_us, frame.tx_time_us) == (
        seq, flags, payload, rx, tx)
    assert frame.payload_crc == zlib.crc32(payload) and len(frame) == len(data)
    assert frame.payload_len == len(payload)


def test_header_matches_contract_layout() -> None:
    data = f.encode(b"abc", 7)
    fields = c.FRAME_HEADER.unpack(data[:40])
    assert fields["magic"] == c.FRAME_MAGIC and fields["version"] == c.FRAME_VERSION
    assert fields["header_len"] == 40 and fields["payload_len"] == 3 and fields["seq"] == 7
    assert fields["flags"] == c.FrameFlag.FROM_HOST


def test_decode_is_zero_copy() -> None:
    data = bytearray(f.encode(b"xyz", 1))
    frame = f.decode(data)
    data[40] = ord("X")
    assert bytes(frame.payload) == b"Xyz"


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def test_errors_name_expected_and_found() -> None:
    good = f.encode(b"hello", 3)
    with pytest.raises(f.BadMagic, match="expected 0x52464752, found 0x00000000"):
        f.decode(_patch(good, 0, "<I", 0))
    with pytest.raises(f.BadVersion, match="expected 1, found 9"):
        f.decode(_patch(good, 4, "<B", 9))
    with pytest.raises(f.BadHeaderLength, match="expected 40, found 32"):
        f.decode(_patch(good, 6, "<H", 32))
    with pytest.raises(f.Truncated, match="need at least 40 header bytes, got 10"):
        f.decode(good[:10])
    with pytest.raises(f.Truncated, match="45 bytes, transfer has 44"):
        f.decode(good[:-1])
    with pytest.raises(f.LengthMismatch, match="transfer has 46"):
        f.decode(good + b"!")
    with pytest.raises(f.LengthMismatch, match="exceeds FRAME_MAX_PAYLOAD"):
        f.decode(_patch(good, 12, "<I", c.FRAME_MAX_PAYLOAD + 1))
    with pytest.raises(f.BadCrc, match=r"seq 3\): header says 0x"):
        f.decode(good[:-1] + b"?")
    with pytest.raises(f.LengthMismatch):
        f.encode(bytes(c.FRAME_MAX_PAYLOAD + 1), 0)
    # every frame error is also a ValueError and a RigError
    with pytest.raises(ValueError):
        f.decode(b"")


@given(st.binary(max_size=200))
def test_decode_never_crashes_on_garbage(data: bytes) -> None:
    with contextlib.suppress(f.FrameError):
        f.decode(data)


def test_restamp() -> None:
    data = bytearray(f.encode(b"payload", 5))
    f.restamp(data, 9, c.FrameFlag.ECHOED, 111, 222)
    frame = f.decode(data)
    assert (frame.seq, frame.flags, frame.rx_time_us, frame.tx_time_us) == (9, c.FrameFlag.ECHOED, 111, 222)


def test_source_payload() -> None:
    assert f.source_payload(254, 4) == bytes((254, 255, 0, 1))
    assert len(f.source_payload(3, c.FRAME_MAX_PAYLOAD)) == c.FRAME_MAX_PAYLOAD
    assert f.source_payload(0, 0) == b""


def test_sequence_tracker() -> None:
    t = f.SequenceTracker()
    assert t.check(0) and t.check(1) and t.ok
    assert not t.check(3)
    assert t.gaps == [(2, 3)]
    assert not t.check(3)
    assert t.repeats == [3] and not t.ok and t.received == 4
    w = f.SequenceTracker(0xFFFFFFFF)
    assert w.check(0xFFFFFFFF) and w.check(0)

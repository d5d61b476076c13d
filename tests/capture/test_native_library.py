"""The capture's C library (rig/links/capture_encoder.c, capture_recorder.c): built and loaded
wherever `make` ran (CI included); its encoder writes byte for byte what the numpy encoder writes for
any log (every transfer type and direction, several devices, failed transfers, overlapping and equal
time stamps, keys new to the head table, a batch larger than the buffer it was given) and names a
malformed log's error; its recorder stamps with time.perf_counter_ns's clock."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.links import capture_blocks, capture_native, usbmon
from rig.links.capture import ENTRY_BYTES, PlacedAt, template
from rig.links.capture_blocks import Encoded, HeadTable, control_where, entry_code

from .native import require_c

PLACES: tuple[PlacedAt, ...] = ((0, 1, 3, ((0x83, 4),)), (1, 2, 5, ()))
"""Two recorded devices on two buses (interfaces), one with an interrupt endpoint's bInterval."""
XFERS = (usbmon.BULK, usbmon.INTERRUPT, usbmon.CONTROL)


def _encode(encoder: str, flat: list[object], to_wall: int, first_urb: int, comment: str | None = None
            ) -> tuple[bytes, list[int]]:
    """The batch an encoder hands its sink, its parts joined (a fresh head table: every key is new
    to it): the bytes, and where each block starts in them."""
    heads = HeadTable(functools.partial(template, PLACES))
    data, starts, lasts = b"", list[int](), list[bool]()

    def sink(batch: Encoded, last: bool) -> None:
        nonlocal data
        starts.extend(len(data) + int(start) for start in batch.starts)
        data += bytes(batch.data)
        lasts.append(last)

    encode = capture_blocks.encode_native if encoder == "c" else capture_blocks.encode_numpy
    encode(list(flat), heads, to_wall, first_urb, sink, comment)
    assert lasts and lasts[-1] and not any(lasts[:-1]), "the last part, and only it, says so"
    return data, starts


transfer = st.tuples(
    st.sampled_from([0, 1]), st.sampled_from(XFERS), st.booleans(), st.sampled_from([1, 2, 3]),
    st.integers(0, 300), st.integers(0, 300), st.binary(max_size=70), st.integers(0, 0xFFFF),
    st.sampled_from(["all", "part", -32, -104, -110, -71]))


def _log(transfers: list[tuple[int, int, bool, int, int, int, bytes, int, int | str]]) -> list[object]:
    """The log the recording backend would hold for `transfers` (start and duration given in ns,
    so transfers overlap, and stamps repeat, as often as not)."""
    flat: list[object] = []
    for key, xfer, is_in, number, start, duration, data, length, result in transfers:
        if xfer == usbmon.CONTROL:
            where = control_where(0x80 if is_in else 0x00, 6, 0x0100 | number, number)
        else:
            where = number | 0x80 if is_in else number
        got = len(data) if result == "all" else len(data) // 2 if result == "part" else result
        flat.extend((entry_code(key, xfer, is_in and xfer != usbmon.CONTROL), 10**6 + start,
                     10**6 + start + duration, where, length, got, data))
    return flat


@settings(max_examples=300, deadline=None)
@given(transfers=st.lists(transfer, min_size=1, max_size=40),
       to_wall=st.integers(-3 * 10**9, 2**62), first_urb=st.integers(1, 2**40),
       comment=st.one_of(st.none(), st.text(max_size=12)))
def test_the_c_encoder_writes_what_the_numpy_encoder_writes(
        transfers: list[tuple[int, int, bool, int, int, int, bytes, int, int | str]], to_wall: int,
        first_urb: int, comment: str | None) -> None:
    """Any log, with a step's comment or none: the same bytes and the same block starts from both
    encoders."""
    require_c()
    flat = _log(transfers)
    got = _encode("c", flat, to_wall, first_urb, comment)
    assert got == _encode("numpy", flat, to_wall, first_urb, comment)
    assert len(got[1]) == 2 * len(transfers)


def test_a_batch_larger_than_the_buffer_is_encoded_whole() -> None:
    """The C encoder asks for a larger buffer and encodes again: nothing cut off."""
    require_c()
    flat = _log([(0, usbmon.BULK, True, 1, 10 * i, 5, bytes([i]) * 1000, 1024, "all") for i in range(50)])
    capture_blocks._WORKSPACE.out = bytearray(100)
    data, starts = _encode("c", flat, 0, 1)
    assert len(data) == 50 * (96 + 1000 + 96)
    assert (data, starts) == _encode("numpy", flat, 0, 1)


@pytest.mark.parametrize(("field", "value", "error"), [
    (6, bytearray(b"x"), TypeError),  # data must be bytes
    (1, "10", TypeError),  # a time stamp must be an int
    (2, 2**70, OverflowError),  # beyond 64 bits
    (0, -1, ValueError),  # no entry code
])
def test_a_malformed_log_is_a_named_error(field: int, value: object, error: type[Exception]) -> None:
    """A log entry that is not what FIELDS says raises, naming what is wrong; nothing is written."""
    require_c()
    flat = _log([(0, usbmon.BULK, False, 2, 0, 5, b"abcd", 0, "all")] * 2)
    flat[7 + field] = value
    with pytest.raises(error):
        _encode("c", flat, 0, 1)


def test_a_log_cut_inside_an_entry_is_refused() -> None:
    """Only whole entries are encoded (encode_log takes whole ones): a partial one is a ValueError."""
    require_c()
    encoder = capture_native.ENCODER
    assert encoder is not None
    heads = HeadTable(functools.partial(template, PLACES))
    flat = _log([(0, usbmon.BULK, False, 2, 0, 5, b"abcd", 0, "all")])[:-1]
    with pytest.raises(ValueError, match="no whole number of entries"):
        encoder(flat, heads.rows_by_key, heads.table, heads.kinds, 0, 1, None, bytearray(1000),
                capture_blocks._WORKSPACE.starts)


def test_captures_use_the_c_encoder_when_it_is_built() -> None:
    """Where `make` built the library for this Python, every capture encodes with it."""
    require_c()
    assert capture_blocks.encode is capture_blocks.encode_native


def test_a_library_that_is_not_there_is_not_used(tmp_path: Path) -> None:
    """No library: no encoder, no recorder, and the reason names the file and how to build it."""
    encoder, recorder, why = capture_native.load(tmp_path / "capture_native.so")
    assert encoder is None and recorder is None
    assert "capture_native.so" in why and "make native" in why


def test_the_recorder_stamps_with_the_performance_counter() -> None:
    """The C recorder's clock is time.perf_counter_ns's (capture.wall_ns converts both alike)."""
    require_c()
    for _ in range(100):
        before = time.perf_counter_ns()
        now = capture_native.clock_ns()
        assert before <= now <= time.perf_counter_ns()


def test_a_recorded_transfer_checks_its_call_and_logs_bytes() -> None:
    """The C recorder takes IBackend's five arguments (a TypeError otherwise, nothing logged), logs
    what a link hands back as bytes (a bytearray is copied), and counts it against the budget."""
    import array

    require_c()
    recorder = capture_native.RECORDER
    assert recorder is not None
    log: list[object] = []
    room = array.array("q", [10_000])
    spilled: list[int] = []

    def receive(handle: object, ep: int, buff: array.array[int], timeout: int) -> bytearray:
        return bytearray(b"\x09\x90\x3c\x40")

    def failed(exc: BaseException, t0: int, ep: int, urb_len: int, data: bytes | None) -> None:
        raise AssertionError("no transfer failed")

    read = recorder(receive, log, 5, lambda: spilled.append(1), failed, room, 1)
    with pytest.raises(TypeError, match="5 arguments"):
        read(None, 0x81, 0, array.array("B", bytes(64)))
    assert log == [] and room[0] == 10_000
    assert read(None, 0x81, 0, array.array("B", bytes(64)), 100) == 4
    assert log[:1] + log[3:] == [5, 0x81, 64, 4, b"\x09\x90\x3c\x40"] and type(log[6]) is bytes
    assert room[0] == 10_000 - 4 - ENTRY_BYTES and not spilled

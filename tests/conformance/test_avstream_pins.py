"""Conformance, AVStream pins: the frame miniport on the vendor bulk endpoints of every target.

Allocator selection follows the framing the device reports (the decision and its reasons go into
the run report), frames of every interesting size travel through the render and capture pins in
ECHO mode, STOP flushes queued frames, and every test ends with both allocator pools full and the
device's counters equal to the host's (the plugin checks the latter). Every allocator the tests create
runs in checked mode (double free, foreign frame, use after delete, frames leaked at delete).

Clauses checked (each test's docstring names its own): docs/protocol.md, Frames, Ring and backpressure and
Framing; kernel-streaming.md B2 (allocator selection, checked frees) and B3 (STOP flushes).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from host.avstream.allocators import AllocatorDispatch, tracking
from host.avstream.errors import AllocatorMisuse
from rig import contract as c
from rig.client.board import Board
from rig.contract import frame_wire as wire
from rig.miniport import MiniportTimeout
from rig.miniport.frame_pins import HEADER_SIZE, FrameMiniport, PinState
from rig.pytest_plugin.state import STATE

pytestmark = pytest.mark.needs("usb", "frames")

SIZES: list[int | str] = [0, 1, 63, 64, 65, 4095, 4096, 4097, "max"]
NO_FRAME_MS = 100


def payload(length: int, salt: int = 0) -> bytes:
    """Deterministic bytes that differ per (length, salt), so a mixed-up frame is noticed."""
    return bytes((i * 11 + length + salt * 29) & 0xFF for i in range(length))


def _length(board: Board, size: int | str) -> int:
    limit = board.cached_info().max_payload
    length = limit if size == "max" else int(size)
    if length > limit:
        pytest.skip(f"{board.name} max_payload is {limit}, below {length}")
    return length


def _record(request: pytest.FixtureRequest, miniport: FrameMiniport) -> None:
    """Put each pin's allocator decision into the run record and the test's properties."""
    lines = [choice.describe() for choice in miniport.choices]
    for choice in miniport.choices:
        request.node.user_properties.append((f"allocator_{choice.pin}", choice.describe()))
    if STATE in request.config.stash:
        extra = request.config.stash[STATE].record.extra.setdefault("allocator_selection", {})
        extra[miniport.board.name] = lines


@pytest.fixture(autouse=True)
def checked_allocators() -> Iterator[list[AllocatorDispatch]]:
    """Every allocator created during the test is checked (host.avstream's tracking()); at the end
    each must have been created checked and hold no frame."""
    with tracking() as created:
        yield created
    assert all(a.checked for a in created), [a.name for a in created if not a.checked]
    leaked = {a.name: [f"#{f.index}" for f in a.leaked_frames()] for a in created if a.leaked_frames()}
    assert not leaked, f"frames leaked: {leaked}"


@pytest.fixture
def pins(request: pytest.FixtureRequest, board: Board) -> Iterator[FrameMiniport]:
    """The frame miniport connected in ECHO mode and running; afterwards both pools must be full."""
    board.set_frame_mode(c.FrameMode.ECHO)  # empties the ring (docs/protocol.md): nothing to drain
    miniport = FrameMiniport(board)
    miniport.connect()
    _record(request, miniport)
    miniport.run()
    try:
        yield miniport
    finally:
        miniport.stop()
        problems = miniport.books()
        miniport.close()
    assert problems == [], f"allocator pools not full at the end: {problems}"


def test_allocator_selection_follows_the_reported_framing(pins: FrameMiniport) -> None:
    """docs/protocol.md, Framing and kernel-streaming.md B2 (selection follows the pin's framing and says
    why): both pins' allocators take Frames = the ring's slots and the FramingRange's largest frame from
    GET_FRAMING's one item, chosen with a reason."""
    framing = pins.framing
    assert framing is not None and framing.count_items == 1
    item = framing.items[0]
    info = pins.board.cached_info()
    assert item.frames == info.ring_slots, "framing Frames should be the ring's slots"
    assert item.framing_range.range.max_frame_size == HEADER_SIZE + info.max_payload
    assert item.framing_range.range.min_frame_size == HEADER_SIZE
    for choice in pins.choices:
        assert choice.reason, "the decision must say why"
        assert choice.frame_size == HEADER_SIZE + info.max_payload
        assert choice.frames == info.ring_slots
        assert not choice.is_default, choice.describe()
        (verdict,) = choice.candidates
        assert verdict.chosen and verdict.item_index == 0


def test_user_mode_connection_gets_the_default_allocator_and_says_why(
        request: pytest.FixtureRequest, board: Board) -> None:
    """kernel-streaming.md B2: a kernel-mode allocator is only chosen if the connection is in kernel mode, so
    a user-mode connection gets the default allocator with that reason; frames still echo (docs/protocol.md,
    Frames)."""
    board.set_frame_mode(c.FrameMode.ECHO)
    with FrameMiniport(board, kernel_mode=False) as miniport:
        _record(request, miniport)
        for choice in miniport.choices:
            assert choice.is_default
            assert choice.candidates[0].reason == "kernel-mode allocator on a user-mode connection"
        miniport.run()
        assert [e.payload for e in miniport.roundtrip([b"user mode"])] == [b"user mode"]
        miniport.stop()
        assert miniport.books() == []


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_echo_through_the_pins(pins: FrameMiniport, size: int | str) -> None:
    """docs/protocol.md, Frames (ECHO: payload unchanged, flags = ECHOED, seq from 0, rx_time_us <=
    tx_time_us) through the render and capture pins (kernel-streaming.md B3): one frame back per frame sent,
    in a capture frame of the capture pin's allocator."""
    length = _length(pins.board, size)
    data = payload(length)
    seq = pins.send(data)
    with pins.receive() as frame:
        assert frame.tobytes() == data
        assert frame.seq == seq == 0
        assert c.FrameFlag.ECHOED in frame.flags
        assert frame.frame.allocator is pins.capture.allocator
        if c.Capability.TIMESTAMPS in pins.board.cached_info().capabilities:
            assert 0 < frame.rx_time_us <= frame.tx_time_us
    with pytest.raises(MiniportTimeout):
        pins.receive(NO_FRAME_MS)
    assert pins.render.pool_full


def test_every_size_in_one_stream_keeps_order(pins: FrameMiniport) -> None:
    """docs/protocol.md, Frames (seq +1 per frame from 0): frames of every size in one stream come back in
    order, with no sequence gap."""
    limit = pins.board.cached_info().max_payload
    lengths = [limit if s == "max" else int(s) for s in SIZES if s == "max" or int(s) <= limit]
    sent = [payload(n, i) for i, n in enumerate(lengths * 2)]
    echoed = pins.roundtrip(sent)
    assert [e.payload for e in echoed] == sent
    assert [e.seq for e in echoed] == list(range(len(sent)))
    assert pins.capture.counters.seq_gaps == 0
    assert pins.render.counters.completed == len(sent)


def test_more_frames_than_the_ring_holds(pins: FrameMiniport) -> None:
    """docs/protocol.md, Ring and backpressure: three times the ring's slots pass through the pins with
    nothing lost, and ring_high_water never exceeds the slots."""
    count = 3 * pins.board.cached_info().ring_slots
    sent = [payload(100 + i, i) for i in range(count)]
    assert [e.payload for e in pins.roundtrip(sent)] == sent
    assert pins.board.stats().ring_high_water <= pins.board.cached_info().ring_slots


def test_stop_flushes_queued_frames(pins: FrameMiniport) -> None:
    """kernel-streaming.md B3 (flushing on STOP) and docs/protocol.md, Frames (seq +1 per frame sent): frames
    queued while paused are flushed at STOP, never reach the device and use no sequence number."""
    pins.set_state(PinState.PAUSE)
    for i in range(3):
        pins.send(payload(10, i))
    assert pins.render.queued == 3
    pins.stop()
    assert pins.render.counters.flushed == 3
    assert pins.render.pool_full and pins.capture.pool_full
    assert pins.board.stats().frames_rx == 0, "flushed frames must never reach the device"
    pins.run()
    (echoed,) = pins.roundtrip([b"after stop"])
    assert (echoed.payload, echoed.seq) == (b"after stop", 0), "flushed frames must not use sequence numbers"


def test_sink_mode_counts_what_the_render_pin_sent(board: Board) -> None:
    """docs/protocol.md, Frames (SINK: frames are checked and counted; nothing is sent): the device counts
    every frame and payload byte the render pin sent and sends nothing back."""
    board.set_frame_mode(c.FrameMode.SINK)
    with FrameMiniport(board) as miniport:
        miniport.run()
        lengths = [_length(board, s) for s in SIZES]
        for i, n in enumerate(lengths):
            miniport.send(payload(n, i))
        with pytest.raises(MiniportTimeout):
            miniport.receive(NO_FRAME_MS)
        miniport.stop()
        assert miniport.books() == []
    stats = board.stats()
    assert (stats.frames_rx, stats.frame_bytes_rx, stats.frames_tx) == (len(lengths), sum(lengths), 0)


def test_source_mode_frames_arrive_in_capture_frames_in_sequence(board: Board) -> None:
    """docs/protocol.md, Frames (SOURCE: `count` frames, byte i = (seq + i) & 0xFF, flags = SOURCED, seq from
    0): they arrive in capture frames in sequence, and no more than count."""
    count, length = 12, 200
    board.set_frame_mode(c.FrameMode.SOURCE, payload_len=length, count=count)
    with FrameMiniport(board) as miniport:
        miniport.run()
        for seq in range(count):
            with miniport.receive() as frame:
                assert (frame.seq, frame.flags) == (seq, c.FrameFlag.SOURCED)
                assert frame.tobytes() == wire.source_payload(seq, length)
        with pytest.raises(MiniportTimeout):
            miniport.receive(NO_FRAME_MS)
        miniport.stop()
        assert miniport.books() == []


def test_the_allocators_are_checked(pins: FrameMiniport, checked_allocators: list[AllocatorDispatch]) -> None:
    """kernel-streaming.md B2 (Free takes back a frame its own allocator handed out): checked mode is on for
    both pins' allocators, so a double free and a foreign frame are refused."""
    assert {pins.render.allocator, pins.capture.allocator} <= set(checked_allocators)
    render, capture = pins.render.allocator, pins.capture.allocator
    frame = render.allocate()
    assert frame is not None
    render.free(frame)
    with pytest.raises(AllocatorMisuse, match="double free"):
        render.free(frame)
    foreign = capture.allocate()
    assert foreign is not None
    with pytest.raises(AllocatorMisuse, match="foreign frame"):
        render.free(foreign)
    capture.free(foreign)

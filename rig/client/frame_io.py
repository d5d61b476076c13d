"""The frame side of a board: SET/GET_FRAME_MODE, frames on EP_FRAME_OUT / EP_FRAME_IN with their
sequence numbers, and the claim a miniport takes on the host-to-device frame stream."""

from __future__ import annotations

from typing import Any

import usb.core

from rig import contract as c
from rig.client.control import DEFAULT_TIMEOUT_MS, BoardControl
from rig.client.errors import FrameStreamClaimed, PartialFrame, TransferTimeout
from rig.client.releasing import Releasable
from rig.contract import frame_wire as frames
from rig.contract.frame_wire import Frame, SequenceTracker
from rig.contract.modes import FrameModeConfig, ModeConfigError


class FrameStream(Releasable):
    """A claim on one Board's host-to-device frame stream (`Board.claim_frame_stream`), for a miniport
    that numbers and sends frames itself: it owns the next TX sequence number and writes frame bytes
    with the Board's error mapping. While it is held, `Board.send_frame` and `Board.send_raw_frame`
    refuse (FrameStreamClaimed), so mixing them with the miniport is an error, not a sequence gap.

    The sequence numbers are the Board's own state: SET_FRAME_MODE and RESET_STATS restart them at 0
    for the owner too, and after `release()` `Board.send_frame` continues where the owner stopped.
    (The claim also shares the receive sequence tracker, `rx_tracker`, but does not lock out
    `Board.receive_frame`.)"""

    def __init__(self, board: FrameIo, owner: str) -> None:
        self.board = board
        self.owner = owner
        """Who holds the claim (named in the errors of anyone else who tries to send)."""
        self._released = False

    @property
    def released(self) -> bool:
        """True after `release()`: the claim can no longer send."""
        return self._released

    def _check(self, what: str) -> None:
        if self._released:
            raise FrameStreamClaimed(f"{self.board.name}: {what} on a frame stream claim that "
                                     f"{self.owner} already released")

    @property
    def next_seq(self) -> int:
        """The sequence number the owner's next frame must carry (the device expects it next)."""
        return self.board.next_tx_seq

    @next_seq.setter
    def next_seq(self, value: int) -> None:
        self._check("setting next_seq")
        self.board._seq.next_tx = value & 0xFFFFFFFF

    @property
    def rx_tracker(self) -> SequenceTracker:
        """The Board's device-to-host sequence tracker, shared with the owner's capture side, so frames
        the owner received count for `Board.receive_frame` after it (no false gap); Board's own
        receive_frame stays allowed while the stream is claimed (books checks drain with it)."""
        return self.board._seq.rx

    @rx_tracker.setter
    def rx_tracker(self, tracker: SequenceTracker) -> None:
        self._check("setting rx_tracker")
        self.board._seq.rx = tracker

    def write_frame_bytes(self, data: bytes | bytearray | memoryview, timeout: int | None = None) -> None:
        """One bulk OUT transfer of a whole frame (header + payload) to EP_FRAME_OUT; pyusb errors are
        mapped as Board maps its own (TransferTimeout, TransferStalled, BoardGone, TransferError), and a
        short write is a DeviceResponseError. The host books are the owner's to keep."""
        self._check("write_frame_bytes")
        with self.board._tx_lock:
            self.board._write_frame_bytes(data, timeout)

    def read_frame_bytes_into(self, buffer: Any, timeout: int | None = None) -> int:
        """One bulk IN transfer from EP_FRAME_IN into `buffer` (an array pyusb fills in place); returns
        the bytes read, errors mapped as `write_frame_bytes`. Reading does not need the claim's
        sequence state; it is here so the owner's transfers all go through the Board."""
        self._check("read_frame_bytes_into")
        return self.board._read_frame_bytes_into(buffer, timeout)

    def release(self) -> None:
        """Give the stream back to the Board (`send_frame` works again, from `next_seq`); safe twice."""
        if not self._released:
            self._released = True
            self.board._release_frame_stream(self)

    def __repr__(self) -> str:
        state = "released" if self._released else f"next_seq {self.next_seq}"
        return f"<FrameStream of {self.board.name} owned by {self.owner}, {state}>"


class FrameIo(BoardControl):
    """Frame modes, frame I/O with sequence accounting, and the frame stream claim."""

    def __init__(self, device: usb.core.Device, *, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
        self._frame_stream: FrameStream | None = None
        self._partial: tuple[bytes, int | None] | None = None
        """(the frame's bytes, how many the board acknowledged, None when unknown) after a frame write
        timed out part-way: the board holds the start of that frame (protocol.md *Timed-out writes*)."""
        self.frames_used = False
        """True once this Board touched the frame endpoints or frame mode (so a books check drains them)."""
        super().__init__(device, timeout_ms=timeout_ms)

    def set_frame_mode(self, mode: c.FrameMode | int, *, payload_len: int = 0, count: int = 0,
                       interval_us: int = 0) -> None:
        """SET_FRAME_MODE; checked here against the board's max_payload. Restarts both sequences."""
        try:
            mode = c.FrameMode(mode)
        except ValueError:
            raise ValueError(f"set_frame_mode: {mode} is not a FrameMode "
                             f"({', '.join(m.name for m in c.FrameMode)})") from None
        limit = self.cached_info().max_payload
        if not 0 <= payload_len <= limit:
            raise ValueError(f"set_frame_mode: payload_len {payload_len} is not in 0..{limit} "
                             f"({self.name} max_payload)")
        if not 0 <= count < 2**32 or not 0 <= interval_us < 2**32:
            raise ValueError(f"set_frame_mode: count {count} / interval_us {interval_us} out of u32 range")
        self.frames_used = True
        config = FrameModeConfig(mode, payload_len, count, interval_us)
        self.control_out(c.Request.SET_FRAME_MODE, config.pack())
        self._partial = None  # the board drops a half-received frame on a mode change
        self.restart_sequences()

    def frame_mode(self) -> FrameModeConfig:
        """GET_FRAME_MODE, checked."""
        transfer = "control GET_FRAME_MODE (IN, endpoint 0x00)"
        raw = self.control_in(c.Request.GET_FRAME_MODE, c.FRAME_MODE_CONFIG.size)
        try:
            return FrameModeConfig.unpack(raw)
        except ModeConfigError as exc:
            raise self._fail(transfer, str(exc)) from None

    @property
    def next_tx_seq(self) -> int:
        """The sequence number the next frame to the device carries (`send_frame`'s, or the owner's of
        a claimed frame stream)."""
        return self._seq.next_tx

    def claim_frame_stream(self, owner: str = "a frame miniport") -> FrameStream:
        """Hand the host-to-device frame stream to `owner` (a miniport that numbers and sends frames
        itself) until the returned FrameStream is released. FrameStreamClaimed when someone holds it."""
        with self._tx_lock:
            if self._frame_stream is not None:
                raise FrameStreamClaimed(f"{self.name}: the frame stream is already claimed by "
                                         f"{self._frame_stream.owner}")
            self._frame_stream = FrameStream(self, owner)
            return self._frame_stream

    @property
    def frame_stream(self) -> FrameStream | None:
        """The current claim on the frame stream, or None when Board's own send_frame owns it."""
        return self._frame_stream

    def _release_frame_stream(self, stream: FrameStream) -> None:
        with self._tx_lock:
            if self._frame_stream is stream:
                self._frame_stream = None

    def _refuse_if_claimed(self, what: str) -> None:
        stream = self._frame_stream
        if stream is not None:
            raise FrameStreamClaimed(f"{self.name}: {what} while {stream.owner} owns the frame stream "
                                     f"(Board.claim_frame_stream); send through it, or release it first")

    def send_frame(self, payload: bytes, timeout: int | None = None) -> int:
        """Write one frame (header + payload) to EP_FRAME_OUT; returns the sequence number used."""
        limit = self.cached_info().max_payload
        if len(payload) > limit:
            raise ValueError(f"send_frame: payload of {len(payload)} bytes exceeds {self.name} "
                             f"max_payload {limit}")
        with self._tx_lock:
            self._refuse_if_claimed("send_frame")
            seq = self._seq.next_tx
            data = frames.encode(payload, seq=seq, flags=c.FrameFlag.FROM_HOST)
            self._write_frame_bytes(data, timeout)
            self._seq.next_tx = (seq + 1) & 0xFFFFFFFF
            self.host.frames_tx += 1
            self.host.frame_bytes_tx += len(payload)
            return seq

    def send_raw_frame(self, data: bytes, timeout: int | None = None, *, bad: str | None = None) -> None:
        """Write arbitrary bytes as one frame transfer (tests: corrupted frames). `bad` is "crc" or
        "header" when the frame is deliberately broken, so the host books count it there."""
        if bad not in (None, "crc", "header"):
            raise ValueError(f"send_raw_frame: bad={bad!r}; expected 'crc', 'header' or None")
        with self._tx_lock:
            self._refuse_if_claimed("send_raw_frame")
            self._write_frame_bytes(bytes(data), timeout)
        if bad == "crc":
            self.host.frames_tx_bad_crc += 1
        elif bad == "header":
            self.host.frames_tx_bad_header += 1

    def _write_frame_bytes(self, data: bytes | bytearray | memoryview, timeout: int | None = None) -> None:
        """One frame as one bulk transfer. A write that times out part-way leaves the start of the frame
        on the board: writing the same frame again sends only the rest (no byte twice, protocol.md
        *Timed-out writes*); any other frame is refused (PartialFrame) until it is finished or
        set_frame_mode drops it, since the board would take the new bytes as the old frame's rest."""
        self.frames_used = True
        transfer = f"bulk write to EP_FRAME_OUT 0x{c.EP_FRAME_OUT:02x}"
        frame = bytes(data)
        done = self._resume_from(frame)
        try:
            self._bulk_write(transfer, c.EP_FRAME_OUT, frame[done:], timeout)
        except TransferTimeout as exc:
            if exc.transferred is None:
                self._partial = (frame, None)
            elif done + exc.transferred:
                self._partial = (frame, done + exc.transferred)
            raise
        self._partial = None

    def _resume_from(self, frame: bytes) -> int:
        """Bytes of `frame` the board already holds (a retry after a partial write), 0 for a new frame;
        PartialFrame when another frame was left half-written or its state is unknown."""
        if self._partial is None:
            return 0
        held, acknowledged = self._partial
        if acknowledged is None:
            raise PartialFrame(f"{self.name}: a frame write timed out and the transport did not say how "
                               f"many bytes the board acknowledged, so the board may hold part of a "
                               f"frame; restart the frame stream with set_frame_mode()")
        if frame != held:
            seq = frames.seq_of(held)
            raise PartialFrame(f"{self.name}: the board holds the first {acknowledged} of {len(held)} bytes "
                               f"of frame seq {seq} (its write timed out); send that frame again to finish "
                               f"it, or drop it with set_frame_mode()")
        return acknowledged

    def _read_frame_bytes_into(self, buffer: Any, timeout: int | None = None) -> int:
        self.frames_used = True
        transfer = f"bulk read from EP_FRAME_IN 0x{c.EP_FRAME_IN:02x}"
        return int(self._call(transfer, lambda: self.device.read(
            c.EP_FRAME_IN, buffer, self._timeout(timeout))))

    def receive_frame(self, timeout: int | None = None) -> Frame:
        """Read one frame from EP_FRAME_IN, check header and CRC, and account its sequence number."""
        self.frames_used = True
        transfer = f"bulk read from EP_FRAME_IN 0x{c.EP_FRAME_IN:02x}"
        limit = self.cached_info().max_payload
        size = c.FRAME_HEADER.size + limit
        size += (-size) % c.BULK_PACKET_SIZE
        with self._rx_lock:
            data = bytes(self._call(transfer, lambda: self.device.read(
                c.EP_FRAME_IN, size, self._timeout(timeout))))
            try:
                frame = frames.decode(data)
            except frames.FrameError as exc:
                raise self._fail(transfer, str(exc)) from exc
            if frame.payload_len > limit:
                raise self._fail(transfer, f"payload_len {frame.payload_len} exceeds max_payload {limit}")
            if not self._seq.rx.check(frame.seq):
                self.host.rx_seq_gaps += 1
            self.host.frames_rx += 1
            self.host.frame_bytes_rx += frame.payload_len
            return frame

    def drain_frames(self, timeout: int = 100, limit: int = 10_000) -> list[Frame]:
        """Read frames until none arrives for `timeout` ms; DeviceResponseError past `limit` frames."""
        got: list[Frame] = []
        for _ in range(limit):
            try:
                got.append(self.receive_frame(timeout))
            except TransferTimeout:
                return got
        raise self._fail(f"draining EP_FRAME_IN 0x{c.EP_FRAME_IN:02x}", f"still sending after {limit} frames")

    @property
    def seq_gaps(self) -> list[tuple[int, int]]:
        """(expected, found) for every received frame that skipped ahead (repeats: `seq_repeats`)."""
        return list(self._seq.rx.gaps)

    @property
    def seq_repeats(self) -> list[int]:
        """Sequence numbers received again or going backwards."""
        return list(self._seq.rx.repeats)

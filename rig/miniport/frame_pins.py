"""The AVStream frame miniport: one pin per direction on the vendor bulk endpoints.

The device reports its framing (GET_FRAMING, a KSALLOCATOR_FRAMING_EX); each pin asks the graph
manager's rule (host.avstream.select_allocator) to choose between the default allocator and a vendor
common-buffer allocator, and keeps the decision and its reasons (`AllocatorChoice`) for the report.
Each pin is a host.avstream Pin whose process callback is the minidriver's. Render pin (EP_FRAME_OUT):
frames from the allocator are filled with a rig.contract.frame_wire header and payload, queued, and sent with
stream pointers: lock the leading edge, clone, program the hardware (pyusb write), advance, and on
transfer completion delete the clone, which completes the frame back to its allocator. Capture pin
(EP_FRAME_IN): empty allocator frames are queued; each receive() lets the process callback fill the
leading one with a pyusb read; it is validated (header, length, CRC, sequence) and handed to the
caller, who releases it back to the allocator. STOP flushes both queues (DataUsed = 0, CANCELLED).
At close every pool is full.
"""

from __future__ import annotations

import array
import contextlib
import dataclasses
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from host.avstream import (
    AllocatorDispatch,
    AllocatorError,
    AllocatorFramingEx,
    AllocatorInitError,
    CandidateVerdict,
    CommonBufferAllocator,
    Connection,
    Dataflow,
    DefaultAllocator,
    KsState,
    NtStatus,
    Pin,
    select_allocator,
)
from host.avstream import Frame as AllocatorFrame
from host.avstream.header import StreamFrame
from rig import contract as c
from rig.client.board import Board
from rig.client.errors import DeviceResponseError, TransferError, TransferTimeout
from rig.client.frame_io import FrameStream
from rig.client.releasing import Releasable
from rig.contract import frame_wire as wire
from rig.miniport import transfer
from rig.miniport.errors import DeviceGarbage, MiniportError, MiniportTimeout, PinStateError, PoolExhausted

HEADER_SIZE = wire.HEADER_SIZE

VendorFactory = Callable[[str, AllocatorFramingEx], AllocatorDispatch]
"""Builds the vendor allocator candidate for one pin from (pin name, the device's framing)."""


PinState = KsState
"""KSSTATE of a standard pin (host.avstream's); transitions go one step at a time."""


def common_buffer_for(pin: str, framing: AllocatorFramingEx) -> CommonBufferAllocator:
    """The default vendor candidate: a common buffer big enough for item 0's Frames frames of its
    largest size at its alignment (what a driver would AllocateCommonBuffer at start-device)."""
    item = framing.items[0]
    size = item.preferred_frame_size or 1
    unit = item.alignment_mask + 1
    stride = -(-size // unit) * unit
    frames = item.frames or 3
    return CommonBufferAllocator(stride * frames, max_frames=max(frames, 1), name=f"common-buffer {pin}")


@dataclass(frozen=True)
class AllocatorChoice:
    """What the graph manager decided for one pin, and why (for the caller and the run report)."""

    pin: str
    allocator: str
    is_default: bool
    reason: str
    frame_size: int
    frames: int
    candidates: tuple[CandidateVerdict, ...]
    fallback: str | None = None
    """Set when the chosen vendor allocator failed InitializeAllocator and the default took over."""

    def describe(self) -> str:
        """One line: which allocator, why, and each candidate's verdict."""
        verdicts = "; ".join(f"{v.name}: {'chosen' if v.chosen else 'accepted' if v.accepted else 'rejected'}"
                             f" ({v.reason})" for v in self.candidates)
        text = (f"{self.pin}: {self.allocator} ({self.frames} frames of {self.frame_size} bytes): "
                f"{self.reason}" + (f"; candidates: {verdicts}" if verdicts else ""))
        return text + (f"; fallback: {self.fallback}" if self.fallback else "")

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON reports."""
        out = dataclasses.asdict(self)
        out["candidates"] = [dataclasses.asdict(v) for v in self.candidates]
        return out


def negotiate(pin: object, pin_name: str, framing: AllocatorFramingEx, *, kernel_mode: bool = True,
              vendor: AllocatorDispatch | None = None) -> tuple[AllocatorDispatch, AllocatorChoice]:
    """Select and initialize an allocator for a pin from the device's framing. When the chosen vendor
    allocator fails InitializeAllocator the default allocator takes over (recorded in `fallback`)."""
    decision = select_allocator(Connection(framing, kernel_mode=kernel_mode), [vendor] if vendor else [])
    allocator = decision.allocator
    fallback = None
    try:
        decision.initialize(pin)
    except AllocatorInitError as exc:
        if decision.is_default:
            raise MiniportError(f"{pin_name}: the default allocator rejected the device's framing: {exc}") \
                from exc
        fallback = f"{allocator.name} failed InitializeAllocator ({exc}); using the default allocator"
        allocator = DefaultAllocator(name=f"default {pin_name}")
        allocator.initialize(pin, decision.allocator_framing)
    context = allocator.context
    assert context is not None
    choice = AllocatorChoice(pin_name, allocator.name, decision.is_default or fallback is not None,
                             decision.reason, context.frame_size, context.frames, decision.candidates,
                             fallback)
    return allocator, choice


@dataclass
class PinCounters:
    """The books of one pin."""

    submitted: int = 0
    """Frames queued on the pin."""
    completed: int = 0
    """Frames completed with data (sent, or received and validated)."""
    flushed: int = 0
    """Frames completed with DataUsed = 0 by STOP."""
    failed: int = 0
    """Transfers that failed (timeouts and errors; the frame stays queued for a retry or a flush)."""
    bad: int = 0
    """Received frames that failed validation (returned to the allocator, reported to the caller)."""
    bytes: int = 0
    """Payload bytes of completed frames."""
    seq_gaps: int = 0
    """Received frames whose sequence number was not the next one."""


class FramePin:
    """One host.avstream Pin on one vendor bulk endpoint: its allocator, state and books. Frames are
    the allocator's; the pin's process callback moves stream pointers over them."""

    direction = "?"

    def __init__(self, miniport: FrameMiniport, name: str, endpoint: int, allocator: AllocatorDispatch,
                 choice: AllocatorChoice, *, dataflow: Dataflow, free_on_complete: bool) -> None:
        self.miniport = miniport
        self.name = name
        self.endpoint = endpoint
        self.allocator = allocator
        self.choice = choice
        self.counters = PinCounters()
        self.pin = Pin(self._process, dataflow=dataflow, process_in_run_state_only=True,
                       free_on_complete=free_on_complete, stop_status=NtStatus.STATUS_CANCELLED,
                       on_complete=self._completed)
        self._timeout_ms = miniport.timeout_ms
        self._error: MiniportError | None = None

    @property
    def state(self) -> PinState:
        """The pin's KSSTATE."""
        return PinState(self.pin.state)

    @property
    def queued(self) -> int:
        """Frames queued on the pin and not yet completed."""
        return self.pin.queued

    @property
    def frame_size(self) -> int:
        """Bytes per allocator frame (header + largest payload this pin can carry)."""
        context = self.allocator.context
        return context.frame_size if context is not None else 0

    @property
    def max_payload(self) -> int:
        """Largest payload a frame of this pin holds (also bounded by the device's max_payload)."""
        return min(self.frame_size - HEADER_SIZE, self.miniport.info_max_payload)

    @property
    def where(self) -> str:
        """`board X pin render (EP_FRAME_OUT 0x02)` for messages."""
        return f"{self.miniport.board.name} pin {self.name} ({transfer.endpoint_name(self.endpoint)})"

    def set_state(self, target: PinState) -> None:
        """Walk to `target` one step at a time; STOP flushes the queue (frames complete with DataUsed 0
        and go back to the allocator); reaching RUN starts processing."""
        target = PinState(target)
        while self.state != target:
            step = PinState(self.state + (1 if target > self.state else -1))
            status = self.pin.set_state(step)
            if not status.is_success:  # pragma: no cover - no SetDeviceState callback refuses here
                raise PinStateError(f"{self.where}: {self.state.name} -> {step.name} refused: {status.name}")
        self._raise_error()

    def _process(self, pin: Pin) -> NtStatus:
        raise NotImplementedError

    def _completed(self, sf: StreamFrame) -> None:
        raise NotImplementedError

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _allocate(self) -> AllocatorFrame:
        frame = self.allocator.allocate()
        if frame is None:
            raise PoolExhausted(f"{self.where}: no free frame in {self.allocator.name} "
                                f"({self.allocator.frame_count} frames, {self.queued} queued on the pin)")
        return frame

    @property
    def pool_full(self) -> bool:
        """Every frame of the allocator is free (nothing queued, nothing held by the caller)."""
        return self.allocator.free_count == self.allocator.frame_count

    def books(self) -> list[str]:
        """Problems with this pin's books (empty when balanced)."""
        problems = []
        if not self.pool_full:
            problems.append(f"{self.where}: {self.allocator.name} has {self.allocator.counters.outstanding} "
                            f"of {self.allocator.frame_count} frames outstanding")
        return problems


class RenderPin(FramePin):
    """Host to device on EP_FRAME_OUT (a sink pin, Dataflow.IN): submitted frames go out in order while
    the pin runs; PAUSE holds them; STOP flushes them."""

    direction = "out"

    def __init__(self, miniport: FrameMiniport, allocator: AllocatorDispatch, choice: AllocatorChoice,
                 stream: FrameStream) -> None:
        super().__init__(miniport, "render", c.EP_FRAME_OUT, allocator, choice, dataflow=Dataflow.IN,
                         free_on_complete=True)
        self.stream = stream
        """The Board's frame stream, claimed by the miniport: next sequence number and the writes."""
        self._wire_seq: dict[int, int] = {}
        """StreamFrame seq -> the wire sequence number in its header."""

    @property
    def next_seq(self) -> int:
        """The wire sequence number the next submitted frame gets (the claimed stream's)."""
        return self.stream.next_seq

    @next_seq.setter
    def next_seq(self, value: int) -> None:
        self.stream.next_seq = value

    def submit(self, payload: bytes | bytearray | memoryview) -> int:
        """Fill a frame from the allocator with header + payload and queue it; sent now when the pin is
        in RUN (else when it gets there). Returns the frame's wire sequence number. A failed write
        raises (naming board and endpoint) and leaves the frame queued."""
        if self.state == PinState.STOP:
            raise PinStateError(f"{self.where}: submit while the pin is stopped")
        if len(payload) > self.max_payload:
            raise ValueError(f"{self.where}: payload of {len(payload)} bytes exceeds the pin's "
                             f"{self.max_payload}-byte maximum")
        frame = self._allocate()
        seq = self.next_seq
        data = wire.encode(payload, seq=seq, flags=c.FrameFlag.FROM_HOST)
        frame.buffer[:len(data)] = data
        self.next_seq = (seq + 1) & 0xFFFFFFFF
        self.counters.submitted += 1
        self._timeout_ms = self.miniport.timeout_ms
        sf = self.pin.submit(frame, data_used=len(data))  # processing starts here when the edge was free
        self._wire_seq[sf.seq] = seq
        self._raise_error()
        return seq

    def process(self, timeout_ms: int | None = None) -> int:
        """AttemptProcessing: send what is queued (e.g. after a timeout). Returns frames sent."""
        before = self.counters.completed
        self._timeout_ms = self.miniport.timeout_ms if timeout_ms is None else timeout_ms
        self.pin.attempt_processing()
        self._raise_error()
        return self.counters.completed - before

    def _process(self, pin: Pin) -> NtStatus:
        """Lock the leading edge, clone, program the hardware (pyusb write), advance the edge, and
        complete the transfer (delete the clone: the frame completes back to its allocator)."""
        edge = pin.get_leading_edge(locked=True)
        if edge is None:
            return NtStatus.STATUS_PENDING
        clone = edge.clone()
        data = clone.offset.data
        board = self.miniport.board
        frame = edge.frame
        wire_seq = self._wire_seq.get(frame.seq, -1) if frame is not None else -1
        try:
            self.stream.write_frame_bytes(data, self._timeout_ms)
        except (TransferError, DeviceResponseError) as exc:  # failed, or accepted only in part
            clone.delete()  # the edge keeps the frame: retried by process(), or flushed by STOP
            self.counters.failed += 1
            kind = MiniportTimeout if isinstance(exc, TransferTimeout) else MiniportError
            self._error = kind(f"{self.where}: frame seq {wire_seq} not sent ({exc}); {pin.queued} frame(s) "
                               f"still queued")
            self._error.__cause__ = exc
            return NtStatus.STATUS_PENDING
        moved = edge.advance()
        payload_len = len(data) - HEADER_SIZE
        board.host.frames_tx += 1
        board.host.frame_bytes_tx += payload_len
        self.counters.bytes += payload_len
        clone.delete()  # transfer complete
        return NtStatus.STATUS_SUCCESS if moved == NtStatus.STATUS_SUCCESS else NtStatus.STATUS_PENDING

    def _completed(self, sf: StreamFrame) -> None:
        seq = self._wire_seq.pop(sf.seq, -1)
        if sf.status == NtStatus.STATUS_SUCCESS and sf.header.data_used:
            self.counters.completed += 1
        elif sf.status == NtStatus.STATUS_CANCELLED:
            self.counters.flushed += 1
            # Flushed before it reached the wire: its sequence number was never used, so the next
            # frame takes it (the device sees no gap). Flushed frames complete oldest first.
            ahead = (self.next_seq - seq) & 0xFFFFFFFF
            if seq >= 0 and 0 < ahead < 0x80000000:
                self.next_seq = seq


class ReceivedFrame(Releasable):
    """A validated frame from the device, still in its allocator frame; `release()` gives it back."""

    __slots__ = ("_pin", "flags", "frame", "payload", "payload_crc", "rx_time_us", "seq", "tx_time_us")

    def __init__(self, pin: CapturePin, frame: AllocatorFrame, decoded: wire.Frame) -> None:
        self._pin: CapturePin | None = pin
        self.frame = frame
        """The allocator frame the bytes landed in."""
        self.seq = decoded.seq
        self.flags = decoded.flags
        self.payload = decoded.payload
        self.payload_crc = decoded.payload_crc
        self.rx_time_us = decoded.rx_time_us
        self.tx_time_us = decoded.tx_time_us

    @property
    def released(self) -> bool:
        """Whether the frame went back to its allocator (the payload view is then unusable)."""
        return self._pin is None

    def tobytes(self) -> bytes:
        """A copy of the payload."""
        if self._pin is None:
            raise PinStateError(f"frame seq {self.seq}: payload read after release()")
        return bytes(self.payload)

    def release(self) -> None:
        """Give the frame back to its allocator; safe to call twice."""
        pin, self._pin = self._pin, None
        if pin is not None:
            self.payload.release()
            pin._release(self)

    def __repr__(self) -> str:
        return f"<ReceivedFrame seq={self.seq} {len(self.payload)} payload bytes>"


class CapturePin(FramePin):
    """Device to host on EP_FRAME_IN (a source pin, Dataflow.OUT): empty allocator frames are queued;
    each receive() opens the process gate once, and the process callback fills the leading frame with
    one pyusb read. Completed frames are validated and held by the caller until released."""

    direction = "in"

    def __init__(self, miniport: FrameMiniport, allocator: AllocatorDispatch, choice: AllocatorChoice,
                 depth: int = 2) -> None:
        super().__init__(miniport, "capture", c.EP_FRAME_IN, allocator, choice, dataflow=Dataflow.OUT,
                         free_on_complete=False)
        self.pin.close_gate()
        self.depth = max(1, depth)
        # One packet more than the frame rounded up: a frame filling whole packets is ended by a ZLP,
        # and a read that asks for exactly its length would leave that ZLP for the next read.
        read_size = self.frame_size + (-self.frame_size) % c.BULK_PACKET_SIZE + c.BULK_PACKET_SIZE
        self._bounce = array.array("B", bytes(read_size))
        """The transfer buffer pyusb fills (it reads only into arrays); copied into the frame."""
        self._done: deque[ReceivedFrame] = deque()
        self._held: set[int] = set()
        self._reject: str | None = None

    @property
    def tracker(self) -> wire.SequenceTracker:
        """Sequence check of received frames: the Board's, through the claimed frame stream (so a
        `Board.receive_frame` after the miniport closes sees no false gap)."""
        return self.miniport.stream.rx_tracker

    @tracker.setter
    def tracker(self, value: wire.SequenceTracker) -> None:
        self.miniport.stream.rx_tracker = value

    def _prime(self) -> None:
        """Queue empty frames up to `depth` (as many as the pool allows)."""
        while self.pin.queued < self.depth:
            frame = self.allocator.allocate()
            if frame is None:
                return
            self.pin.submit(frame)
            self.counters.submitted += 1

    def receive(self, timeout_ms: int | None = None) -> ReceivedFrame:
        """The next validated frame from the device. Raises MiniportTimeout (nothing arrived),
        DeviceGarbage (the device sent a bad frame; it went back to the allocator) or PoolExhausted
        (the caller holds every frame)."""
        if self.state != PinState.RUN:
            raise PinStateError(f"{self.where}: receive while the pin is {self.state.name}")
        if self._done:
            return self._done.popleft()
        self._prime()
        if not self.pin.queued:
            raise PoolExhausted(f"{self.where}: no frame to read into: the caller holds "
                                f"{len(self._held)} of {self.allocator.frame_count} frames")
        self._timeout_ms = self.miniport.timeout_ms if timeout_ms is None else timeout_ms
        self.pin.open_gate()  # one process call: it closes the gate again
        self._prime()
        self._raise_error()
        if self._done:
            return self._done.popleft()
        raise MiniportError(f"{self.where}: processing produced no frame")  # pragma: no cover

    def _process(self, pin: Pin) -> NtStatus:
        """One transfer into the leading frame: lock, clone, read, advance, complete."""
        pin.close_gate()
        edge = pin.get_leading_edge(locked=True)
        if edge is None:  # pragma: no cover - receive() primes a frame first
            return NtStatus.STATUS_PENDING
        clone = edge.clone()
        try:
            count = self.miniport.stream.read_frame_bytes_into(self._bounce, self._timeout_ms)
        except TransferError as exc:
            clone.delete()  # the empty frame stays at the leading edge for the next receive
            self.counters.failed += 1
            kind = MiniportTimeout if isinstance(exc, TransferTimeout) else MiniportError
            self._error = kind(f"{self.where}: no frame received ({exc})")
            self._error.__cause__ = exc
            return NtStatus.STATUS_PENDING
        target = clone.offset.data
        if count > len(target):
            self._reject = (f"the device sent a {count}-byte transfer, longer than the {len(target)}-byte "
                            f"frame")
        else:
            target[:count] = memoryview(self._bounce)[:count]
            clone.header.data_used = count
        edge.advance()
        clone.delete()  # completion: validated and handed on in _completed
        return NtStatus.STATUS_PENDING

    def _completed(self, sf: StreamFrame) -> None:
        frame = sf.frame
        assert frame is not None
        reject, self._reject = self._reject, None
        if sf.status == NtStatus.STATUS_CANCELLED:  # flushed by STOP
            self.counters.flushed += 1
            self.allocator.free(frame)
            return
        board = self.miniport.board
        try:
            if reject is not None:
                raise wire.LengthMismatch(reject)
            decoded = wire.decode(sf.data)
            if decoded.payload_len > self.miniport.info_max_payload:
                raise wire.LengthMismatch(f"payload_len {decoded.payload_len} exceeds max_payload "
                                          f"{self.miniport.info_max_payload}")
        except wire.FrameError as exc:
            self.counters.bad += 1
            self.allocator.free(frame)
            self._error = DeviceGarbage(f"{self.where}: bad frame from the device: {exc}")
            return
        if not self.tracker.check(decoded.seq):
            self.counters.seq_gaps += 1
            board.host.rx_seq_gaps += 1
        board.host.frames_rx += 1
        board.host.frame_bytes_rx += decoded.payload_len
        self.counters.completed += 1
        self.counters.bytes += decoded.payload_len
        received = ReceivedFrame(self, frame, decoded)
        self._held.add(id(received))
        self._done.append(received)

    def _release(self, received: ReceivedFrame) -> None:
        self._held.discard(id(received))
        self.allocator.free(received.frame)

    @property
    def held(self) -> int:
        """Frames received and not yet released by the caller."""
        return len(self._held)

    def set_state(self, target: PinState) -> None:
        """As FramePin.set_state; entering STOP also returns frames completed but not yet taken."""
        super().set_state(target)
        if self.state == PinState.STOP:
            while self._done:
                self._done.popleft().release()


@dataclass(frozen=True)
class Echoed:
    """A frame that came back, copied out of its (released) allocator frame."""

    seq: int
    flags: c.FrameFlag
    payload: bytes
    rx_time_us: int
    tx_time_us: int


@dataclass
class MiniportReport:
    """The frame miniport's facts for a run report."""

    board: str
    choices: list[AllocatorChoice] = field(default_factory=list)
    counters: dict[str, PinCounters] = field(default_factory=dict)


class FrameMiniport:
    """Both frame pins of one board. Use as a context manager: connect() on entry, close() on exit."""

    def __init__(self, board: Board, *, kernel_mode: bool = True,
                 vendor: VendorFactory | None = common_buffer_for, timeout_ms: int | None = None,
                 capture_depth: int = 2) -> None:
        self.board = board
        self.kernel_mode = kernel_mode
        self.vendor = vendor
        self.timeout_ms = board.timeout_ms if timeout_ms is None else timeout_ms
        self.capture_depth = capture_depth
        self.framing: AllocatorFramingEx | None = None
        self._render: RenderPin | None = None
        self._capture: CapturePin | None = None
        self._stream: FrameStream | None = None
        self.info_max_payload = 0

    # --- connection ---

    def connect(self) -> None:
        """Read GET_INFO and GET_FRAMING, claim the Board's frame stream (so `Board.send_frame` refuses
        until close) and negotiate an allocator per pin; pins start in STOP."""
        if self._render is not None:
            return
        info = self.board.cached_info()
        if c.Capability.FRAMES not in info.capabilities:
            raise MiniportError(f"{self.board.name}: the board reports no FRAMES capability")
        self.info_max_payload = info.max_payload
        try:
            self.framing = AllocatorFramingEx.from_bytes(self.board.framing_bytes())
        except ValueError as exc:
            raise DeviceGarbage(f"{self.board.name}: GET_FRAMING: {exc}") from exc
        stream = self.board.claim_frame_stream(f"the frame miniport of {self.board.name}")
        pins: list[tuple[AllocatorDispatch, AllocatorChoice]] = []
        try:
            for name in ("render", "capture"):
                vendor = self.vendor(name, self.framing) if self.vendor is not None else None
                pins.append(negotiate(self, name, self.framing, kernel_mode=self.kernel_mode, vendor=vendor))
        except BaseException:
            for allocator, _ in pins:
                allocator.delete()
            stream.release()
            raise
        self._stream = stream
        self._render = RenderPin(self, *pins[0], stream=stream)
        self._capture = CapturePin(self, *pins[1], depth=self.capture_depth)

    @property
    def stream(self) -> FrameStream:
        """The Board's frame stream while connected (claimed at connect, released at close)."""
        if self._stream is None:
            raise PinStateError(f"{self.board.name}: frame miniport not connected")
        return self._stream

    @property
    def render(self) -> RenderPin:
        """The EP_FRAME_OUT pin (connect() first)."""
        if self._render is None:
            raise PinStateError(f"{self.board.name}: frame miniport not connected")
        return self._render

    @property
    def capture(self) -> CapturePin:
        """The EP_FRAME_IN pin (connect() first)."""
        if self._capture is None:
            raise PinStateError(f"{self.board.name}: frame miniport not connected")
        return self._capture

    @property
    def pins(self) -> tuple[RenderPin, CapturePin]:
        """(render, capture)."""
        return self.render, self.capture

    @property
    def choices(self) -> tuple[AllocatorChoice, AllocatorChoice]:
        """The allocator decision of each pin, with its reasons."""
        return self.render.choice, self.capture.choice

    def set_state(self, state: PinState) -> None:
        """Move both pins (capture first when starting, render first when stopping)."""
        order: Iterable[FramePin] = (self.capture, self.render) if state > self.render.state \
            else (self.render, self.capture)
        for pin in order:
            pin.set_state(state)

    def run(self) -> None:
        """Both pins to RUN."""
        self.set_state(PinState.RUN)

    def stop(self) -> None:
        """Both pins to STOP: queued frames are flushed back to their allocators."""
        self.set_state(PinState.STOP)

    def restart_sequences(self) -> None:
        """Sequence numbers from 0 in both directions (after SET_FRAME_MODE or RESET_STATS)."""
        self.render.next_seq = 0
        self.capture.tracker = wire.SequenceTracker()

    # --- convenience ---

    def send(self, payload: bytes | bytearray | memoryview) -> int:
        """render.submit."""
        return self.render.submit(payload)

    def receive(self, timeout_ms: int | None = None) -> ReceivedFrame:
        """capture.receive."""
        return self.capture.receive(timeout_ms)

    def roundtrip(self, payloads: Iterable[bytes | bytearray | memoryview], *, window: int | None = None,
                  timeout_ms: int | None = None) -> list[Echoed]:
        """ECHO mode: send every payload and receive as many frames, keeping at most `window` frames in
        flight (default: the render pool, bounded by the device's ring); each received frame is copied
        out and released at once, so both pools are full again when this returns."""
        limit = window or min(self.render.allocator.frame_count, self.board.cached_info().ring_slots)
        received: list[Echoed] = []
        in_flight = 0

        def take() -> None:
            with self.receive(timeout_ms) as frame:
                received.append(Echoed(frame.seq, frame.flags, frame.tobytes(), frame.rx_time_us,
                                       frame.tx_time_us))

        for payload in payloads:
            if in_flight >= limit:
                take()
                in_flight -= 1
            self.send(payload)
            in_flight += 1
        while in_flight:
            take()
            in_flight -= 1
        return received

    # --- books ---

    def books(self) -> list[str]:
        """Every pool that is not full, and every frame the caller still holds (empty: balanced)."""
        problems: list[str] = []
        for pin in (self._render, self._capture):
            if pin is not None:
                problems += pin.books()
        return problems

    def report(self) -> MiniportReport:
        """Allocator decisions and pin counters."""
        out = MiniportReport(self.board.name)
        for pin in (self._render, self._capture):
            if pin is not None:
                out.choices.append(pin.choice)
                out.counters[pin.name] = dataclasses.replace(pin.counters)
        return out

    def close(self) -> None:
        """STOP both pins, delete the allocators and release the Board's frame stream; raises
        MiniportError naming any frame still held (after deleting and releasing everything)."""
        if self._render is None or self._capture is None:
            return
        self.stop()
        problems = self.books()
        errors: list[str] = []
        for pin in (self._render, self._capture):
            try:
                pin.allocator.delete()
            except AllocatorError as exc:
                errors.append(str(exc))
        self._render = self._capture = None
        if self._stream is not None:
            self._stream.release()  # Board.send_frame works again, from the next sequence number
            self._stream = None
        if problems or errors:
            raise MiniportError(f"{self.board.name}: frame miniport closed with its books unbalanced: "
                                + "; ".join(problems + errors))

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
            return
        with contextlib.suppress(MiniportError):  # the original exception says more
            self.close()


__all__ = ["AllocatorChoice", "CapturePin", "Echoed", "FrameMiniport", "FramePin", "MiniportReport",
           "PinCounters", "PinState", "ReceivedFrame", "RenderPin", "common_buffer_for", "negotiate"]

"""The loopback's vendor function, as firmware/src/vendor.c: every vendor request, the frame
interface's endpoints (EP_FRAME_OUT / EP_FRAME_IN), the frame ring with its backpressure (a full ring
NAKs EP_FRAME_OUT: writes time out, nothing is dropped) and the frame SOURCE thread.
"""

from __future__ import annotations

import struct
import threading
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from rig import contract as c
from rig.contract import descriptors
from rig.contract import frame_wire as frames
from rig.contract.modes import FrameModeConfig, MidiModeConfig, ModeConfigError
from rig.loopback import midi
from rig.loopback.usbd import (
    AfterStatus,
    BoardCore,
    InTransfer,
    NoClassRequests,
    Stall,
    overflow,
    wait_to_take,
)

CLOCK_HZ = 125_000_000
"""GET_INFO clock_hz: the RP2040's usual system clock."""
SLOT_SIZE = frames.HEADER_SIZE + c.FRAME_MAX_PAYLOAD
CAPABILITIES = (c.Capability.MIDI | c.Capability.FRAMES | c.Capability.CONSOLE | c.Capability.BOOTLOADER
                | c.Capability.TIMESTAMPS)
"""The loopback moves frames without DMA, so it does not claim Capability.DMA."""
SOURCE_THREAD = "frame source"


class VendorFunction(NoClassRequests):
    """The vendor interface and the vendor requests to the device: an entry of the usbd class table
    (the frame endpoints) and its vendor handler."""

    itf_first = c.IF_VENDOR
    itf_count = 1
    endpoints: tuple[int, ...] = (c.EP_FRAME_OUT, c.EP_FRAME_IN)

    def __init__(self, core: BoardCore, unique_id: bytes, midi_function: midi.MidiFunction,
                 reboot: Callable[[], None]) -> None:
        self._core = core
        self._unique_id = unique_id
        self._midi = midi_function
        self._reboot = reboot
        self.config = FrameModeConfig(c.FrameMode.ECHO)
        self.ring: deque[InTransfer] = deque()
        self.rx_seq = 0
        self.tx_seq = 0
        self.rx = bytearray()
        """The packets of the frame being received (a frame may span transfers, as on the wire)."""

    def power_on(self) -> None:
        """ECHO, an empty ring, sequences at 0."""
        self.config = FrameModeConfig(c.FrameMode.ECHO)
        self.ring = deque()
        self.rx_seq = self.tx_seq = 0
        self.rx = bytearray()

    # --- the class table entry ---------------------------------------------------------------

    def reset(self, was_configured: bool) -> None:
        """The ring emptied, both sequences at 0, SOURCE stopped (it starts again at open)."""
        self.ring.clear()
        self.rx_seq = self.tx_seq = 0
        self.rx = bytearray()
        self._core.cancel(SOURCE_THREAD)
        self._core.cv.notify_all()

    def open(self) -> None:
        """SOURCE starts again from its first frame."""
        if self.config.mode is c.FrameMode.SOURCE:
            config = self.config
            self._core.start(SOURCE_THREAD, lambda stop: self._source(config, stop))


    # --- vendor requests to the device (usbd's vendor handler) -------------------------------

    def vendor_in(self, bm: int, req: int, value: int, index: int) -> bytes:
        """A vendor IN request: its reply, or Stall."""
        if bm != c.VENDOR_REQUEST_TYPE_IN:
            raise Stall(f"vendor IN request with bmRequestType 0x{bm:02x}")
        if value or index:
            raise Stall(f"vendor request 0x{req:02x}: wValue {value} and wIndex {index} must be 0")
        if req == c.Request.GET_INFO:
            major, minor, patch = c.FIRMWARE_VERSION
            return c.INFO.pack(contract_version=c.CONTRACT_VERSION, fw_major=major, fw_minor=minor,
                               fw_patch=patch, midi_cables=c.MIDI_CABLES, ring_slots=c.FRAME_RING_SLOTS,
                               capabilities=int(CAPABILITIES), max_payload=c.FRAME_MAX_PAYLOAD,
                               clock_hz=CLOCK_HZ, unique_id=self._unique_id)
        if req == c.Request.GET_FRAMING:
            try:
                return descriptors.framing_ex()
            except (ImportError, AttributeError) as exc:
                raise Stall(f"GET_FRAMING unavailable: {exc}") from None
        if req == c.Request.GET_MIDI_MODE:
            return self._midi.config.pack()
        if req == c.Request.GET_FRAME_MODE:
            return self.config.pack()
        if req == c.Request.GET_TIME:
            return c.TIME.pack(time_us=self._core.clock.now_us())
        if req == c.Request.GET_STATS:
            return c.STATS.pack(**{k: v & 0xFFFFFFFF for k, v in self._core.counters.items()})
        raise Stall(f"no vendor IN request 0x{req:02x}")

    def vendor_out(self, bm: int, req: int, value: int, index: int, data: bytes) -> AfterStatus | None:
        """A vendor OUT request with its data stage, or Stall; mode changes run after the status stage."""
        if bm != c.VENDOR_REQUEST_TYPE_OUT:
            raise Stall(f"vendor OUT request with bmRequestType 0x{bm:02x}")
        if value or index:
            raise Stall(f"vendor request 0x{req:02x}: wValue {value} and wIndex {index} must be 0")
        if req == c.Request.SET_MIDI_MODE:
            config = _mode_config(req, data, c.MIDI_MODE_CONFIG, _midi_mode_to_set)
            return lambda: self._midi.set_mode(config, log=True)
        if req == c.Request.SET_FRAME_MODE:
            frame_config = _mode_config(req, data, c.FRAME_MODE_CONFIG, FrameModeConfig.unpack)
            return lambda: self.set_mode(frame_config, log=True)
        if data:
            raise Stall(f"vendor request 0x{req:02x} takes no data, got {len(data)} bytes")
        if req == c.Request.RESET_STATS:
            stats = self._core.counters
            for name in stats:
                stats[name] = 0
            self.rx_seq = self.tx_seq = 0
            return None
        if req == c.Request.REBOOT_BOOTLOADER:
            return self._reboot
        raise Stall(f"no vendor OUT request 0x{req:02x}")

    def set_mode(self, config: FrameModeConfig, *, log: bool = False) -> None:
        """SET_FRAME_MODE after its status stage: stop SOURCE, empty the ring, start SOURCE; no lock."""
        core = self._core
        core.stop_source(SOURCE_THREAD)
        with core.cv:
            self.config = config
            if log:
                core.log("frame_mode", int(config.mode))
            self.ring.clear()
            self.rx_seq = self.tx_seq = 0
            self.rx = bytearray()  # a frame half received under the old mode is dropped
            core.cv.notify_all()
            if config.mode is c.FrameMode.SOURCE and core.configured:
                core.start(SOURCE_THREAD, lambda stop: self._source(config, stop))

    # --- endpoints ---------------------------------------------------------------------------

    def write(self, data: bytes, deadline: float | None) -> None:
        """EP_FRAME_OUT: the transfer's packets as the firmware receives them. A frame ends with a short
        packet, or with the full packet that completes the length its header gives (libusb sends no
        ZLP after a transfer that fills its last packet), so a longer transfer's remaining packets
        start the next frame. In ECHO each packet waits for a free ring slot (NAK: a write times out
        and nothing is dropped). A zero-length transfer is an empty one and is ignored."""
        packets = [data[i:i + c.BULK_PACKET_SIZE] for i in range(0, len(data), c.BULK_PACKET_SIZE)] or [b""]
        for index, packet in enumerate(packets):
            if self.config.mode is c.FrameMode.ECHO:
                wait_to_take(self._core, self._slot_free, deadline, "EP_FRAME_OUT (ring full)",
                             index * c.BULK_PACKET_SIZE)
            self.rx += packet
            if len(packet) < c.BULK_PACKET_SIZE or self._rx_complete():
                received, self.rx = bytes(self.rx), bytearray()
                if received:
                    self._finish(received)

    def _slot_free(self) -> bool:
        return len(self.ring) < c.FRAME_RING_SLOTS

    def _rx_complete(self) -> bool:
        """The frame being received has all the bytes its (good) header announces."""
        if len(self.rx) < frames.HEADER_SIZE or len(self.rx) > SLOT_SIZE:
            return False
        header = c.FRAME_HEADER.unpack(bytes(self.rx[:frames.HEADER_SIZE]))
        return (header["magic"] == c.FRAME_MAGIC and header["header_len"] == frames.HEADER_SIZE
                and len(self.rx) == frames.HEADER_SIZE + int(header["payload_len"]))

    def _finish(self, data: bytes) -> None:
        """One received frame: checked and counted in every mode, echoed in ECHO."""
        core = self._core
        stats = core.counters
        mode = self.config.mode
        rx_time = core.clock.now_us()
        try:
            if len(data) > SLOT_SIZE:
                raise frames.LengthMismatch(f"{len(data)} bytes do not fit a ring slot")
            frame = frames.decode(data)
        except frames.BadCrc:
            stats["frames_bad_crc"] += 1
            core.log("frame_bad_crc", struct.unpack_from("<I", data, 8)[0])
            return
        except frames.FrameError:
            stats["frames_bad_header"] += 1
            core.log("frame_bad_header", len(data))
            return
        stats["frames_rx"] += 1
        stats["frame_bytes_rx"] += frame.payload_len
        if frame.seq != self.rx_seq:
            stats["frames_seq_gap"] += 1
            core.log("frame_seq_gap", frame.seq, self.rx_seq)
        self.rx_seq = (frame.seq + 1) & 0xFFFFFFFF
        if mode is not c.FrameMode.ECHO:
            return
        out = bytearray(data)
        frames.restamp(out, self.tx_seq, c.FrameFlag.ECHOED, rx_time, core.clock.now_us())
        self.tx_seq = (self.tx_seq + 1) & 0xFFFFFFFF
        self._queue(out, frame.payload_len)
        if len(self.ring) >= c.FRAME_RING_SLOTS:
            stats["ring_full_naks"] += 1
            core.log("ring_full", len(self.ring))

    def _queue(self, data: bytearray, payload_len: int) -> None:
        self.ring.append(InTransfer(data, payload_len))
        stats = self._core.counters
        stats["ring_high_water"] = max(stats["ring_high_water"], len(self.ring))
        self._core.cv.notify_all()

    def read(self, length: int, deadline: float | None) -> bytes:
        """EP_FRAME_IN: the next packets of the frame at the ring's head; waits for one."""
        core = self._core
        core.wait(lambda: bool(self.ring), deadline, "EP_FRAME_IN")
        head = self.ring[0]
        chunk, done, overflowed = head.take(length)
        if done:
            self.ring.popleft()
            core.counters["frames_tx"] += 1
            core.counters["frame_bytes_tx"] += head.payload_len
        core.cv.notify_all()
        if overflowed:
            raise overflow(length)
        return chunk

    def _source(self, config: FrameModeConfig, stop: threading.Event) -> None:
        core = self._core
        start = core.clock.now_us()
        sent = 0
        while not stop.is_set() and (config.count == 0 or sent < config.count):
            if config.interval_us and not core.clock.wait_until(start + sent * config.interval_us, stop):
                return
            with core.cv:
                while len(self.ring) >= c.FRAME_RING_SLOTS and not stop.is_set() and not core.closed:
                    core.cv.wait(0.5)
                if stop.is_set() or core.closed:
                    return
                # As vendor.c's source_fill: every frame that is due, while the ring has room, in one
                # go (the host reads none in between, so ring_high_water is the firmware's).
                while ((config.count == 0 or sent < config.count) and len(self.ring) < c.FRAME_RING_SLOTS
                       and (not config.interval_us
                            or core.clock.now_us() >= start + sent * config.interval_us)):
                    seq = self.tx_seq
                    self.tx_seq = (seq + 1) & 0xFFFFFFFF
                    data = bytearray(frames.encode(frames.source_payload(seq, config.payload_len), seq,
                                                   c.FrameFlag.SOURCED, 0, core.clock.now_us()))
                    self._queue(data, config.payload_len)
                    sent += 1


_Config = TypeVar("_Config", MidiModeConfig, FrameModeConfig)


def _midi_mode_to_set(data: bytes) -> MidiModeConfig:
    """SET_MIDI_MODE's configuration: its fields in range, and a SOURCE rate the board can keep."""
    config = MidiModeConfig.unpack(data)
    config.check_source_rate()
    return config


def _mode_config(req: int, data: bytes, layout: c.Layout, unpack: Callable[[bytes], _Config]) -> _Config:
    """A SET_*_MODE data stage checked field by field (Stall names the bad one)."""
    name = c.Request(req).name
    if len(data) != layout.size:
        raise Stall(f"{name} needs {layout.size} bytes, got {len(data)}")
    try:
        return unpack(data)
    except ModeConfigError as exc:
        raise Stall(f"{name}: {exc}") from None


__all__ = ["CAPABILITIES", "CLOCK_HZ", "SLOT_SIZE", "VendorFunction"]

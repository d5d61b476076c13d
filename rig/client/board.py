"""The host-side client of the board's contract: vendor requests, raw USB-MIDI and frame I/O.

`Board` wraps any `usb.core.Device` (libusb, the loopback backend or the emulator backend), so the
same calls drive every target. Every response is checked against `rig.contract`; every failure is
an exception naming the board, the transfer and what was wrong.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import struct
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from types import TracebackType
from typing import Any, Self, TypeVar

import usb.core
import usb.util

from host.avstream import framing as ks_framing
from rig import contract as c
from rig.contract import frame_wire as frames
from rig.contract.frame_wire import Frame, SequenceTracker
from rig.errors import RigError

DEFAULT_TIMEOUT_MS = 1000
"""Control transfers and, unless told otherwise, bulk transfers wait this long."""

FRAMING_HEADER_SIZE = ks_framing.HEADER_SIZE
"""KSALLOCATOR_FRAMING_EX up to FramingItem (from host.avstream.framing, the C layout's one model)."""
FRAMING_ITEM_SIZE = ks_framing.ITEM_SIZE
"""sizeof(KS_FRAMING_ITEM)."""

MIDI_PACKET_SIZE = 4
"""A USB-MIDI 1.0 event packet: cable/CIN byte and three MIDI bytes."""


# --- exceptions -------------------------------------------------------------------------------


class DeviceResponseError(RigError, ValueError):
    """The board answered, but the answer breaks the contract (length or field values)."""


class TransferError(RigError, OSError):
    """A USB transfer to or from the board failed; the message names board, transfer and cause."""


class TransferTimeout(TransferError, TimeoutError):
    """A transfer did not complete in time (bulk OUT: the device kept NAKing)."""


class TransferStalled(TransferError):
    """The board answered a transfer with STALL."""


class BoardGone(TransferError, ConnectionError):
    """The board is no longer there (unplugged, rebooted, emulator exited)."""


def map_usb_error(board_name: str, transfer: str, exc: usb.core.USBError) -> TransferError:
    """The rig exception for a pyusb error on `transfer` (timeout, stall, device gone or other), naming
    the board and the transfer; the one mapping Board and the miniports share."""
    code = exc.errno
    if isinstance(exc, usb.core.USBTimeoutError) or code == errno.ETIMEDOUT:
        return TransferTimeout(f"{board_name}: {transfer}: timed out")
    if code == errno.EPIPE:
        return TransferStalled(f"{board_name}: {transfer}: stalled")
    if code in (errno.ENODEV, errno.ESHUTDOWN) or "no such device" in str(exc).lower():
        return BoardGone(f"{board_name}: {transfer}: the device is gone ({exc})")
    return TransferError(f"{board_name}: {transfer}: {exc}")


class FrameStreamClaimed(RigError, RuntimeError):
    """The host-to-device frame stream is owned by someone else (a miniport's `claim_frame_stream`), or
    a released claim was used; the message names the board and the owner."""


# --- decoded responses -------------------------------------------------------------------------


@dataclass(frozen=True)
class Info:
    """GET_INFO, decoded and checked."""

    contract_version: int
    firmware_version: tuple[int, int, int]
    midi_cables: int
    ring_slots: int
    capabilities: c.Capability
    max_payload: int
    clock_hz: int
    unique_id: bytes

    @property
    def unique_id_hex(self) -> str:
        """The unique ID as iSerialNumber spells it: upper-case hex, most significant byte first."""
        return self.unique_id.hex().upper()

    @property
    def firmware(self) -> str:
        """Firmware version as `major.minor.patch`."""
        return ".".join(str(part) for part in self.firmware_version)


@dataclass(frozen=True)
class MidiModeConfig:
    """SET_MIDI_MODE / GET_MIDI_MODE contents."""

    mode: c.MidiMode
    transpose: int = 0
    rate_hz: int = 0
    count: int = 0
    cable: int = 0


@dataclass(frozen=True)
class FrameModeConfig:
    """SET_FRAME_MODE / GET_FRAME_MODE contents."""

    mode: c.FrameMode
    payload_len: int = 0
    count: int = 0
    interval_us: int = 0


class Stats(Mapping[str, int]):
    """GET_STATS: every counter of `contract.STATS`, by name (`stats["frames_rx"]` or `stats.frames_rx`)."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, int]) -> None:
        missing = [name for name in c.STATS.names if name not in values]
        extra = [name for name in values if name not in c.STATS.names]
        if missing or extra:
            raise ValueError(f"stats: missing {missing}, unknown {extra}")
        self._values = {name: int(values[name]) for name in c.STATS.names}

    def __getitem__(self, name: str) -> int:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> int:
        try:
            return self._values[name]
        except (KeyError, AttributeError):
            raise AttributeError(f"Stats has no counter {name!r}") from None

    def __repr__(self) -> str:
        return "Stats(" + ", ".join(f"{k}={v}" for k, v in self._values.items()) + ")"

    def nonzero(self) -> dict[str, int]:
        """Only the counters that are not zero (what a report shows)."""
        return {name: value for name, value in self._values.items() if value}


@dataclass
class HostCounters:
    """What the host did and saw since the last `reset_stats`, to compare with the device's Stats."""

    midi_packets_tx: int = 0
    """USB-MIDI event packets written (CIN 0 padding excluded, as the device counts)."""
    midi_packets_rx: int = 0
    """USB-MIDI event packets read (CIN 0 padding excluded)."""
    frames_tx: int = 0
    """Good frames written."""
    frame_bytes_tx: int = 0
    """Payload bytes in good frames written."""
    frames_tx_bad_crc: int = 0
    """Frames written with a deliberately wrong payload CRC."""
    frames_tx_bad_header: int = 0
    """Frames written with a deliberately broken header."""
    frames_rx: int = 0
    """Frames read and accepted."""
    frame_bytes_rx: int = 0
    """Payload bytes in frames read."""
    rx_seq_gaps: int = 0
    """Frames read whose sequence number was not the one expected."""
    control_stalls: int = 0
    """Control requests the board answered with STALL, as seen through this Board."""


@dataclass
class _SeqState:
    next_tx: int = 0
    rx: SequenceTracker = field(default_factory=SequenceTracker)


class MidiOwner(enum.Enum):
    """Who reads and writes the board's MIDI streaming interface (one side at a time, as on a real host)."""

    UNDECIDED = "undecided"
    """Nothing decided yet: an OS driver bound to the interface keeps it until this Board needs it."""
    HOST = "host"
    """This Board claimed the interface (OS driver detached): raw USB-MIDI on EP_MIDI_OUT/EP_MIDI_IN."""
    OS = "os"
    """Left to the OS MIDI driver on purpose (`leave_midi_to_os`): MIDI goes through the OS ports."""


_T = TypeVar("_T")


def _check_enum(enum_type: Callable[[int], _T], value: int, what: str) -> _T:
    try:
        return enum_type(value)
    except ValueError:
        raise DeviceResponseError(f"{what}: {value} is not a valid value") from None


# --- the frame stream a miniport owns ----------------------------------------------------------


class FrameStream:
    """A claim on one Board's host-to-device frame stream (`Board.claim_frame_stream`), for a miniport
    that numbers and sends frames itself: it owns the next TX sequence number and writes frame bytes
    with the Board's error mapping. While it is held, `Board.send_frame` and `Board.send_raw_frame`
    refuse (FrameStreamClaimed), so mixing them with the miniport is an error, not a sequence gap.

    The sequence numbers are the Board's own state: SET_FRAME_MODE and RESET_STATS restart them at 0
    for the owner too, and after `release()` `Board.send_frame` continues where the owner stopped.
    (The claim also shares the receive sequence tracker, `rx_tracker`, but does not lock out
    `Board.receive_frame`.)"""

    def __init__(self, board: Board, owner: str) -> None:
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "released" if self._released else f"next_seq {self.next_seq}"
        return f"<FrameStream of {self.board.name} owned by {self.owner}, {state}>"


# --- the client --------------------------------------------------------------------------------


class Board:
    """One board (or loopback/emulated board) reached through pyusb; the contract's host side."""

    def __init__(self, device: usb.core.Device, *, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
        self.device = device
        self.timeout_ms = timeout_ms
        self.host = HostCounters()
        self._seq = _SeqState()
        self._tx_lock = threading.Lock()
        """Serialises senders (sequence numbers); a reader thread never waits for a blocked writer."""
        self._rx_lock = threading.Lock()
        """Serialises readers (sequence tracking)."""
        self._serial: str | None = None
        self._info: Info | None = None
        self._detached: list[int] = []
        self._midi_owner = MidiOwner.UNDECIDED
        self._frame_stream: FrameStream | None = None
        self.frames_used = False
        """True once this Board touched the frame endpoints or frame mode (so a books check drains them)."""
        self.midi_used = False
        """True once this Board did raw USB-MIDI I/O or set a MIDI mode."""
        self._ensure_configured()

    # --- identity and error mapping ---

    @property
    def serial_number(self) -> str:
        """iSerialNumber (the board's unique ID as hex), read once; a placeholder if unreadable."""
        if self._serial is None:
            try:
                serial = self.device.serial_number
            except (usb.core.USBError, ValueError, NotImplementedError):
                serial = None
            self._serial = str(serial) if serial else f"bus {self.device.bus} address {self.device.address}"
        return self._serial

    @property
    def name(self) -> str:
        """How messages name this board."""
        return f"board {self.serial_number}"

    def __repr__(self) -> str:
        return f"<Board {self.serial_number}>"

    def _fail(self, transfer: str, problem: str) -> DeviceResponseError:
        return DeviceResponseError(f"{self.name}: {transfer}: {problem}")

    def _call(self, transfer: str, fn: Callable[[], _T]) -> _T:
        try:
            return fn()
        except usb.core.USBError as exc:
            mapped = map_usb_error(self.name, transfer, exc)
            if isinstance(mapped, TransferStalled) and transfer.startswith("control"):
                self.host.control_stalls += 1
            raise mapped from exc

    def _ensure_configured(self) -> None:
        try:
            self.device.get_active_configuration()
        except usb.core.USBError:
            self._call("SET_CONFIGURATION", lambda: self.device.set_configuration(c.CONFIG_VALUE))

    # --- control requests ---

    def control_in(self, request: c.Request, length: int, *, w_value: int = 0) -> bytes:
        """A vendor IN request returning exactly `length` bytes (fewer or more is a DeviceResponseError)."""
        transfer = f"control {request.name} (IN, endpoint 0x00)"
        data = self._call(transfer, lambda: self.device.ctrl_transfer(
            c.VENDOR_REQUEST_TYPE_IN, int(request), w_value, 0, length, self.timeout_ms))
        raw = bytes(data)
        if len(raw) != length:
            raise self._fail(transfer, f"expected {length} bytes, got {len(raw)}")
        return raw

    def control_out(self, request: c.Request, data: bytes = b"", *, w_value: int = 0) -> None:
        """A vendor OUT request with an optional data stage; all of it must be accepted."""
        transfer = f"control {request.name} (OUT, endpoint 0x00)"
        sent = self._call(transfer, lambda: self.device.ctrl_transfer(
            c.VENDOR_REQUEST_TYPE_OUT, int(request), w_value, 0, data or None, self.timeout_ms))
        if int(sent) != len(data):
            raise self._fail(transfer, f"accepted {sent} of {len(data)} data bytes")

    def raw_control(self, bm_request_type: int, b_request: int, w_value: int = 0, w_index: int = 0,
                    data_or_length: bytes | int | None = None, timeout: int | None = None) -> bytes | int:
        """Any control transfer, unchecked but with errors mapped and STALLs counted in the host's books
        (conformance tests send malformed requests through this)."""
        transfer = f"control 0x{b_request:02x} (bmRequestType 0x{bm_request_type:02x}, endpoint 0x00)"
        result = self._call(transfer, lambda: self.device.ctrl_transfer(
            bm_request_type, b_request, w_value, w_index, data_or_length, self._timeout(timeout)))
        return result if isinstance(result, int) else bytes(result)

    def _layout_in(self, request: c.Request, layout: c.Layout) -> dict[str, int | bytes]:
        return layout.unpack(self.control_in(request, layout.size))

    def info(self) -> Info:
        """GET_INFO, checked: contract version, capability bits, frame limits, unique ID."""
        transfer = "control GET_INFO (IN, endpoint 0x00)"
        raw = self._layout_in(c.Request.GET_INFO, c.INFO)
        values = {k: v for k, v in raw.items() if isinstance(v, int)}
        if values["contract_version"] != c.CONTRACT_VERSION:
            raise self._fail(transfer, f"contract_version {values['contract_version']}, "
                                       f"this host speaks {c.CONTRACT_VERSION}")
        known = 0
        for flag in c.Capability:
            known |= int(flag)
        if values["capabilities"] & ~known:
            raise self._fail(transfer, f"capabilities 0x{values['capabilities']:x} has unknown bits "
                                       f"0x{values['capabilities'] & ~known:x}")
        caps = c.Capability(values["capabilities"])
        if not 1 <= values["midi_cables"] <= 16:
            raise self._fail(transfer, f"midi_cables {values['midi_cables']} is not in 1..16")
        if c.Capability.FRAMES in caps:
            if not 0 < values["max_payload"] <= c.FRAME_MAX_PAYLOAD:
                raise self._fail(transfer, f"max_payload {values['max_payload']} is not in "
                                           f"1..{c.FRAME_MAX_PAYLOAD}")
            if values["ring_slots"] < 1:
                raise self._fail(transfer, "ring_slots is 0 on a board with frames")
        if values["clock_hz"] == 0:
            raise self._fail(transfer, "clock_hz is 0")
        unique_id = raw["unique_id"]
        assert isinstance(unique_id, bytes)
        info = Info(
            contract_version=values["contract_version"],
            firmware_version=(values["fw_major"], values["fw_minor"], values["fw_patch"]),
            midi_cables=values["midi_cables"],
            ring_slots=values["ring_slots"],
            capabilities=caps,
            max_payload=values["max_payload"],
            clock_hz=values["clock_hz"],
            unique_id=unique_id,
        )
        self._info = info
        return info

    def cached_info(self) -> Info:
        """GET_INFO once per Board (the answer does not change while the board runs)."""
        return self._info if self._info is not None else self.info()

    def framing_bytes(self) -> bytes:
        """GET_FRAMING: the KSALLOCATOR_FRAMING_EX bytes (one item) describing the frame ring."""
        size = FRAMING_HEADER_SIZE + FRAMING_ITEM_SIZE
        raw = self.control_in(c.Request.GET_FRAMING, size)
        (count,) = struct.unpack_from("<I", raw, 0)
        if count != 1:
            raise self._fail("control GET_FRAMING (IN, endpoint 0x00)", f"CountItems {count}, expected 1")
        return raw

    def framing(self) -> ks_framing.AllocatorFramingEx:
        """GET_FRAMING parsed and validated by the host's AVStream framing model."""
        raw = self.framing_bytes()
        try:
            return ks_framing.AllocatorFramingEx.from_bytes(raw)
        except ValueError as exc:
            raise self._fail("control GET_FRAMING (IN, endpoint 0x00)", str(exc)) from exc

    def set_midi_mode(self, mode: c.MidiMode | int, *, transpose: int = 0, rate_hz: int = 0,
                      count: int = 0, cable: int = 0) -> None:
        """SET_MIDI_MODE; arguments are checked here so a typo is a ValueError, not a STALL."""
        try:
            mode = c.MidiMode(mode)
        except ValueError:
            raise ValueError(f"set_midi_mode: {mode} is not a MidiMode "
                             f"({', '.join(m.name for m in c.MidiMode)})") from None
        if not -128 <= transpose <= 127:
            raise ValueError(f"set_midi_mode: transpose {transpose} is not in -128..127")
        cables = self.cached_info().midi_cables
        if not 0 <= cable < cables:
            raise ValueError(f"set_midi_mode: cable {cable} is not in 0..{cables - 1} ({self.name} has "
                             f"{cables} cable(s))")
        if mode is c.MidiMode.SOURCE and not 1 <= rate_hz <= 100_000:
            raise ValueError(f"set_midi_mode: SOURCE needs rate_hz in 1..100000, got {rate_hz}")
        if not 0 <= count < 2**32 or not 0 <= rate_hz < 2**32:
            raise ValueError(f"set_midi_mode: count {count} / rate_hz {rate_hz} out of u32 range")
        self.midi_used = True
        if mode is c.MidiMode.SOURCE and self._midi_owner is not MidiOwner.OS:
            # SOURCE makes the device send at once: whoever holds the MIDI interface gets the notes,
            # so take it before the request, not at the first read.
            self.claim_midi()
        self.control_out(c.Request.SET_MIDI_MODE, c.MIDI_MODE_CONFIG.pack(
            mode=int(mode), cable=cable, transpose=transpose, rate_hz=rate_hz, count=count))

    def midi_mode(self) -> MidiModeConfig:
        """GET_MIDI_MODE, checked."""
        transfer = "control GET_MIDI_MODE (IN, endpoint 0x00)"
        raw = self._layout_in(c.Request.GET_MIDI_MODE, c.MIDI_MODE_CONFIG)
        v = {k: int(x) for k, x in raw.items() if isinstance(x, int)}
        mode = _check_enum(c.MidiMode, v["mode"], f"{self.name}: {transfer}: mode")
        if v["reserved"]:
            raise self._fail(transfer, f"reserved is {v['reserved']}, expected 0")
        if v["cable"] >= self.cached_info().midi_cables:
            raise self._fail(transfer, f"cable {v['cable']} is not below midi_cables "
                                       f"{self.cached_info().midi_cables}")
        return MidiModeConfig(mode, transpose=v["transpose"], rate_hz=v["rate_hz"], count=v["count"],
                              cable=v["cable"])

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
        self.control_out(c.Request.SET_FRAME_MODE, c.FRAME_MODE_CONFIG.pack(
            mode=int(mode), payload_len=payload_len, count=count, interval_us=interval_us))
        self.restart_sequences()

    def frame_mode(self) -> FrameModeConfig:
        """GET_FRAME_MODE, checked."""
        transfer = "control GET_FRAME_MODE (IN, endpoint 0x00)"
        raw = self._layout_in(c.Request.GET_FRAME_MODE, c.FRAME_MODE_CONFIG)
        v = {k: int(x) for k, x in raw.items() if isinstance(x, int)}
        mode = _check_enum(c.FrameMode, v["mode"], f"{self.name}: {transfer}: mode")
        if v["reserved0"] or v["reserved1"]:
            raise self._fail(transfer, "reserved fields are not 0")
        if v["payload_len"] > c.FRAME_MAX_PAYLOAD:
            raise self._fail(transfer, f"payload_len {v['payload_len']} exceeds {c.FRAME_MAX_PAYLOAD}")
        return FrameModeConfig(mode, payload_len=v["payload_len"], count=v["count"],
                               interval_us=v["interval_us"])

    def time_us(self) -> int:
        """GET_TIME: device microseconds since boot."""
        value = self._layout_in(c.Request.GET_TIME, c.TIME)["time_us"]
        assert isinstance(value, int)
        return value

    def stats(self) -> Stats:
        """GET_STATS: every device counter."""
        raw = self._layout_in(c.Request.GET_STATS, c.STATS)
        return Stats({k: v for k, v in raw.items() if isinstance(v, int)})

    def reset_stats(self) -> None:
        """RESET_STATS (which also restarts the device's frame sequences at 0), and zero the host's own
        counters and sequences so the two books start together."""
        self.control_out(c.Request.RESET_STATS)
        self.host = HostCounters()
        self.restart_sequences()

    def reboot_bootloader(self) -> None:
        """REBOOT_BOOTLOADER: the board drops off the bus and comes back as the RP2040 ROM bootloader."""
        self.control_out(c.Request.REBOOT_BOOTLOADER)

    # --- raw USB-MIDI ---

    @property
    def midi_owner(self) -> MidiOwner:
        """Who holds the MIDI streaming interface as far as this Board decided (see `claim_midi`)."""
        return self._midi_owner

    def claim_midi(self) -> None:
        """Take the MIDI streaming interface for raw USB-MIDI: detach the OS MIDI driver from it (as
        snd-usb-audio binds a real board's; the loopback's OS ports bind the same way) and claim it.

        Called for you before SET_MIDI_MODE(SOURCE) and before the first raw MIDI read or write, so the
        device's MIDI output reaches EP_MIDI_IN and not the OS ports; safe to call again. Raises
        TransferError naming the interface when the interface cannot be claimed."""
        self.midi_used = True
        if self._midi_owner is MidiOwner.HOST:
            return
        interface = c.IF_MIDI_STREAMING
        try:
            active = bool(self.device.is_kernel_driver_active(interface))
        except (NotImplementedError, usb.core.USBError):
            active = False  # a backend without OS drivers (or one that cannot tell): nothing to detach
        if active:
            self._call(f"detaching the OS driver from MIDI streaming interface {interface}",
                       lambda: self.device.detach_kernel_driver(interface))
            if interface not in self._detached:
                self._detached.append(interface)
        self._call(f"claiming MIDI streaming interface {interface}",
                   lambda: usb.util.claim_interface(self.device, interface))
        self._midi_owner = MidiOwner.HOST

    def leave_midi_to_os(self) -> None:
        """Give the MIDI streaming interface to the OS MIDI driver on purpose (tests through OS ports):
        release it, re-attach the driver this Board detached, and let SET_MIDI_MODE(SOURCE) no longer
        claim it. A later raw MIDI read or write (or `claim_midi`) takes it back. `unbalanced` then
        leaves EP_MIDI_IN to the OS side instead of draining it."""
        interface = c.IF_MIDI_STREAMING
        if self._midi_owner is MidiOwner.HOST:
            with contextlib.suppress(usb.core.USBError, NotImplementedError):
                usb.util.release_interface(self.device, interface)
        if interface in self._detached:
            self._call(f"re-attaching the OS driver to MIDI streaming interface {interface}",
                       lambda: self.device.attach_kernel_driver(interface))
            self._detached.remove(interface)
        self._midi_owner = MidiOwner.OS

    @staticmethod
    def _count_events(data: bytes) -> int:
        return sum(1 for i in range(0, len(data), MIDI_PACKET_SIZE) if data[i] & 0x0F)

    def write_midi_packets(self, data: bytes, timeout: int | None = None) -> int:
        """Write whole USB-MIDI event packets to EP_MIDI_OUT; returns packets written."""
        if len(data) % MIDI_PACKET_SIZE:
            raise ValueError(f"write_midi_packets: {len(data)} bytes is not a whole number of "
                             f"{MIDI_PACKET_SIZE}-byte packets")
        self.claim_midi()
        transfer = f"bulk write to EP_MIDI_OUT 0x{c.EP_MIDI_OUT:02x}"
        sent = int(self._call(transfer, lambda: self.device.write(
            c.EP_MIDI_OUT, bytes(data), self._timeout(timeout))))
        if sent != len(data):
            raise self._fail(transfer, f"accepted {sent} of {len(data)} bytes")
        self.host.midi_packets_tx += self._count_events(bytes(data))
        return len(data) // MIDI_PACKET_SIZE

    def read_midi_packets(self, timeout: int | None = None) -> bytes:
        """One bulk read from EP_MIDI_IN: whole event packets (CIN 0 padding included as received)."""
        self.claim_midi()
        transfer = f"bulk read from EP_MIDI_IN 0x{c.EP_MIDI_IN:02x}"
        data = bytes(self._call(transfer, lambda: self.device.read(
            c.EP_MIDI_IN, c.BULK_PACKET_SIZE, self._timeout(timeout))))
        if len(data) % MIDI_PACKET_SIZE:
            raise self._fail(transfer, f"{len(data)} bytes is not a whole number of packets")
        for i in range(0, len(data), MIDI_PACKET_SIZE):
            cable = data[i] >> 4
            if cable >= self.cached_info().midi_cables:
                raise self._fail(transfer, f"packet {i // MIDI_PACKET_SIZE} names cable {cable}, "
                                           f"the board has {self.cached_info().midi_cables}")
        self.host.midi_packets_rx += self._count_events(data)
        return data

    # --- frames ---

    def _timeout(self, timeout: int | None) -> int:
        return self.timeout_ms if timeout is None else timeout

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

    def restart_sequences(self) -> None:
        """Start both frame sequences at 0 again (after SET_FRAME_MODE, RESET_STATS or a bus reset)."""
        self._seq = _SeqState()

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
        self.frames_used = True
        transfer = f"bulk write to EP_FRAME_OUT 0x{c.EP_FRAME_OUT:02x}"
        sent = int(self._call(transfer, lambda: self.device.write(
            c.EP_FRAME_OUT, data, self._timeout(timeout))))
        if sent != len(data):
            raise self._fail(transfer, f"accepted {sent} of {len(data)} bytes")

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

    def drain_midi(self, timeout: int = 100, limit: int = 10_000) -> bytes:
        """Read MIDI packets until none arrives for `timeout` ms; DeviceResponseError past `limit` reads."""
        got = bytearray()
        for _ in range(limit):
            try:
                got += self.read_midi_packets(timeout)
            except TransferTimeout:
                return bytes(got)
        raise self._fail(f"draining EP_MIDI_IN 0x{c.EP_MIDI_IN:02x}", f"still sending after {limit} reads")

    @property
    def seq_gaps(self) -> list[tuple[int, int]]:
        """(expected, found) for every received frame that skipped ahead (repeats: `seq_repeats`)."""
        return list(self._seq.rx.gaps)

    @property
    def seq_repeats(self) -> list[int]:
        """Sequence numbers received again or going backwards."""
        return list(self._seq.rx.repeats)

    # --- books ---

    def unbalanced(self, stats: Stats | None = None, *, drain_ms: int = 0) -> list[str]:
        """Every way device counters disagree with the host's since `reset_stats` (empty: balanced).

        With `drain_ms`, first read whatever the device still has queued on the endpoints this Board
        used; anything found is itself a problem (the test left data behind), then counted as read."""
        problems: list[str] = []
        if drain_ms and self.frames_used:
            left = self.drain_frames(drain_ms)
            if left:
                problems.append(f"{len(left)} frame(s) still queued on EP_FRAME_IN at the end "
                                f"(seq {left[0].seq}..{left[-1].seq})")
        if drain_ms and self.midi_used and self._midi_owner is not MidiOwner.OS:
            left_midi = self.drain_midi(drain_ms)
            if left_midi:
                problems.append(f"{len(left_midi) // MIDI_PACKET_SIZE} MIDI packet(s) still queued on "
                                f"EP_MIDI_IN at the end")
        return problems + books_problems(stats if stats is not None else self.stats(), self.host)

    def close(self) -> None:
        """Give back the interfaces pyusb claimed and any OS driver detached for raw MIDI."""
        with contextlib.suppress(usb.core.USBError, NotImplementedError):
            usb.util.dispose_resources(self.device)
        for interface in self._detached:
            with contextlib.suppress(usb.core.USBError, NotImplementedError):
                self.device.attach_kernel_driver(interface)
        self._detached.clear()
        self._midi_owner = MidiOwner.UNDECIDED


def books_problems(stats: Mapping[str, int], host: HostCounters) -> list[str]:
    """Compare device counters with host counters; each disagreement is one line naming both."""
    pairs: list[tuple[str, int, str, int]] = [
        ("midi_rx_packets", stats["midi_rx_packets"], "host midi_packets_tx", host.midi_packets_tx),
        ("midi_tx_packets", stats["midi_tx_packets"], "host midi_packets_rx", host.midi_packets_rx),
        ("frames_rx", stats["frames_rx"], "host frames_tx", host.frames_tx),
        ("frame_bytes_rx", stats["frame_bytes_rx"], "host frame_bytes_tx", host.frame_bytes_tx),
        ("frames_tx", stats["frames_tx"], "host frames_rx", host.frames_rx),
        ("frame_bytes_tx", stats["frame_bytes_tx"], "host frame_bytes_rx", host.frame_bytes_rx),
        ("frames_bad_crc", stats["frames_bad_crc"], "host frames_tx_bad_crc", host.frames_tx_bad_crc),
        ("frames_bad_header", stats["frames_bad_header"], "host frames_tx_bad_header",
         host.frames_tx_bad_header),
        ("frames_seq_gap", stats["frames_seq_gap"], "expected", 0),
        ("midi_rx_bad", stats["midi_rx_bad"], "expected", 0),
        ("control_stalls", stats["control_stalls"], "host control_stalls", host.control_stalls),
    ]
    problems = [f"device {dev_name}={dev} but {host_name}={value}"
                for dev_name, dev, host_name, value in pairs if dev != value]
    if host.rx_seq_gaps:
        problems.append(f"host saw {host.rx_seq_gaps} out-of-sequence frame(s) from the device")
    return problems


def host_counters_dict(host: HostCounters) -> dict[str, Any]:
    """HostCounters as a plain dict (reports)."""
    return {f.name: getattr(host, f.name) for f in fields(host)}

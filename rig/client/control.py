"""The control side of a board: identity, error mapping, vendor control requests, GET_INFO,
GET_FRAMING, GET_TIME, GET_STATS and RESET_STATS. The MIDI and frame sides build on it."""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import usb.core

from host.avstream import framing as ks_framing
from rig import contract as c
from rig.client.books import HostCounters
from rig.client.errors import DeviceResponseError, TransferStalled, TransferTimeout, map_usb_error
from rig.client.responses import Info, Stats
from rig.contract.frame_wire import SequenceTracker

DEFAULT_TIMEOUT_MS = 1000
"""Control transfers and, unless told otherwise, bulk transfers wait this long."""

FRAMING_HEADER_SIZE = ks_framing.HEADER_SIZE
"""KSALLOCATOR_FRAMING_EX up to FramingItem (from host.avstream.framing, the C layout's one model)."""
FRAMING_ITEM_SIZE = ks_framing.ITEM_SIZE
"""sizeof(KS_FRAMING_ITEM)."""

_T = TypeVar("_T")


def libusb1_counts(device: usb.core.Device) -> bool:
    """True when `device` is reached through pyusb's libusb-1.0 backend (seen through a capture's
    recording backend), whose timed-out write raises only when it acknowledged nothing."""
    backend = device._ctx.backend
    while hasattr(backend, "inner"):
        backend = backend.inner
    return type(backend).__module__ == "usb.backend.libusb1"


@dataclass
class SeqState:
    """Both frame sequences: the next number to send, and the tracker of numbers received."""

    next_tx: int = 0
    rx: SequenceTracker = field(default_factory=SequenceTracker)


class BoardControl:
    """One board reached through pyusb: its identity, vendor control requests and the host's books."""

    def __init__(self, device: usb.core.Device, *, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
        self.device = device
        self.timeout_ms = timeout_ms
        self.host = HostCounters()
        self._seq = SeqState()
        self._tx_lock = threading.Lock()
        """Serialises senders (sequence numbers); a reader thread never waits for a blocked writer."""
        self._rx_lock = threading.Lock()
        """Serialises readers (sequence tracking)."""
        self._serial: str | None = None
        self._info: Info | None = None
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

    def _bulk_write(self, transfer: str, endpoint: int, data: bytes, timeout: int | None) -> None:
        """One bulk OUT transfer of all of `data`, or TransferTimeout saying how many bytes the device
        acknowledged (protocol.md *Timed-out writes*). pyusb over libusb-1.0 reports a write cut by its
        timeout as a short count, and raises only when nothing was acknowledged; a rig link raises with
        `transferred`; any other backend leaves it unknown (None)."""
        try:
            ms = self._timeout(timeout)
            sent = int(self._call(transfer, lambda: self.device.write(endpoint, data, ms)))
        except TransferTimeout as exc:
            if exc.transferred is not None or not libusb1_counts(self.device):
                raise
            nothing = TransferTimeout(f"{exc} with 0 bytes acknowledged")
            nothing.transferred = 0
            raise nothing from exc
        if sent != len(data):
            cut = TransferTimeout(f"{self.name}: {transfer}: timed out after {sent} byte(s) acknowledged "
                                  f"(delivered) of {len(data)}")
            cut.transferred = sent
            raise cut

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
    def _timeout(self, timeout: int | None) -> int:
        return self.timeout_ms if timeout is None else timeout

    def restart_sequences(self) -> None:
        """Start both frame sequences at 0 again (after SET_FRAME_MODE, RESET_STATS or a bus reset)."""
        self._seq = SeqState()

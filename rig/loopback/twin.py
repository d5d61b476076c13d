"""LoopbackBoard: the firmware's whole contract in Python, reached as a `UsbLink`.

Standard and class control requests, every vendor request, the MIDI and frame modes, the frame
ring with backpressure (a full ring NAKs EP_FRAME_OUT: writes time out, nothing is dropped), every
Stats counter, a microsecond clock, and the console on a pty and on the CDC endpoints.
One condition variable guards all state; SOURCE modes run in their own threads; close() joins them.
"""

from __future__ import annotations

import errno
import os
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from rig import contract as c
from rig.contract import descriptors
from rig.contract import frame_wire as frames
from rig.links.usb_link import LinkGone, LinkStall, LinkTimeout, UsbLinkError
from rig.loopback import midi
from rig.loopback.cdc import ConsoleSession, PtyConsole
from rig.loopback.clock import Clock, MonotonicClock

MIDI_IN_CAPACITY = 256
"""Event packets the EP_MIDI_IN queue holds before EP_MIDI_OUT is NAKed (ECHO/TRANSFORM)."""
CLOCK_HZ = 125_000_000
"""GET_INFO clock_hz: the RP2040's usual system clock."""
SLOT_SIZE = frames.HEADER_SIZE + c.FRAME_MAX_PAYLOAD
CAPABILITIES = (c.Capability.MIDI | c.Capability.FRAMES | c.Capability.CONSOLE | c.Capability.BOOTLOADER
                | c.Capability.TIMESTAMPS)
"""The loopback moves frames without DMA, so it does not claim Capability.DMA."""
DEFAULT_UNIQUE_ID = bytes.fromhex("4C4F4F504241434B")  # "LOOPBACK"
LINE_CODING = struct.Struct("<IBBB")
CDC_QUEUE_BYTES = 2048
"""Console output the board holds for a host that does not read (the firmware's CDC queue)."""

# Standard requests (USB 2.0 table 9-4) and features.
GET_STATUS, CLEAR_FEATURE, SET_FEATURE, SET_ADDRESS = 0, 1, 3, 5
GET_DESCRIPTOR, SET_DESCRIPTOR, GET_CONFIGURATION, SET_CONFIGURATION = 6, 7, 8, 9
GET_INTERFACE, SET_INTERFACE = 10, 11
ENDPOINT_HALT = 0
# CDC PSTN requests.
CDC_SET_LINE_CODING, CDC_GET_LINE_CODING, CDC_SET_CONTROL_LINE_STATE = 0x20, 0x21, 0x22

_ENDPOINTS = (c.EP_MIDI_OUT, c.EP_MIDI_IN, c.EP_FRAME_OUT, c.EP_FRAME_IN, c.EP_CDC_NOTIFY, c.EP_CDC_OUT,
              c.EP_CDC_IN)


class OsDriver(Protocol):
    """What the board asks of the OS driver bound to its MIDI interfaces (rig.os_midi.class_driver)."""

    def active_on(self, interface: int) -> bool:
        """True while the driver holds `interface`."""
        ...

    def detach(self, interface: int) -> None:
        """Unbind from `interface`; raises UsbLinkError (ENOENT) when not bound."""
        ...

    def attach(self, interface: int) -> None:
        """Bind `interface` again; raises UsbLinkError (EBUSY) when already bound."""
        ...


class _Stall(Exception):
    """Raised inside request handlers; becomes LinkStall after the stall is counted."""


@dataclass
class _FrameConfig:
    mode: c.FrameMode = c.FrameMode.ECHO
    payload_len: int = 0
    count: int = 0
    interval_us: int = 0

    def pack(self) -> bytes:
        return c.FRAME_MODE_CONFIG.pack(mode=int(self.mode), payload_len=self.payload_len, count=self.count,
                                        interval_us=self.interval_us)


class _InTransfer:
    """One queued IN transfer and how much of it the host has read (USB packet semantics)."""

    __slots__ = ("data", "payload_len", "pos")

    def __init__(self, data: bytes | bytearray, payload_len: int = 0) -> None:
        self.data = data
        self.pos = 0
        self.payload_len = payload_len

    def take(self, length: int) -> tuple[bytes, bool]:
        """Up to `length` bytes for one read, and whether the transfer is now complete. A transfer
        whose length is a multiple of the packet size ends with a ZLP the host must also read."""
        remaining = len(self.data) - self.pos
        if remaining == 0:
            return b"", True
        if length >= remaining:
            chunk = bytes(self.data[self.pos:])
            self.pos = len(self.data)
            zlp_left = length == remaining and len(self.data) % c.BULK_PACKET_SIZE == 0
            return chunk, not zlp_left
        n = length - length % c.BULK_PACKET_SIZE
        if n == 0:
            raise UsbLinkError(errno.EOVERFLOW, f"read of {length} bytes is shorter than the "
                                                f"{c.BULK_PACKET_SIZE}-byte packet the device sends")
        chunk = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return chunk, False


class LoopbackBoard:
    """The software board. Construct, use as a `UsbLink` (or through `rig.links.pyusb_backend`), close()."""

    def __init__(self, unique_id: bytes = DEFAULT_UNIQUE_ID, clock: Clock | None = None, *,
                 console_pty: bool = True) -> None:
        descriptors.serial_number(unique_id)  # validates the length
        self.unique_id = bytes(unique_id)
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self._cv = threading.Condition()
        self._closed = False
        self._stats = dict.fromkeys(c.STATS.names, 0)
        self.reboots = 0
        """Reboots into BOOTSEL requested (REBOOT_BOOTLOADER or the 1200-baud touch)."""
        self._threads: list[tuple[threading.Thread, threading.Event]] = []
        self._os_driver: OsDriver | None = None
        """The OS driver bound to the MIDI interfaces (the rig class driver), as the kernel knows it."""
        self._power_on_state()
        self._cdc_in: deque[_InTransfer] = deque()
        self._cdc_session = ConsoleSession(self, self._cdc_write)
        self._console: PtyConsole | None = PtyConsole(self, self._touch) if console_pty else None

    def _power_on_state(self) -> None:
        self._configuration = 0
        self._address = 0
        self._halted: set[int] = set()
        self._midi_config = midi.MidiConfig()
        self._midi_in: deque[bytes] = deque()
        self._frame_config = _FrameConfig()
        self._ring: deque[_InTransfer] = deque()
        self._frame_rx_seq = 0
        self._frame_tx_seq = 0
        self._line_coding = LINE_CODING.pack(115200, 0, 0, 8)
        self._control_line_state = 0

    # --- properties tests and targets use -----------------------------------------------------

    @property
    def serial_number(self) -> str:
        """The iSerialNumber text."""
        return descriptors.serial_number(self.unique_id)

    @property
    def console_path(self) -> str:
        """The pty path pyserial opens."""
        if self._console is None:
            raise LinkGone("this loopback board was made without a console pty")
        return self._console.path

    def stats(self) -> dict[str, int]:
        """A copy of every counter (what GET_STATS would report)."""
        with self._cv:
            return dict(self._stats)

    @property
    def os_midi_attached(self) -> bool:
        """True while an OS driver (the rig class driver) is attached to the MIDI interfaces."""
        return self._os_driver is not None

    # --- UsbLink --------------------------------------------------------------------------------

    def control(self, bm_request_type: int, b_request: int, w_value: int, w_index: int,
                data_or_length: bytes | int, timeout_ms: int) -> bytes | int:
        """Handle one SETUP (and its data stage): IN data, OUT byte count, or LinkStall."""
        device_to_host = bool(bm_request_type & 0x80)
        if device_to_host != isinstance(data_or_length, int):
            raise TypeError("control: IN requests take a length, OUT requests take bytes")
        after: Callable[[], None] | None = None
        with self._cv:
            self._check_open()
            self._stats["control_requests"] += 1
            try:
                if device_to_host:
                    assert isinstance(data_or_length, int)
                    return self._control_in(bm_request_type, b_request, w_value, w_index)[:data_or_length]
                assert not isinstance(data_or_length, int)
                data = bytes(data_or_length)
                after = self._control_out(bm_request_type, b_request, w_value, w_index, data)
                return len(data)
            except _Stall as exc:
                self._stats["control_stalls"] += 1
                self._log("stall", bm_request_type, b_request)
                raise LinkStall(f"STALL: {exc}") from None
            finally:
                self._cv.notify_all()
                if after is not None:
                    self._cv.release()
                    try:
                        after()
                    finally:
                        self._cv.acquire()

    def write(self, endpoint: int, data: bytes, timeout_ms: int) -> int:
        """Bulk OUT on EP_MIDI_OUT, EP_FRAME_OUT or EP_CDC_OUT."""
        deadline = _deadline(timeout_ms)
        with self._cv:
            self._check_endpoint(endpoint, out=True)
            if endpoint == c.EP_MIDI_OUT:
                self._midi_write(memoryview(bytes(data)), deadline)
            elif endpoint == c.EP_FRAME_OUT:
                self._frame_write(bytes(data), deadline)
            else:
                self._cdc_session.feed(bytes(data))
            return len(data)

    def read(self, endpoint: int, length: int, timeout_ms: int) -> bytes:
        """Bulk/interrupt IN; waits up to `timeout_ms` for data, then LinkTimeout."""
        deadline = _deadline(timeout_ms)
        with self._cv:
            self._check_endpoint(endpoint, out=False)
            if endpoint == c.EP_MIDI_IN:
                return self._midi_read(length, deadline)
            if endpoint == c.EP_FRAME_IN:
                return self._frame_read(length, deadline)
            if endpoint == c.EP_CDC_IN:
                return self._queue_read(self._cdc_in, length, deadline, "EP_CDC_IN")
            self._wait(lambda: False, deadline, "EP_CDC_NOTIFY")  # the board sends no notifications
            raise AssertionError("unreachable")

    def clear_halt(self, endpoint: int) -> None:
        """CLEAR_FEATURE(ENDPOINT_HALT), as libusb_clear_halt sends it."""
        self.control(0x02, CLEAR_FEATURE, ENDPOINT_HALT, endpoint, b"", 1000)

    def reset(self) -> None:
        """Bus reset: unconfigured, halts cleared, pending IN transfers dropped, sequences at 0."""
        with self._cv:
            self._check_open()
            self._stats["usb_resets"] += 1
            self._configuration = 0
            self._address = 0
            self._halted.clear()
            self._midi_in.clear()
            self._ring.clear()
            self._cdc_in.clear()
            self._frame_rx_seq = self._frame_tx_seq = 0
            self._log("bus_reset")
            self._cv.notify_all()

    def close(self) -> None:
        """Stop every thread and the console; later calls raise LinkGone. Safe to call twice."""
        with self._cv:
            if self._closed:
                return
            self._closed = True
            self._cv.notify_all()
        self._stop_sources()
        if self._console is not None:
            self._console.close()

    # --- helpers ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LinkGone("the loopback board is closed")

    def _check_endpoint(self, endpoint: int, out: bool) -> None:
        self._check_open()
        if endpoint not in _ENDPOINTS or bool(endpoint & 0x80) == out:
            raise LinkStall(f"STALL: no {'OUT' if out else 'IN'} endpoint 0x{endpoint:02x}")
        if self._configuration == 0:
            raise LinkStall(f"STALL: endpoint 0x{endpoint:02x} used before SET_CONFIGURATION")
        if endpoint in self._halted:
            raise LinkStall(f"STALL: endpoint 0x{endpoint:02x} is halted")

    def _wait(self, ready: Callable[[], bool], deadline: float | None, what: str) -> None:
        """Wait on the condition until `ready()`; LinkTimeout at the deadline, LinkGone on close."""
        while not ready():
            self._check_open()
            if deadline is None:
                self._cv.wait()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LinkTimeout(f"{what}: timed out")
            self._cv.wait(remaining)
        self._check_open()

    def _queue_read(self, queue: deque[_InTransfer], length: int, deadline: float | None, what: str) -> bytes:
        self._wait(lambda: bool(queue), deadline, what)
        chunk, done = queue[0].take(length)
        if done:
            queue.popleft()
        self._cv.notify_all()
        return chunk

    # --- control requests ---------------------------------------------------------------------

    def _control_in(self, bm: int, req: int, value: int, index: int) -> bytes:
        kind = bm & 0x60
        recipient = bm & 0x1F
        if kind == 0x40:
            if bm != c.VENDOR_REQUEST_TYPE_IN:
                raise _Stall(f"vendor IN request with bmRequestType 0x{bm:02x}")
            return self._vendor_in(req, value, index)
        if kind == 0x20:
            if bm == 0xA1 and req == CDC_GET_LINE_CODING and index == c.IF_CDC_COMM:
                return self._line_coding
            raise _Stall(f"class IN request 0x{req:02x} to index {index}")
        if kind != 0:
            raise _Stall(f"reserved request type 0x{bm:02x}")
        if req == GET_DESCRIPTOR and recipient == 0:
            return self._descriptor(value >> 8, value & 0xFF, index)
        if req == GET_CONFIGURATION and recipient == 0:
            return bytes((self._configuration,))
        if req == GET_INTERFACE and recipient == 1 and self._configuration and index < c.NUM_INTERFACES:
            return b"\0"
        if req == GET_STATUS:  # Address state: only the device and endpoint 0 (USB 2.0 9.4.5)
            if recipient == 0:
                return b"\0\0"
            if recipient == 1 and index < c.NUM_INTERFACES and self._configuration:
                return b"\0\0"
            if recipient == 2 and (index in (0, 0x80) or (index in _ENDPOINTS and self._configuration)):
                return struct.pack("<H", 1 if index in self._halted else 0)
        raise _Stall(f"standard IN request {req} (bmRequestType 0x{bm:02x}, wIndex {index})")

    def _descriptor(self, dtype: int, index: int, langid: int) -> bytes:
        if dtype == descriptors.DT_DEVICE and index == 0:
            return descriptors.device_descriptor()
        if dtype == descriptors.DT_CONFIGURATION and index == 0:
            return descriptors.config_descriptor()
        if dtype == descriptors.DT_STRING:
            try:
                return descriptors.string_descriptor(index, self.unique_id, langid)
            except KeyError as exc:
                raise _Stall(str(exc)) from None
        raise _Stall(f"no descriptor of type {dtype} index {index}")

    def _control_out(self, bm: int, req: int, value: int, index: int,
                     data: bytes) -> Callable[[], None] | None:
        kind = bm & 0x60
        recipient = bm & 0x1F
        if kind == 0x40:
            if bm != c.VENDOR_REQUEST_TYPE_OUT:
                raise _Stall(f"vendor OUT request with bmRequestType 0x{bm:02x}")
            return self._vendor_out(req, value, index, data)
        if kind == 0x20:
            return self._cdc_out(bm, req, value, index, data)
        if kind != 0:
            raise _Stall(f"reserved request type 0x{bm:02x}")
        if data:
            raise _Stall(f"standard request {req} with a {len(data)}-byte data stage")
        if req == SET_ADDRESS and recipient == 0 and value < 128 and index == 0:
            self._address = value
            return None
        if req == SET_CONFIGURATION and recipient == 0 and value in (0, c.CONFIG_VALUE):
            if self._configuration:
                self._cdc_in.clear()  # output queued for the session that ends here
            self._configuration = value
            self._halted.clear()
            self._log("configuration", value)
            return None
        if req == SET_INTERFACE and recipient == 1 and self._configuration:
            if index < c.NUM_INTERFACES and value == 0:
                for ep in self._interface_endpoints(index):
                    self._halted.discard(ep)
                return None
            raise _Stall(f"SET_INTERFACE alternate {value} of interface {index}: only alternate 0 exists")
        if req in (CLEAR_FEATURE, SET_FEATURE) and recipient == 2 and value == ENDPOINT_HALT:
            if index not in _ENDPOINTS or not self._configuration:  # Address state: 9.4.1, 9.4.9
                raise _Stall(f"{'CLEAR' if req == CLEAR_FEATURE else 'SET'}_FEATURE(ENDPOINT_HALT) on "
                             f"endpoint 0x{index:02x}: " + ("unknown" if index not in _ENDPOINTS
                                                           else "not configured (Address state)"))
            if req == CLEAR_FEATURE:
                self._halted.discard(index)
            else:
                self._halted.add(index)
            return None
        raise _Stall(f"standard OUT request {req} (bmRequestType 0x{bm:02x}, wValue {value}, wIndex {index})")

    @staticmethod
    def _interface_endpoints(interface: int) -> tuple[int, ...]:
        return {
            c.IF_MIDI_STREAMING: (c.EP_MIDI_OUT, c.EP_MIDI_IN),
            c.IF_VENDOR: (c.EP_FRAME_OUT, c.EP_FRAME_IN),
            c.IF_CDC_COMM: (c.EP_CDC_NOTIFY,),
            c.IF_CDC_DATA: (c.EP_CDC_OUT, c.EP_CDC_IN),
        }.get(interface, ())

    def _cdc_out(self, bm: int, req: int, value: int, index: int, data: bytes) -> Callable[[], None] | None:
        if bm != 0x21 or index != c.IF_CDC_COMM:
            raise _Stall(f"class OUT request 0x{req:02x} (bmRequestType 0x{bm:02x}) to index {index}")
        if req == CDC_SET_LINE_CODING:
            if len(data) != LINE_CODING.size:
                raise _Stall(f"SET_LINE_CODING needs {LINE_CODING.size} bytes, got {len(data)}")
            baud, stop, parity, bits = LINE_CODING.unpack(data)
            if stop > 2 or parity > 4 or bits not in (5, 6, 7, 8, 16):
                raise _Stall(f"SET_LINE_CODING stop {stop} parity {parity} bits {bits}")
            self._line_coding = data
            if baud == c.CONSOLE_BAUD_BOOTSEL:
                return self._touch
            return None
        if req == CDC_SET_CONTROL_LINE_STATE and not data:
            self._control_line_state = value & 0x3
            return None
        raise _Stall(f"CDC request 0x{req:02x} with {len(data)} data bytes")

    def _vendor_in(self, req: int, value: int, index: int) -> bytes:
        if value or index:
            raise _Stall(f"vendor request 0x{req:02x}: wValue {value} and wIndex {index} must be 0")
        if req == c.Request.GET_INFO:
            major, minor, patch = c.FIRMWARE_VERSION
            return c.INFO.pack(contract_version=c.CONTRACT_VERSION, fw_major=major, fw_minor=minor,
                               fw_patch=patch, midi_cables=c.MIDI_CABLES, ring_slots=c.FRAME_RING_SLOTS,
                               capabilities=int(CAPABILITIES), max_payload=c.FRAME_MAX_PAYLOAD,
                               clock_hz=CLOCK_HZ, unique_id=self.unique_id)
        if req == c.Request.GET_FRAMING:
            try:
                return descriptors.framing_ex()
            except (ImportError, AttributeError) as exc:
                raise _Stall(f"GET_FRAMING unavailable: {exc}") from None
        if req == c.Request.GET_MIDI_MODE:
            return self._midi_config.pack()
        if req == c.Request.GET_FRAME_MODE:
            return self._frame_config.pack()
        if req == c.Request.GET_TIME:
            return c.TIME.pack(time_us=self.clock.now_us())
        if req == c.Request.GET_STATS:
            return c.STATS.pack(**{k: v & 0xFFFFFFFF for k, v in self._stats.items()})
        raise _Stall(f"no vendor IN request 0x{req:02x}")

    def _vendor_out(self, req: int, value: int, index: int, data: bytes) -> Callable[[], None] | None:
        if value or index:
            raise _Stall(f"vendor request 0x{req:02x}: wValue {value} and wIndex {index} must be 0")
        if req == c.Request.SET_MIDI_MODE:
            if len(data) != c.MIDI_MODE_CONFIG.size:
                raise _Stall(f"SET_MIDI_MODE needs {c.MIDI_MODE_CONFIG.size} bytes, got {len(data)}")
            try:
                config = midi.MidiConfig.unpack(data)
            except ValueError as exc:
                raise _Stall(f"SET_MIDI_MODE: {exc}") from None
            return lambda: self._set_midi_mode(config, log=True)
        if req == c.Request.SET_FRAME_MODE:
            if len(data) != c.FRAME_MODE_CONFIG.size:
                raise _Stall(f"SET_FRAME_MODE needs {c.FRAME_MODE_CONFIG.size} bytes, got {len(data)}")
            v = {k: int(x) for k, x in c.FRAME_MODE_CONFIG.unpack(data).items() if isinstance(x, int)}
            try:
                mode = c.FrameMode(v["mode"])
            except ValueError:
                raise _Stall(f"SET_FRAME_MODE: mode {v['mode']} is not a FrameMode") from None
            if v["reserved0"] or v["reserved1"]:
                raise _Stall("SET_FRAME_MODE: reserved fields must be 0")
            if v["payload_len"] > c.FRAME_MAX_PAYLOAD:
                raise _Stall(f"SET_FRAME_MODE: payload_len {v['payload_len']} > {c.FRAME_MAX_PAYLOAD}")
            frame_config = _FrameConfig(mode, v["payload_len"], v["count"], v["interval_us"])
            return lambda: self._set_frame_mode(frame_config, log=True)
        if data:
            raise _Stall(f"vendor request 0x{req:02x} takes no data, got {len(data)} bytes")
        if req == c.Request.RESET_STATS:
            self._stats = dict.fromkeys(self._stats, 0)
            self._frame_rx_seq = self._frame_tx_seq = 0
            return None
        if req == c.Request.REBOOT_BOOTLOADER:
            return self._touch
        raise _Stall(f"no vendor OUT request 0x{req:02x}")

    # --- modes and their threads --------------------------------------------------------------

    def _stop_sources(self) -> None:
        with self._cv:
            threads, self._threads = self._threads, []
            for _, stop in threads:
                stop.set()
            self._cv.notify_all()
        for thread, _ in threads:
            thread.join(timeout=5)

    def _start(self, name: str, target: Callable[[threading.Event], None]) -> None:
        stop = threading.Event()
        thread = threading.Thread(target=target, args=(stop,), name=f"loopback {name}", daemon=True)
        with self._cv:
            self._threads.append((thread, stop))
        thread.start()

    def _set_midi_mode(self, config: midi.MidiConfig, *, log: bool = False) -> None:
        self._stop_source("midi source")
        with self._cv:
            self._midi_config = config
            if log:
                self._log("midi_mode", int(config.mode))
        if config.mode is c.MidiMode.SOURCE:
            self._start("midi source", lambda stop: self._midi_source(config, stop))

    def _set_frame_mode(self, config: _FrameConfig, *, log: bool = False) -> None:
        self._stop_source("frame source")
        with self._cv:
            self._frame_config = config
            if log:
                self._log("frame_mode", int(config.mode))
            self._ring.clear()
            self._frame_rx_seq = self._frame_tx_seq = 0
            self._cv.notify_all()
        if config.mode is c.FrameMode.SOURCE:
            self._start("frame source", lambda stop: self._frame_source(config, stop))

    def _stop_source(self, name: str) -> None:
        with self._cv:
            mine = [(t, s) for t, s in self._threads if t.name == f"loopback {name}"]
            self._threads = [(t, s) for t, s in self._threads if t.name != f"loopback {name}"]
            for _, stop in mine:
                stop.set()
            self._cv.notify_all()
        for thread, _ in mine:
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    def _touch(self) -> None:
        """A reboot into BOOTSEL: the loopback has no ROM bootloader, so it counts the request and
        comes back as after power-on (unconfigured, default modes, counters zero)."""
        self._stop_sources()
        with self._cv:
            if self._closed:
                return
            self.reboots += 1
            self._power_on_state()
            self._stats = dict.fromkeys(self._stats, 0)
            self._cv.notify_all()

    # --- MIDI -----------------------------------------------------------------------------------

    # --- the OS driver on the MIDI interfaces (as the kernel knows snd-usb-audio on a real board's) --
    # The driver itself (rig.os_midi.class_driver) talks to the board only through EP_MIDI_OUT and
    # EP_MIDI_IN, as a real one does; the board just answers pyusb's kernel-driver questions with it.

    def attach_os_driver(self, driver: OsDriver | None) -> None:
        """Register the OS driver bound to the MIDI interfaces (None: no OS driver any more)."""
        with self._cv:
            self._os_driver = driver

    def kernel_driver_active(self, interface: int) -> bool:
        """True while the attached OS driver holds `interface`."""
        driver = self._os_driver
        return driver is not None and driver.active_on(interface)

    def detach_kernel_driver(self, interface: int) -> None:
        """Unbind the OS driver from `interface` (ENOENT when none holds it)."""
        driver = self._os_driver
        if driver is None:
            raise UsbLinkError(errno.ENOENT, f"no OS driver is bound to interface {interface}")
        driver.detach(interface)  # not under the lock: the driver waits for its transfers in flight

    def attach_kernel_driver(self, interface: int) -> None:
        """Bind the OS driver to `interface` again (ENOENT when there is no OS driver)."""
        driver = self._os_driver
        if driver is None:
            raise UsbLinkError(errno.ENOENT, f"no OS driver for interface {interface}")
        driver.attach(interface)

    def _midi_write(self, data: memoryview, deadline: float | None) -> None:
        for start in range(0, len(data), c.BULK_PACKET_SIZE):
            usb_packet = data[start:start + c.BULK_PACKET_SIZE]
            replies = self._midi_receive(usb_packet)
            room = MIDI_IN_CAPACITY - len(replies)
            if len(self._midi_in) > room:
                self._stats["midi_tx_overflow"] += len(replies)
                self._wait(self._midi_room(room), deadline, "EP_MIDI_OUT (IN queue full)")
            self._midi_in.extend(replies)
            self._cv.notify_all()

    def _midi_room(self, limit: int) -> Callable[[], bool]:
        return lambda: len(self._midi_in) <= limit

    def _midi_receive(self, data: memoryview) -> list[bytes]:
        """Count and run received packets through the engine; returns the replies."""
        replies = []
        for pos in range(0, len(data), midi.PACKET_SIZE):
            packet = bytes(data[pos:pos + midi.PACKET_SIZE])
            if len(packet) < midi.PACKET_SIZE:
                self._stats["midi_rx_packets"] += 1
                self._stats["midi_rx_bad"] += 1
                continue
            if midi.is_padding(packet):
                continue
            self._stats["midi_rx_packets"] += 1
            if midi.is_bad(packet):
                self._stats["midi_rx_bad"] += 1
                continue
            reply = midi.respond(self._midi_config, packet)
            if reply is not None:
                replies.append(reply)
        return replies

    def _midi_read(self, length: int, deadline: float | None) -> bytes:
        if length < midi.PACKET_SIZE:
            raise UsbLinkError(errno.EOVERFLOW, f"read of {length} bytes is shorter than a MIDI packet")
        self._wait(lambda: bool(self._midi_in), deadline, "EP_MIDI_IN")
        count = min(len(self._midi_in), length // midi.PACKET_SIZE)
        out = b"".join(self._midi_in.popleft() for _ in range(count))
        self._stats["midi_tx_packets"] += count
        self._cv.notify_all()
        return out

    def _midi_source(self, config: midi.MidiConfig, stop: threading.Event) -> None:
        period_us = 1_000_000 / config.rate_hz
        start = self.clock.now_us()
        event = 0
        seq = 0
        while not stop.is_set() and (config.count == 0 or seq < config.count):
            for packet in midi.source_pair(config.cable, seq):
                if not self.clock.wait_until(start + round(event * period_us), stop):
                    return
                event += 1
                with self._cv:
                    if self._closed or stop.is_set():
                        return
                    if len(self._midi_in) >= MIDI_IN_CAPACITY:
                        self._stats["midi_tx_overflow"] += 1
                        while len(self._midi_in) >= MIDI_IN_CAPACITY and not (stop.is_set() or self._closed):
                            self._cv.wait(0.5)
                        if stop.is_set() or self._closed:
                            return
                    self._midi_in.append(packet)
                    self._cv.notify_all()
            seq += 1

    # --- frames ---------------------------------------------------------------------------------

    def _frame_write(self, data: bytes, deadline: float | None) -> None:
        mode = self._frame_config.mode
        if mode is c.FrameMode.ECHO:
            self._wait(lambda: len(self._ring) < c.FRAME_RING_SLOTS, deadline, "EP_FRAME_OUT (ring full)")
        rx_time = self.clock.now_us()
        try:
            frame = frames.decode(data) if len(data) <= SLOT_SIZE else frames.check_header(data)
        except frames.BadCrc:
            self._stats["frames_bad_crc"] += 1
            self._log("frame_bad_crc", struct.unpack_from("<I", data, 8)[0])
            return
        except frames.FrameError:
            self._stats["frames_bad_header"] += 1
            self._log("frame_bad_header", len(data))
            return
        assert isinstance(frame, frames.Frame)
        self._stats["frames_rx"] += 1
        self._stats["frame_bytes_rx"] += frame.payload_len
        if frame.seq != self._frame_rx_seq:
            self._stats["frames_seq_gap"] += 1
            self._log("frame_seq_gap", frame.seq, self._frame_rx_seq)
        self._frame_rx_seq = (frame.seq + 1) & 0xFFFFFFFF
        if mode is not c.FrameMode.ECHO:
            return
        out = bytearray(data)
        frames.restamp(out, self._frame_tx_seq, c.FrameFlag.ECHOED, rx_time, self.clock.now_us())
        self._frame_tx_seq = (self._frame_tx_seq + 1) & 0xFFFFFFFF
        self._queue_frame(out, frame.payload_len)
        if len(self._ring) >= c.FRAME_RING_SLOTS:
            self._stats["ring_full_naks"] += 1
            self._log("ring_full", len(self._ring))

    def _queue_frame(self, data: bytearray, payload_len: int) -> None:
        self._ring.append(_InTransfer(data, payload_len))
        self._stats["ring_high_water"] = max(self._stats["ring_high_water"], len(self._ring))
        self._cv.notify_all()

    def _frame_read(self, length: int, deadline: float | None) -> bytes:
        self._wait(lambda: bool(self._ring), deadline, "EP_FRAME_IN")
        head = self._ring[0]
        chunk, done = head.take(length)
        if done:
            self._ring.popleft()
            self._stats["frames_tx"] += 1
            self._stats["frame_bytes_tx"] += head.payload_len
        self._cv.notify_all()
        return chunk

    def _frame_source(self, config: _FrameConfig, stop: threading.Event) -> None:
        start = self.clock.now_us()
        sent = 0
        while not stop.is_set() and (config.count == 0 or sent < config.count):
            if config.interval_us and not self.clock.wait_until(start + sent * config.interval_us, stop):
                return
            with self._cv:
                while len(self._ring) >= c.FRAME_RING_SLOTS and not stop.is_set() and not self._closed:
                    self._cv.wait(0.5)
                if stop.is_set() or self._closed:
                    return
                seq = self._frame_tx_seq
                self._frame_tx_seq = (seq + 1) & 0xFFFFFFFF
                data = bytearray(frames.encode(frames.source_payload(seq, config.payload_len), seq,
                                               c.FrameFlag.SOURCED, 0, self.clock.now_us()))
                self._queue_frame(data, config.payload_len)
            sent += 1

    # --- console (ConsoleHost) ------------------------------------------------------------------

    def _log(self, event: str, *args: int) -> None:
        """A console log line (`log on`) for `event` on both views of the console; lock held."""
        sessions = [self._cdc_session] + ([self._console.session] if self._console is not None else [])
        for session in sessions:
            getattr(session, f"log_{event}")(*args)

    def _cdc_write(self, data: bytes) -> int:
        # called with the lock held: one reply or log line is one IN transfer; a host that does not
        # read leaves at most CDC_QUEUE_BYTES queued, and what does not fit is refused (not sent)
        if sum(len(t.data) - t.pos for t in self._cdc_in) + len(data) > CDC_QUEUE_BYTES:
            return 0
        self._cdc_in.append(_InTransfer(data))
        self._cv.notify_all()
        return len(data)

    def console_stats(self) -> dict[str, int]:
        """Every counter, for the `stats` command."""
        return self.stats()

    def console_time_us(self) -> int:
        """Device time for the `time` command."""
        return self.clock.now_us()

    def console_reset_stats(self) -> None:
        """The `reset-stats` command."""
        with self._cv:
            self._stats = dict.fromkeys(self._stats, 0)

    def console_bytes(self, rx: int, tx: int) -> None:
        """Count console traffic."""
        with self._cv:
            self._stats["cdc_rx_bytes"] += rx
            self._stats["cdc_tx_bytes"] += tx

    def __enter__(self) -> LoopbackBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LoopbackBoard(serial={self.serial_number}, pid={os.getpid()})"


def _deadline(timeout_ms: int) -> float | None:
    return None if timeout_ms == 0 else time.monotonic() + timeout_ms / 1000

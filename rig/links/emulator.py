"""`EmulatorLink`: a `rig.links.usb_link.UsbLink` to the firmware running in rp2040js.

It spawns the Node bridge (`firmware/emulator/bridge.js`) on a built flash image and the model boot
ROM, and speaks its length-prefixed framed protocol with request ids over the bridge's stdio. A reader
thread matches replies to requests, so transfers on different endpoints may be in flight at once (one
per thread). Every wait has a timeout; a bridge that exits turns every pending and later call into
LinkGone. A device that leaves the bus while the bridge runs on (the firmware rebooted into BOOTSEL
through the ROM) turns every pending and later USB call into LinkGone saying so, while `info()` and
`ping()` still answer. After a watchdog reset (the firmware's, or `watchdog_reset()`) the device leaves
the bus the same way until the rebooted firmware attaches again; `reattach()` waits for that and
enumerates it anew (new address, descriptors read again), as a host does with a device plugged in;
until then every USB call raises DeviceReenumerated: the handle is stale (docs/protocol.md).
While a sink is added (a capture's device-side view, rig.links.device_view), the bridge also sends
what the firmware arms and when, in emulated time; with none it sends nothing.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rig.contract.ch9 import (
    CLEAR_FEATURE,
    DT_CONFIGURATION,
    DT_DEVICE,
    ENDPOINT_HALT,
    GET_DESCRIPTOR,
    SET_ADDRESS,
)
from rig.links.device_view import DeviceEvent, DeviceEventError
from rig.links.flash_image import FlashImageError, read_flash_image
from rig.links.usb_link import (
    DeviceReenumerated,
    LinkCancelled,
    LinkGone,
    LinkStall,
    LinkTimeout,
    UsbLinkError,
    write_timed_out,
)

REPO = Path(__file__).resolve().parents[2]
BRIDGE_DIR = REPO / "firmware" / "emulator"
BRIDGE_JS = BRIDGE_DIR / "bridge.js"
ROM_NAME = "rom_model.bin"
"""The model boot ROM `make -C firmware` builds next to the firmware image."""
DEFAULT_ROM = REPO / "firmware" / "build" / ROM_NAME

OP_PING = 1
OP_CONTROL = 2
OP_WRITE = 3
OP_READ = 4
OP_RESET = 5
OP_INFO = 6
OP_QUIT = 7
OP_CANCEL = 8
OP_EVENTS = 9
OP_WATCHDOG = 10
"""Device-side events on (u8 1) or off (u8 0): the bridge sends them only while a capture wants them."""

STATUS_OK = 0
STATUS_TIMEOUT = 1
_ACKED = re.compile(r"timed out \(NAK\) after (\d+) bytes")
"""How the bridge's write timeout names the bytes the firmware took before the cancel."""
STATUS_STALL = 2
STATUS_ERROR = 3
STATUS_GONE = 4
STATUS_OVERFLOW = 5
"""A read's packet did not fit the room left in it (babble): the data is lost, errno EOVERFLOW."""
STATUS_CANCELLED = 6
"""A read ended by OP_CANCEL before it received anything."""
STATUS_EVENT = 7
"""A device-side event (request id 0), sent only while events are on (rig.links.device_view)."""

BOOT_TIMEOUT_S = 60.0
"""Wall time allowed for node to start, boot the firmware and see the first bus reset. Four emulated
boards starting at once on this 2-core machine under load took longer than 20 s (issue #13: a pool's
split mode then walked from board to board, each start timing out)."""
MAX_TIMEOUT_SCALE = 30.0
"""The most the bridge stretches a transfer timeout by when it scales them by emulation speed."""
GRACE_S = 10.0
"""Added to every transfer's own timeout (which the bridge scales for emulation speed)."""
FOREVER_POLL_S = 1.0
RESET_TIMEOUT_MS = 2000
ENUMERATION_TIMEOUT_MS = 1000
MAX_ADDRESS = 127
USB_OPS = frozenset({OP_CONTROL, OP_WRITE, OP_READ, OP_RESET})
"""Requests that need the device; PING, INFO, QUIT and CANCEL need only the bridge."""


class BridgeError(UsbLinkError):
    """The bridge reported an error that is not a timeout, stall or disconnect (the message says)."""


class BridgeStartError(LinkGone):
    """Node or the bridge could not be started, or the firmware never enabled USB."""


@dataclass
class _Pending:
    event: threading.Event = field(default_factory=threading.Event)
    status: int = -1
    payload: bytes = b""
    attachment: int = 0
    """The device's attachment a USB request was sent to (0: not a USB request)."""


def node_executable() -> str | None:
    """Path of `node` (env RIG_NODE names another), or None when it is not installed."""
    return shutil.which(os.environ.get("RIG_NODE") or "node")


def bridge_installed() -> bool:
    """True when the bridge's npm dependencies (rp2040js) are installed."""
    return (BRIDGE_DIR / "node_modules" / "rp2040js" / "package.json").is_file()


def rom_for(image: Path) -> Path:
    """The model boot ROM for `image`: the one built beside it, else the repository build's."""
    beside = image.parent / ROM_NAME
    return beside if beside.is_file() else DEFAULT_ROM


def flash_uid_hex(uid: str | bytes) -> str:
    """`uid` (8 bytes, or 16 hex digits) as 16 upper-case hex digits; ValueError otherwise."""
    if isinstance(uid, bytes | bytearray):
        raw = bytes(uid)
    else:
        try:
            raw = bytes.fromhex(uid) if len(uid) == 16 else b""
        except ValueError:
            raw = b""
    if len(raw) != 8:
        raise ValueError(f"a flash unique ID is 8 bytes (16 hex digits), not {uid!r}")
    return raw.hex().upper()


ROM_BOOTLOADER_IDS = (0x2E8A, 0x0003)
"""VID:PID of the RP2040 boot ROM's own USB device (RPI-RP2 drive and PICOBOOT)."""


def boot_diagnosis(info: dict[str, Any]) -> str:
    """Why the emulated chip runs the ROM's USB bootloader rather than the image, from the bridge's
    INFO (`boot`): a bad boot2 CRC (judged from the image, whatever the ROM), the BOOTSEL button, or
    boot2 never entered."""
    boot = info.get("boot", {})
    image_boot2 = boot.get("image_boot2", {})
    if image_boot2 and not image_boot2.get("crc_ok", True):
        return (f"boot2 CRC mismatch: the image's first 252 bytes give {image_boot2.get('computed_crc')} but "
                f"offset 252 holds {image_boot2.get('stored_crc')}, so the ROM rejected boot2 and started "
                "its USB bootloader")
    if boot.get("bootsel_button"):
        return "the BOOTSEL button is held (bootsel): the ROM started its USB bootloader"
    entered = "boot2 was entered" if boot.get("boot2_entered") else "boot2 was never entered"
    return f"the ROM started its USB bootloader ({entered}; the image may have rebooted into BOOTSEL)"


class EmulatorLink:
    """One emulated RP2040: a bridge process running `image` (a flash image .bin from 0x10000000, a
    .uf2 or an .elf of any RP2040 firmware)."""

    def __init__(self, image: str | os.PathLike[str], *, rom: str | os.PathLike[str] | None = None,
                 flash_uid: str | bytes | None = None, timeout_scale: float | None = None,
                 boot_timeout_s: float = BOOT_TIMEOUT_S, bootsel: bool = False) -> None:
        """Spawn the bridge and wait until the firmware has enabled USB and taken a bus reset.

        `rom` is the boot ROM image: the model ROM (default: `rom_for(image)`) or one the user supplies
        (a real RP2040 boot ROM, 16 KiB at most); `flash_uid` the flash chip's 64-bit unique ID, which
        our firmware reports as its serial number (default: the bridge's own); `timeout_scale` fixes
        the factor the bridge stretches transfer timeouts by (None: scaled by the emulation speed it
        measures, 3x to 30x); `bootsel` holds the BOOTSEL button from power-on (QSPI_SS low: a real
        ROM starts its USB bootloader; the model ROM has no such path).
        """
        self._timeout_scale = MAX_TIMEOUT_SCALE if timeout_scale is None else timeout_scale
        self.image = Path(image)
        if not self.image.is_file():
            raise BridgeStartError(f"firmware image {self.image} does not exist (run `make firmware`)")
        self.rom = Path(rom) if rom is not None else rom_for(self.image)
        if not self.rom.is_file():
            raise BridgeStartError(f"boot ROM {self.rom} does not exist (the model ROM: run `make firmware`)")
        uid_args = [] if flash_uid is None else ["--flash-uid", flash_uid_hex(flash_uid)]
        self.flash_uid = uid_args[1] if uid_args else "the bridge's default"
        """The flash chip's unique ID (our firmware's serial number), as the bridge was given it."""
        node = node_executable()
        if node is None:
            raise BridgeStartError("node is not installed; the emulator target needs Node.js 18+")
        if not bridge_installed():
            raise BridgeStartError(f"rp2040js is not installed; run `npm ci` in {BRIDGE_DIR}")
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        flash_bin = self.image
        if self.image.suffix.lower() != ".bin":
            try:
                contents = read_flash_image(self.image)
            except FlashImageError as exc:
                raise BridgeStartError(str(exc)) from exc
            self._tmpdir = tempfile.TemporaryDirectory(prefix="rig-emulator-")
            flash_bin = Path(self._tmpdir.name) / "flash.bin"
            flash_bin.write_bytes(contents)
        self._lock = threading.Lock()
        ready = _Pending()
        """The bridge's ready message (request id 0), held here: the reader pops it on arrival, which
        may happen before this thread looks again."""
        self._pending: dict[int, _Pending] = {0: ready}
        self._next_id = 1
        self._gone: str | None = None
        """Why the bridge is gone (exited, or the link was closed): every call raises LinkGone."""
        self._device_gone: str | None = None
        """Why the device is gone while the bridge runs on (BOOTSEL): USB calls raise LinkGone."""
        self._ep0 = threading.Condition()
        self.ep0_changes = 0
        """Control transfers and bus resets finished (whatever their outcome): only these change which
        endpoints the device serves (configured or not, halted or not). See `wait_ep0_change`."""
        self._event_sinks: tuple[Callable[[DeviceEvent], None], ...] = ()
        self.device_events = 0
        """Device-side event messages received from the bridge (0 while no capture asked for them)."""
        self.device_event_error: str | None = None
        """Why the last device-side event could not be read or written, if one could not."""
        self._attach_cv = threading.Condition(self._lock)
        self._left_because = ""
        self.attachments = 1
        """Times the device attached to the bus: its first boot, then once per reboot by the watchdog."""
        self._attachments_enumerated = 1
        self.address = 0
        """The device's USB address as this host last set it (0: the default address)."""
        self._proc = subprocess.Popen(
            [node, str(BRIDGE_JS), str(flash_bin), "--rom", str(self.rom), *uid_args,
             "--timeout-scale", "auto" if timeout_scale is None else str(timeout_scale),
             *(["--bootsel"] if bootsel else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
        )
        self._stderr_tail: list[str] = []
        self._reader = threading.Thread(target=self._read_loop, name="emulator-link reader", daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._stderr_loop, name="emulator-link stderr",
                                            daemon=True)
        self._err_reader.start()
        if not ready.event.wait(boot_timeout_s) or ready.status != STATUS_OK:
            said = ready.payload.decode(errors="replace") if ready.event.is_set() else ""
            detail = said or self._gone or f"no ready message within {boot_timeout_s} s"
            self.close()
            raise BridgeStartError(f"emulator did not start: {detail}")
        self.boot_info: dict[str, Any] = json.loads(ready.payload or b"{}")

    # --- plumbing -------------------------------------------------------------------------------

    def _drop_tmp(self) -> None:
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def _stderr_loop(self) -> None:
        stream = self._proc.stderr
        assert stream is not None
        for raw in iter(stream.readline, b""):
            self._stderr_tail = ([*self._stderr_tail, raw.decode(errors="replace").rstrip()])[-20:]

    @staticmethod
    def _read_exact(stream: IO[bytes], n: int) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            chunk = stream.read(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def _read_loop(self) -> None:
        stream = self._proc.stdout
        assert stream is not None
        while True:
            head = self._read_exact(stream, 4)
            if head is None:
                break
            (length,) = struct.unpack("<I", head)
            body = self._read_exact(stream, length)
            if body is None or length < 5:
                break
            req_id, status = struct.unpack_from("<IB", body)
            if req_id == 0 and status == STATUS_EVENT:
                self._device_event(body[5:])
                continue
            with self._lock:
                pending = self._pending.pop(req_id, None)
                if pending is None and req_id == 0 and status == STATUS_OK:
                    self._attached_again(body[5:])
                    continue
                if status == STATUS_GONE and self._device_gone is None:
                    # here, in the bridge's order (a reply after this one sees `alive` False), and
                    # ordered with attaching again
                    self._device_gone = body[5:].decode(errors="replace")
            if pending is not None:
                pending.status = status
                pending.payload = body[5:]
                pending.event.set()
        code = self._proc.wait()
        self._err_reader.join(timeout=2.0)  # the last lines on stderr say why it exited
        tail = "; ".join(self._stderr_tail[-3:])
        self._mark_gone(f"emulator bridge exited with status {code}" + (f": {tail}" if tail else ""))

    def _attached_again(self, payload: bytes) -> None:
        """The bridge says the device attached again after a watchdog reset (lock held; `payload` is
        its INFO): what made it leave is kept for the stale handle's error."""
        self.attachments += 1
        try:
            resets = json.loads(payload)["chip"]["watchdog_resets"]
            self._left_because = f"a watchdog reset ({resets[-1]['reason']}, pc {resets[-1]['pc']})"
        except (ValueError, KeyError, IndexError, TypeError):
            self._left_because = self._device_gone or "it left the bus"
        self._device_gone = None
        self._attach_cv.notify_all()

    def _stale_text(self) -> str:
        return (f"the emulated device (image {self.image.name}, flash unique ID {self.flash_uid}) enumerated "
                f"again as a new device (attachment {self.attachments}) after {self._left_because}; "
                "transfers on the handle opened before it left are refused: EmulatorLink.reattach() (or the "
                "emulator target's reattach()) enumerates the new device")

    def _device_event(self, payload: bytes) -> None:
        """Hand one device-side event to the sinks (on the reader thread); a bad one is noted, not fatal."""
        self.device_events += 1
        try:
            event = DeviceEvent.parse(payload)
            for sink in self._event_sinks:
                sink(event)
        except (DeviceEventError, OSError, ValueError) as exc:
            self.device_event_error = f"{type(exc).__name__}: {exc}"

    def add_event_sink(self, sink: Callable[[DeviceEvent], None]) -> None:
        """Call `sink` with every device-side event from now on; the first sink turns events on."""
        with self._lock:
            first = not self._event_sinks
            self._event_sinks = (*self._event_sinks, sink)
        if first:
            self._request(OP_EVENTS, b"\x01", GRACE_S)

    def remove_event_sink(self, sink: Callable[[DeviceEvent], None]) -> None:
        """Stop calling `sink`; the last one removed turns events off (quietly when the bridge is gone)."""
        with self._lock:
            self._event_sinks = tuple(s for s in self._event_sinks if s != sink)
            last = not self._event_sinks
        if last:
            with contextlib.suppress(UsbLinkError):
                self._request(OP_EVENTS, b"\x00", GRACE_S)

    def _mark_gone(self, why: str) -> None:
        with self._lock:
            if self._gone is None:
                self._gone = why
            pending, self._pending = list(self._pending.values()), {}
        for p in pending:
            p.status = STATUS_GONE
            p.payload = why.encode()
            p.event.set()
        self._ep0_changed()

    def _ep0_changed(self) -> None:
        with self._ep0:
            self.ep0_changes += 1
            self._ep0.notify_all()

    def wait_ep0_change(self, seen: int, timeout_s: float) -> bool:
        """Wait until `ep0_changes` is no longer `seen` (a control transfer or bus reset finished, or the
        bridge went), at most `timeout_s`; True when it changed. For a reader whose endpoint refuses
        (not configured, halted): nothing changes that until the host acts on EP0."""
        with self._ep0:
            return self._ep0.wait_for(lambda: self.ep0_changes != seen, timeout_s)

    def _request(self, op: int, payload: bytes, wait_s: float | None) -> bytes:
        """Send one request and wait for its reply; `wait_s` None waits as long as the bridge lives."""
        usb_op = op in USB_OPS
        with self._lock:
            if self._gone is not None:
                raise LinkGone(self._gone)
            if usb_op and self._device_gone is not None:
                raise LinkGone(self._device_gone)
            if usb_op and self.attachments > self._attachments_enumerated:
                raise DeviceReenumerated(self._stale_text())
            req_id = self._next_id
            self._next_id = (self._next_id + 1) & 0xFFFFFFFF or 1
            pending = _Pending()
            pending.attachment = self.attachments if usb_op else 0
            self._pending[req_id] = pending
            stdin = self._proc.stdin
            assert stdin is not None
            try:
                stdin.write(struct.pack("<IIB", 5 + len(payload), req_id, op) + payload)
                stdin.flush()
            except (BrokenPipeError, OSError, ValueError) as exc:
                self._pending.pop(req_id, None)
                write_error: Exception | None = exc
            else:
                write_error = None
        if write_error is not None:
            # The pipe broke before the reader saw the exit: record it here so `alive` agrees.
            self._mark_gone(f"emulator bridge is gone: {write_error}")
            raise LinkGone(f"emulator bridge is gone: {write_error}")
        if wait_s is None:
            while not pending.event.wait(FOREVER_POLL_S):
                if self._gone is not None:
                    raise LinkGone(self._gone)
        elif not pending.event.wait(wait_s):
            with self._lock:
                self._pending.pop(req_id, None)
            raise LinkTimeout(f"emulator bridge did not answer within {wait_s:.1f} s")
        return self._result(pending)

    def _result(self, pending: _Pending) -> bytes:
        text = pending.payload.decode(errors="replace")  # a GONE was noted by the reader, in order
        if pending.attachment and pending.attachment != self.attachments and pending.status != STATUS_GONE:
            # the bridge said the device attached again before it answered: the new device answered
            raise DeviceReenumerated(self._stale_text())
        if pending.status == STATUS_OK:
            return pending.payload
        if pending.status == STATUS_TIMEOUT:
            raise LinkTimeout(text)
        if pending.status == STATUS_CANCELLED:
            raise LinkCancelled(text)
        if pending.status == STATUS_STALL:
            raise LinkStall(text)
        if pending.status == STATUS_GONE:
            raise LinkGone(text)
        if pending.status == STATUS_OVERFLOW:
            raise UsbLinkError(errno.EOVERFLOW, text)
        raise BridgeError(text)

    def _wait_for(self, timeout_ms: int) -> float | None:
        return None if timeout_ms == 0 else timeout_ms / 1000.0 * self._timeout_scale + GRACE_S

    # --- UsbLink ----------------------------------------------------------------------------------

    def control(self, bm_request_type: int, b_request: int, w_value: int, w_index: int,
                data_or_length: bytes | int, timeout_ms: int) -> bytes | int:
        """A control transfer: IN returns the data, OUT returns the bytes sent."""
        if not 0 <= bm_request_type <= 0xFF or not 0 <= b_request <= 0xFF:
            raise ValueError(f"bmRequestType 0x{bm_request_type:X} / bRequest 0x{b_request:X} not bytes")
        if not 0 <= w_value <= 0xFFFF or not 0 <= w_index <= 0xFFFF:
            raise ValueError(f"wValue {w_value} / wIndex {w_index} out of 16-bit range")
        if bm_request_type & 0x80:
            if not isinstance(data_or_length, int):
                raise ValueError("an IN control transfer takes a length, not data")
            length, data = data_or_length, b""
        else:
            if isinstance(data_or_length, int):
                raise ValueError("an OUT control transfer takes data, not a length")
            data = bytes(data_or_length)
            length = len(data)
        if not 0 <= length <= 0xFFFF:
            raise ValueError(f"wLength {length} out of range")
        setup = struct.pack("<BBHHH", bm_request_type, b_request, w_value, w_index, length)
        try:
            reply = self._request(OP_CONTROL, setup + struct.pack("<I", timeout_ms) + data,
                                  self._wait_for(timeout_ms))
        finally:
            self._ep0_changed()
        if bm_request_type & 0x80:
            return reply
        return int(struct.unpack("<I", reply)[0])

    def write(self, endpoint: int, data: bytes, timeout_ms: int) -> int:
        """Bulk/interrupt OUT of `data`, ended by a short packet or ZLP."""
        if endpoint & 0x80 or not 1 <= endpoint <= 15:
            raise ValueError(f"0x{endpoint:02X} is not an OUT endpoint")
        try:
            reply = self._request(OP_WRITE, struct.pack("<BI", endpoint, timeout_ms) + bytes(data),
                                  self._wait_for(timeout_ms))
        except LinkTimeout as exc:
            # The bridge cancelled the write and says how many bytes the firmware had taken (armed
            # buffers it filled): they are delivered (protocol.md, *Timed-out writes*). A bridge that
            # did not answer at all leaves it unknown.
            acked = _ACKED.search(str(exc))
            raise write_timed_out(str(exc), int(acked[1]) if acked else None) from None
        return int(struct.unpack("<I", reply)[0])

    def read(self, endpoint: int, length: int, timeout_ms: int) -> bytes:
        """Bulk/interrupt IN of at most `length` bytes, ended by a short packet."""
        if not endpoint & 0x80 or not 1 <= endpoint & 0x7F <= 15:
            raise ValueError(f"0x{endpoint:02X} is not an IN endpoint")
        if length < 0:
            raise ValueError(f"read length {length} is negative")
        return self._request(OP_READ, struct.pack("<BII", endpoint, length, timeout_ms),
                             self._wait_for(timeout_ms))

    def cancel_reads(self, endpoint: int) -> None:
        """End every read waiting on IN `endpoint`: LinkCancelled, or the packets it already has."""
        if not endpoint & 0x80 or not 1 <= endpoint & 0x7F <= 15:
            raise ValueError(f"0x{endpoint:02X} is not an IN endpoint")
        self._request(OP_CANCEL, struct.pack("<B", endpoint), GRACE_S)

    def clear_halt(self, endpoint: int) -> None:
        """CLEAR_FEATURE(ENDPOINT_HALT) to the endpoint."""
        self.control(0x02, CLEAR_FEATURE, ENDPOINT_HALT, endpoint, b"", 1000)

    def reset(self) -> None:
        """Bus reset; pending transfers fail and the device comes back unconfigured."""
        try:
            self._request(OP_RESET, struct.pack("<I", RESET_TIMEOUT_MS), self._wait_for(RESET_TIMEOUT_MS))
        finally:
            self._ep0_changed()

    def watchdog_reset(self) -> None:
        """Fire the chip's watchdog as the firmware's store to CTRL.TRIGGER would (a test hook): the
        chip resets and boots the image again, and its USB device leaves the bus until `reattach`."""
        self._request(OP_WATCHDOG, b"", GRACE_S)

    def wait_attached(self, timeout_s: float = GRACE_S) -> None:
        """Wait until the device has attached again since it was last enumerated (a watchdog reset);
        LinkTimeout naming why when it does not within `timeout_s` of wall time (times the link's
        timeout scale), LinkGone when the bridge goes. Does not enumerate it (`reattach` does)."""
        with self._attach_cv:
            if not self._attach_cv.wait_for(lambda: self.attachments > self._attachments_enumerated
                                            or self._gone is not None, timeout_s * self._timeout_scale):
                why = self._device_gone or "it never left the bus"
                raise LinkTimeout(f"the device did not attach again within {timeout_s:g} s "
                                  f"(x{self._timeout_scale:g}): {why}")
            if self._gone is not None:
                raise LinkGone(self._gone)

    def reattach(self, timeout_s: float = GRACE_S) -> int:
        """Wait until the device has attached again after a watchdog reset (LinkTimeout when it does not
        within `timeout_s` of wall time, times the link's timeout scale), then enumerate it as a host
        does a new device (USB 2.0 9.1.2): GET_DESCRIPTOR(DEVICE) at the default address,
        SET_ADDRESS to a new address, then the device and configuration descriptors read again. The
        device is left addressed, not configured; returns its new address."""
        self.wait_attached(timeout_s)
        with self._attach_cv:
            self._attachments_enumerated = self.attachments
        t = ENUMERATION_TIMEOUT_MS
        self.control(0x80, GET_DESCRIPTOR, DT_DEVICE << 8, 0, 64, t)  # bMaxPacketSize0 first
        address = self.address % MAX_ADDRESS + 1
        self.control(0x00, SET_ADDRESS, address, 0, b"", t)
        self.address = address
        self.control(0x80, GET_DESCRIPTOR, DT_DEVICE << 8, 0, 18, t)
        head = self.control(0x80, GET_DESCRIPTOR, DT_CONFIGURATION << 8, 0, 9, t)
        assert isinstance(head, bytes)
        if len(head) >= 4:
            total = int.from_bytes(head[2:4], "little")
            self.control(0x80, GET_DESCRIPTOR, DT_CONFIGURATION << 8, 0, total, t)
        return address

    def ping(self) -> int:
        """Round trip to the bridge; returns emulated time in nanoseconds."""
        return int(struct.unpack("<Q", self._request(OP_PING, b"", GRACE_S))[0])

    def info(self) -> dict[str, Any]:
        """Bridge facts: state (running, stopped, bootsel), emulated time, instructions and cycles run
        (rp2040js's cycle figures; `cycles_by_pc` too with env RIG_BRIDGE_PROFILE=1), clk_sys,
        image size, the model ROM's calls, how boot went (boot2, VTOR), the flash model (unique ID,
        commands seen, XIP) and the BOOTSEL masks once the firmware has rebooted."""
        result: dict[str, Any] = json.loads(self._request(OP_INFO, b"", GRACE_S))
        if result.get("state") == "bootsel" and self._device_gone is None:
            self._device_gone = "device rebooted into the USB bootloader (BOOTSEL), as the bridge's INFO says"
        return result

    @property
    def alive(self) -> bool:
        """False once the device is gone (BOOTSEL, fault), the bridge has exited or the link was closed."""
        return (self._gone is None and self._device_gone is None and self._proc.poll() is None
                and self.attachments == self._attachments_enumerated)

    def close(self) -> None:
        """Ask the bridge to quit, then make sure it has exited; later calls raise LinkGone."""
        if self._proc.poll() is None and self._gone is None:
            with contextlib.suppress(UsbLinkError):
                self._request(OP_QUIT, b"", 2.0)
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()  # type: ignore[union-attr]
            try:
                self._proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5.0)
        self._mark_gone("emulator link closed")
        self._reader.join(timeout=2.0)
        self._drop_tmp()
        for stream in (self._proc.stdout, self._proc.stderr):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()

    def __enter__(self) -> EmulatorLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

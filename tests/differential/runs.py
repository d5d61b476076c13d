"""Running operations on one board through pyusb: each answer as a comparable `Outcome`, the known
prologue that puts a board in a known state, and the normaliser for what may legitimately differ."""

from __future__ import annotations

import errno
from typing import Any

import usb.core

from rig import contract as c
from rig.contract import ch9
from tests.differential.ops import CONTROL_TIMEOUT_MS, Op
from tests.endpoint_reads import drain

Outcome = tuple[Any, ...]
"""("ok", data) / ("ok", count) / ("stall",) / ("timeout",) / ("error", errno name): what a host sees."""

CONSOLE_QUIET_MS = 300
"""The console's reply is over when the prompt arrived, or after this much silence."""
_GET_STATS = (c.VENDOR_REQUEST_TYPE_IN, int(c.Request.GET_STATS), 0, 0, c.STATS.size)
_INFO_IMPLEMENTATION_FIELDS = ("capabilities", "clock_hz", "unique_id")
"""GET_INFO fields that name the implementation (DMA or not, its clock, its flash)."""
_TIMES = slice(24, 40)
"""rx_time_us and tx_time_us in a frame header."""


def console(dev: usb.core.Device, line: bytes) -> bytes:
    """Send `line` on EP_CDC_OUT and read EP_CDC_IN until the prompt ends what arrived, or silence."""
    dev.write(c.EP_CDC_OUT, line, CONTROL_TIMEOUT_MS)
    out = bytearray()
    while not out.endswith(c.CONSOLE_PROMPT.encode()):
        try:
            out += bytes(dev.read(c.EP_CDC_IN, c.BULK_PACKET_SIZE, CONSOLE_QUIET_MS))
        except usb.core.USBTimeoutError:
            break
    return bytes(out)


def _failure(exc: usb.core.USBError) -> Outcome:
    if isinstance(exc, usb.core.USBTimeoutError) or exc.errno == errno.ETIMEDOUT:
        return ("timeout",)
    if exc.errno == errno.EPIPE:
        return ("stall",)
    name = errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno is not None else str(exc)
    return ("error", name)


def execute(dev: usb.core.Device, op: Op) -> Outcome:
    """Run `op` on `dev`; the host's view of its answer."""
    a = op.args
    try:
        if op.kind == "ctrl_in":
            return ("ok", bytes(dev.ctrl_transfer(*a, CONTROL_TIMEOUT_MS)))
        if op.kind == "ctrl_out":
            return ("ok", dev.ctrl_transfer(*a, CONTROL_TIMEOUT_MS))
        if op.kind == "write":
            return ("ok", dev.write(a[0], a[1], a[2]))
        if op.kind == "read":
            return ("ok", bytes(dev.read(a[0], a[1], a[2])))
        if op.kind == "drain":
            assert isinstance(a[0], int) and isinstance(a[1], int) and isinstance(a[2], int)
            return ("ok", drain(dev, a[0], a[1], a[2]))
        if op.kind == "console":
            assert isinstance(a[0], bytes)
            return ("ok", console(dev, a[0]))
        if op.kind == "source":
            assert isinstance(a[0], int) and isinstance(a[2], int) and isinstance(a[3], int)
            try:
                answer: Outcome = ("ok", dev.ctrl_transfer(c.VENDOR_REQUEST_TYPE_OUT, a[0], 0, 0, a[1],
                                                           CONTROL_TIMEOUT_MS))
            except usb.core.USBError as exc:
                answer = _failure(exc)
            return ("ok", answer, drain(dev, a[2], a[3]))
        if op.kind == "bus_reset":
            dev.reset()
            return ("ok",)
    except usb.core.USBError as exc:
        return _failure(exc)
    raise ValueError(f"unknown op kind {op.kind}")


def stats(dev: usb.core.Device) -> dict[str, int] | Outcome:
    """Every GET_STATS counter, or the failure. Two requests, the second's answer used: a board may
    finish handling the last packet of a bulk OUT transfer after the host saw it acknowledged (the
    firmware does, in its main loop), and any control transfer after the ACK is past that point.
    Both boards get the same two requests, so control_requests counts alike."""
    try:
        dev.ctrl_transfer(*_GET_STATS, CONTROL_TIMEOUT_MS)
        data = bytes(dev.ctrl_transfer(*_GET_STATS, CONTROL_TIMEOUT_MS))
    except usb.core.USBError as exc:
        return _failure(exc)
    return {k: int(v) for k, v in c.STATS.unpack(data).items() if isinstance(v, int)}


def normalise(op: Op, outcome: Outcome) -> Outcome:
    """`outcome` with what may legitimately differ between two correct boards blanked: device times
    (GET_TIME, frame timestamps), the serial number string and GET_INFO's implementation fields."""
    if op.kind == "source" and op.args[2] == c.EP_FRAME_IN and len(outcome) == 3:
        return (*outcome[:2], _blank_frame_times(outcome[2]))
    if outcome[0] != "ok" or len(outcome) < 2 or not isinstance(outcome[1], bytes):
        return outcome
    data = outcome[1]
    if op.kind == "ctrl_in":
        bm, req, value = op.args[0], op.args[1], op.args[2]
        if bm == c.VENDOR_REQUEST_TYPE_IN and req == c.Request.GET_TIME:
            return ("ok", f"<{len(data)}-byte time>")
        if bm == c.VENDOR_REQUEST_TYPE_IN and req == c.Request.GET_INFO:
            return ("ok", _blank_info(data))
        if bm == 0x80 and req == ch9.GET_DESCRIPTOR and value == (ch9.DT_STRING << 8) | c.STRING_INDEX_SERIAL:
            return ("ok", f"<{len(data)}-byte serial string>")
    if op.kind in ("read", "drain") and op.args[0] == c.EP_FRAME_IN:
        return ("ok", _blank_frame_times(data))
    if op.kind == "console":
        return ("ok", _blank_console_numbers(data))
    return outcome


def _blank_info(data: bytes) -> bytes:
    full = bytearray(c.INFO.size)
    full[:len(data)] = data
    fields = c.INFO.unpack(bytes(full))
    fields.update(capabilities=0, clock_hz=0, unique_id=bytes(8))
    return c.INFO.pack(**fields)[:len(data)]


def _blank_frame_times(data: bytes) -> bytes:
    """Zero the time fields of every frame header found in `data` (a read or a drained stream)."""
    out = bytearray(data)
    magic = c.FRAME_MAGIC.to_bytes(4, "little")
    pos = out.find(magic)
    while pos >= 0 and pos + _TIMES.stop <= len(out):
        out[pos + _TIMES.start:pos + _TIMES.stop] = bytes(_TIMES.stop - _TIMES.start)
        pos = out.find(magic, pos + 4)
    return bytes(out)


def _blank_console_numbers(data: bytes) -> bytes:
    """The `time` reply and log-line times are device time: digits after '# ' or alone on a line."""
    lines = data.split(b"\r\n")
    out = []
    for line in lines:
        if line.isdigit():
            line = b"<time>"
        elif line.startswith(b"# "):
            head, _, rest = line[2:].partition(b" ")
            line = b"# <time> " + rest if head.isdigit() else line
        out.append(line)
    return b"\r\n".join(out)


def prologue(dev: usb.core.Device) -> None:
    """Put a board in the known state every sequence starts from: bus reset, configuration 1, default
    modes (ECHO; SET_FRAME_MODE empties the ring), 115200 8N1, console log off, every IN endpoint
    drained, counters zero."""
    for interface in (c.IF_AUDIO_CONTROL, c.IF_MIDI_STREAMING):
        if dev.is_kernel_driver_active(interface):
            dev.detach_kernel_driver(interface)
    dev.reset()
    dev.set_configuration(c.CONFIG_VALUE)
    out = c.VENDOR_REQUEST_TYPE_OUT
    dev.ctrl_transfer(out, int(c.Request.SET_MIDI_MODE), 0, 0,
                      c.MIDI_MODE_CONFIG.pack(mode=0, cable=0, transpose=0, rate_hz=0, count=0))
    dev.ctrl_transfer(out, int(c.Request.SET_FRAME_MODE), 0, 0,
                      c.FRAME_MODE_CONFIG.pack(mode=0, payload_len=0, count=0, interval_us=0))
    dev.ctrl_transfer(0x21, 0x20, 0, c.IF_CDC_COMM, (115200).to_bytes(4, "little") + bytes((0, 0, 8)))
    console(dev, b"\rlog off\r")
    for endpoint in (c.EP_MIDI_IN, c.EP_FRAME_IN, c.EP_CDC_IN):
        drain(dev, endpoint, 4096, 50)
    dev.ctrl_transfer(out, int(c.Request.RESET_STATS), 0, 0, b"")

"""Random operation sequences from a seed: every request valid and invalid, configuration, interface
and halt changes, bus resets, MIDI in every mode, frames of every size and damage, backpressure,
short and odd-length reads, and the console on its CDC endpoints."""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable

from rig import contract as c
from rig.contract import ch9
from rig.contract import frame_wire as frames
from tests.differential.known import open_trigger
from tests.differential.ops import Op

SHORT_MS = 100
"""Timeout of bulk transfers that may legitimately not complete (NAK backpressure, nothing queued)."""
_ENDPOINTS = (0x00, 0x80, c.EP_MIDI_OUT, c.EP_MIDI_IN, c.EP_FRAME_OUT, c.EP_FRAME_IN, c.EP_CDC_NOTIFY,
              c.EP_CDC_OUT, c.EP_CDC_IN, 0x05, 0x85)
_PAYLOAD_SIZES = (0, 1, 23, 24, 25, 87, 88, 89, 100, 1000, 4056, c.FRAME_MAX_PAYLOAD)
"""Payload lengths around the 64-byte packet boundaries of a 40-byte header, and the extremes."""
_READ_LENGTHS = (0, 3, 4, 8, 60, 64, 100, 128, 512, 4096)
# No `time` and no `log on`: the reply and log lines carry device time, whose digit count differs between
# boards and so would make cdc_tx_bytes differ for no fault (GET_TIME, normalised, covers the clock).
_CONSOLE_LINES = (b"help\r", b"version\r", b"stats\r", b"reset-stats\r", b"log\r", b"log off\r",
                  b"bogus\r", b"\r", b"\n", b"  version  \r", b"version extra\r", b"log maybe\r",
                  b"it's\r", b"a\"b\r", b"ab\x08c\r", b"x\x01y\r", b"\xffz\r", b"ver\x0bsion\r",
                  b"stats\tnow\r", b"help\r\n", b"vers", b"ion\r", b"a\\b\r", b"log\toff\r")


def _midi_packet(rng: random.Random) -> bytes:
    roll = rng.random()
    note, velocity = rng.randrange(128), rng.randrange(128)
    if roll < 0.6:
        cin = rng.choice((0x8, 0x9, 0xA, 0xB))
        return bytes((cin, (cin << 4) | rng.randrange(16), note, velocity))
    if roll < 0.7:
        return bytes(4)  # CIN 0 padding
    if roll < 0.8:
        return bytes((0x01, 0x90, note, velocity))  # reserved CIN 1
    if roll < 0.9:
        cable = rng.randrange(1, 16)
        return bytes(((cable << 4) | 0x9, 0x90, note, velocity))
    cin = rng.choice((0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0xC, 0xD, 0xE, 0xF))
    return bytes((cin, rng.randrange(256), rng.randrange(128), rng.randrange(128)))


def _midi_write(rng: random.Random) -> Op:
    count = rng.choice((1, 2, 15, 16, 17, 32, 33, rng.randrange(1, 80)))
    if rng.random() < 0.5:
        data = b"".join(_midi_packet(rng) for _ in range(count))
    else:
        data = b"".join(bytes((0x9, 0x90, rng.randrange(128), 1 + rng.randrange(127))) for _ in range(count))
    if rng.random() < 0.1:
        data += bytes(rng.randrange(1, 4))  # a trailing partial packet
    return Op("write", (c.EP_MIDI_OUT, data, SHORT_MS))


def _frame(rng: random.Random) -> bytes:
    size = rng.choice(_PAYLOAD_SIZES)
    payload = bytes(rng.randrange(256) for _ in range(min(size, 64))) * (size // 64 + 1)
    payload = payload[:size]
    seq = rng.choice((0, 0, 1, 2, rng.randrange(1 << 32)))
    data = bytearray(frames.encode(payload, seq))
    damage = rng.random()
    if damage < 0.6:
        return bytes(data)
    kind = rng.randrange(9)
    if kind == 0:
        data[0] ^= 0xFF  # magic
    elif kind == 1:
        data[4] = 2  # version
    elif kind == 2:
        struct.pack_into("<H", data, 6, 44)  # header_len
    elif kind == 3 and size:
        data[-1] ^= 0x55  # payload, so the CRC fails
    elif kind == 4:
        struct.pack_into("<I", data, 16, zlib.crc32(b"x"))  # CRC field
    elif kind == 5:
        struct.pack_into("<I", data, 20, 1)  # reserved
    elif kind == 6:
        return bytes(data[:rng.randrange(len(data))])  # truncated (possibly to nothing)
    elif kind == 7:
        return bytes(data) + b"\0" * rng.randrange(1, 70)  # longer than payload_len says
    else:
        struct.pack_into("<I", data, 12, size + 1)  # payload_len says one more
    return bytes(data)


def _midi_mode(rng: random.Random) -> Op:
    mode = rng.choice((0, 0, 1, 2, 3, 4))
    cable = 0 if rng.random() < 0.9 else rng.randrange(1, 16)
    rate = rng.choice((100_000, 50_000, 0, 100_001)) if mode == 2 else rng.choice((0, 1000))
    count = rng.randrange(1, 9) if mode == 2 else rng.randrange(3)
    data = bytearray(c.MIDI_MODE_CONFIG.pack(mode=mode, cable=cable, transpose=rng.randrange(-12, 13),
                                             rate_hz=rate, count=count))
    roll = rng.random()
    if roll < 0.05:
        data[3] = 1  # reserved
    elif roll < 0.1:
        data = data[:rng.randrange(len(data))]
    elif roll < 0.13:
        data += b"\0"
    if mode == c.MidiMode.SOURCE:
        return Op("source", (int(c.Request.SET_MIDI_MODE), bytes(data), c.EP_MIDI_IN, c.BULK_PACKET_SIZE))
    return Op("ctrl_out", (c.VENDOR_REQUEST_TYPE_OUT, int(c.Request.SET_MIDI_MODE), 0, 0, bytes(data)))


def _frame_mode(rng: random.Random) -> Op:
    mode = rng.choice((0, 0, 1, 2, 3))
    payload_len = rng.choice((*_PAYLOAD_SIZES, c.FRAME_MAX_PAYLOAD + 1))
    count = rng.randrange(1, 5) if mode == 1 else rng.randrange(3)
    data = bytearray(c.FRAME_MODE_CONFIG.pack(mode=mode, payload_len=payload_len if mode == 1 else
                                              rng.choice((0, payload_len)), count=count, interval_us=0))
    roll = rng.random()
    if roll < 0.05:
        data[1] = 1
    elif roll < 0.08:
        data[2] = 1
    elif roll < 0.13:
        data = data[:rng.randrange(len(data))]
    if mode == c.FrameMode.SOURCE:
        return Op("source", (int(c.Request.SET_FRAME_MODE), bytes(data), c.EP_FRAME_IN, 20000))
    return Op("ctrl_out", (c.VENDOR_REQUEST_TYPE_OUT, int(c.Request.SET_FRAME_MODE), 0, 0, bytes(data)))


def _vendor(rng: random.Random) -> Op:
    requests = [int(r) for r in c.Request if r != c.Request.REBOOT_BOOTLOADER]
    req = rng.choice((*requests, 0x00, 0x0B, 0x7F, 0xFF))
    bm = rng.choice((c.VENDOR_REQUEST_TYPE_IN, c.VENDOR_REQUEST_TYPE_IN, c.VENDOR_REQUEST_TYPE_OUT,
                     0xC1, 0x41, 0xC2))
    value = 0 if rng.random() < 0.85 else rng.randrange(1, 0x10000)
    index = 0 if rng.random() < 0.85 else rng.randrange(1, 0x10000)
    if bm & 0x80:
        return Op("ctrl_in", (bm, req, value, index, rng.choice((0, 1, 8, 64, 255, 512))))
    if req in (c.Request.SET_MIDI_MODE, c.Request.SET_FRAME_MODE) and rng.random() < 0.5:
        return _midi_mode(rng) if req == c.Request.SET_MIDI_MODE else _frame_mode(rng)
    data = b"" if rng.random() < 0.8 else bytes(rng.randrange(1, 20))
    return Op("ctrl_out", (bm, req, value, index, data))


def _standard(rng: random.Random) -> Op:
    roll = rng.randrange(12)
    if roll == 0:
        dtype = rng.choice((ch9.DT_DEVICE, ch9.DT_CONFIGURATION, ch9.DT_STRING, ch9.DT_STRING,
                            ch9.DT_DEVICE_QUALIFIER, ch9.DT_OTHER_SPEED_CONFIGURATION, 0x21))
        index = rng.choice((0, 0, 1, 2, 3, 4, 5, 6, 7, 0xEE))
        usual = dtype == ch9.DT_STRING and index and rng.random() < 0.8
        langid = 0x0409 if usual else rng.choice((0, 0x0407))
        return Op("ctrl_in", (0x80, ch9.GET_DESCRIPTOR, (dtype << 8) | index, langid,
                              rng.choice((2, 9, 18, 64, 255, 512))))
    if roll == 1:
        return Op("ctrl_in", (0x80, ch9.GET_CONFIGURATION, 0, 0, 1))
    if roll == 2:
        return Op("ctrl_out", (0x00, ch9.SET_CONFIGURATION, rng.choice((0, 1, 1, 1, 2)), 0, b""))
    if roll == 3:
        return Op("ctrl_in", (0x81, ch9.GET_INTERFACE, 0, rng.randrange(7), 1))
    if roll == 4:
        return Op("ctrl_out", (0x01, ch9.SET_INTERFACE, rng.choice((0, 0, 0, 1)), rng.randrange(7), b""))
    if roll in (5, 6):
        return Op("ctrl_out", (0x02, ch9.SET_FEATURE, ch9.ENDPOINT_HALT, rng.choice(_ENDPOINTS), b""))
    if roll in (7, 8):
        return Op("ctrl_out", (0x02, ch9.CLEAR_FEATURE, ch9.ENDPOINT_HALT, rng.choice(_ENDPOINTS), b""))
    if roll == 9:
        recipient = rng.randrange(4)
        index = rng.choice(_ENDPOINTS) if recipient == 2 else rng.randrange(7) if recipient == 1 else 0
        return Op("ctrl_in", (0x80 | recipient, ch9.GET_STATUS, 0, index, 2))
    if roll == 10:
        return Op("ctrl_out", (0x00, rng.choice((ch9.SET_FEATURE, ch9.CLEAR_FEATURE)),
                               rng.choice((ch9.DEVICE_REMOTE_WAKEUP, ch9.TEST_MODE)), 0, b""))
    return Op("ctrl_out", (0x00, ch9.SET_ADDRESS, rng.choice((0, 5, 127, 128)), 0, b""))


def _cdc(rng: random.Random) -> Op:
    roll = rng.randrange(5)
    if roll == 0:
        return Op("ctrl_in", (0xA1, 0x21, 0, rng.choice((c.IF_CDC_COMM, c.IF_CDC_COMM, c.IF_CDC_DATA)), 7))
    if roll == 1:
        stop, parity, bits = (0, 0, 8) if rng.random() < 0.6 else (rng.randrange(4), rng.randrange(6),
                                                                     rng.choice((4, 5, 7, 8, 9, 16)))
        baud = rng.choice((9600, 115200, 3_000_000))
        data = struct.pack("<IBBB", baud, stop, parity, bits)
        return Op("ctrl_out", (0x21, 0x20, 0, c.IF_CDC_COMM, data))
    if roll == 2:
        return Op("ctrl_out", (0x21, 0x22, rng.randrange(4), c.IF_CDC_COMM, b""))
    if roll == 3:
        return Op("ctrl_out", (0x21, 0x23, rng.choice((0, 100, 0xFFFF)), c.IF_CDC_COMM, b""))  # SEND_BREAK
    return Op("ctrl_out", (0x21, rng.choice((0x00, 0x01, 0x20)), 0, rng.choice((c.IF_CDC_DATA, 1, 9)), b""))


def _bulk(rng: random.Random) -> Op:
    roll = rng.randrange(10)
    if roll < 3:
        return _midi_write(rng)
    if roll == 3:
        return Op("read", (c.EP_MIDI_IN, rng.choice(_READ_LENGTHS), SHORT_MS))
    if roll == 4:
        return Op("drain", (c.EP_MIDI_IN, rng.choice((64, 512)), SHORT_MS))
    if roll < 7:
        return Op("write", (c.EP_FRAME_OUT, _frame(rng), SHORT_MS))
    if roll == 7:
        return Op("read", (c.EP_FRAME_IN, rng.choice((*_READ_LENGTHS, 16424, 20000)), SHORT_MS))
    if roll == 8:
        return Op("drain", (c.EP_FRAME_IN, rng.choice((64, 20000)), SHORT_MS))
    return Op("console", (rng.choice(_CONSOLE_LINES),))


_FAMILIES: tuple[tuple[float, Callable[[random.Random], Op]], ...] = (
    (0.45, _bulk), (0.15, _vendor), (0.1, _midi_mode), (0.08, _frame_mode), (0.14, _standard), (0.05, _cdc),
    (0.03, lambda rng: Op("bus_reset")),
)


def generate(seed: int, count: int, *, avoid_known: bool = True) -> list[Op]:
    """`count` operations drawn from `seed` (the same seed always gives the same list); ops that
    trigger an allow-listed open divergence (tests.differential.known) are drawn again."""
    rng = random.Random(seed)
    weights = [w for w, _ in _FAMILIES]
    makers = [m for _, m in _FAMILIES]
    ops: list[Op] = []
    while len(ops) < count:
        op = rng.choices(makers, weights)[0](rng)
        if not (avoid_known and open_trigger(op)):
            ops.append(op)
    return ops

"""One USB capture: a pcapng file of usbmon events (link type 220) that Wireshark decodes.

The recording backend (rig.links.recording_backend) only extends the capture's flat log by one
transfer's raw fields (a code naming device, transfer type and direction, submit and completion
times on the performance counter, endpoint, buffer length, result, a copy of the data): that is all a
transfer pays. The log is encoded into Submit/Complete blocks, in time order, in bulk: at step
boundaries (`mark`), at `flush`/`close`, and when the bytes it holds pass `log_budget` (LOG_BYTES,
or the ring's size when there is a ring, so a ring of N MB also bounds what waits to be encoded), so
the encoding work lands between a measurement's steps, not inside them (as usbmon's reader runs
apart from the transfers it records). A transfer still in flight while the log is encoded (a read
waiting in another thread) is written with the next batch, so its Submit can follow later packets in
the file; its time stamp stays right.
"""

from __future__ import annotations

import itertools
import struct
import threading
import time
from dataclasses import dataclass, field
from operator import le
from pathlib import Path
from typing import cast

from rig.links import pcapng, usbmon
from rig.links.pcapng import PcapngWriter, SectionInfo

SNAPLEN = 0x40000
LOG_BYTES = 32 * 1024 * 1024
"""Bytes of logged transfers (data plus ENTRY_BYTES each) a capture without a ring holds before a
transfer encodes the log itself (bounds the log's memory)."""
ENTRY_BYTES = 160
"""Memory a logged transfer holds besides its data: 7 list slots, 2 time stamps, a bytes header."""
ENTRY_FIELDS = 7
"""Fields per transfer in the flat log (an Entry's length)."""

Setup = tuple[int, int, int, int, int]
"""bmRequestType, bRequest, wValue, wIndex, wLength of a control transfer."""
Entry = tuple[int, int, int, "int | Setup", int, int, "bytes | None"]
"""One transfer as the recording backend logs it: (code: `entry_code` of the placement key, transfer
type and direction; submit ns and complete ns on the performance counter; the endpoint address as
the backend was given it, or the setup of a control transfer; an IN transfer's buffer length (0 for
OUT); the result: bytes transferred or a negative usbmon status; the data: OUT data, IN data
received, or None)."""


def entry_code(key: int, xfer: int, is_in: bool) -> int:
    """A log entry's first field: which recorded device of the capture (placement key), the usbmon
    transfer type and the direction, in one small int (fixed per recorded function)."""
    return key << 3 | xfer << 1 | is_in

_HEAD = struct.Struct("<7I" + usbmon.HEADER.format.lstrip("<"))
"""An enhanced packet block's head (type, total length, interface, time stamp, lengths) and the
usbmon header after it, packed in one call; the captured data follows."""
_TAILS = [struct.Struct(f"<{pad}xI") for pad in range(4)]
"""By pad length: the pad after the data and the block's trailing total length."""
_NO_SETUP = bytes(8)
_HEAD_VARYING = struct.Struct("<7IQ8sqiiII24s")
"""The head again, with the usbmon fields fixed per device, endpoint and direction as two chunks:
type ... urb id, [event type, transfer type, endpoint, device, bus, flag_setup, flag_data], ts_sec,
ts_usec, status, urb_len, data_len, [setup, interval, start_frame, transfer flags, ndesc]."""
_MIDDLE = struct.Struct("<cBBBHcB")
_AFTER = struct.Struct("<8siiII")
assert _HEAD_VARYING.size == _HEAD.size == 92 and _MIDDLE.size == 8 and _AFTER.size == 24
Template = tuple[int, bool, bytes, bytes, bytes, bytes]
"""A transfer's fixed fields: pcapng interface, IN, the submit's and the completion's middle chunk,
the submit's and the completion's last chunk."""


class _Tails(dict[int, bytes]):
    """Data length -> the block's pad and trailing total length (kept for a bounded number of lengths)."""

    def __missing__(self, n: int) -> bytes:
        if len(self) >= 4096:
            self.clear()
        pad = -n & 3
        tail = self[n] = _TAILS[pad].pack(96 + n + pad)
        return tail


_TAIL_BY_LENGTH = _Tails()
PIECES = 3
"""Pieces per block in what `UsbCapture._pieces` returns: head, data (the logged bytes themselves,
not copied), tail."""


def _epb(interface: int, stamp: int, urb: int, kind: bytes, xfer: int, ep: int, device: int, bus: int,
         status: int, urb_len: int, data: bytes, setup: Setup | None, interval: int) -> bytes:
    """One usbmon event as a whole pcapng enhanced packet block (nanosecond time stamps, no options)."""
    is_in = ep & 0x80
    if data:
        flag_data = usbmon.DATA_PRESENT
    elif kind == usbmon.SUBMIT:
        flag_data = usbmon.NO_DATA_IN if is_in else usbmon.DATA_PRESENT
    else:
        flag_data = usbmon.DATA_PRESENT if is_in else usbmon.NO_DATA_OUT
    n = len(data)
    pad = -n % 4
    total = 96 + n + pad
    seconds, nanoseconds = divmod(stamp, 1_000_000_000)
    head = _HEAD.pack(
        pcapng.EPB_TYPE, total, interface, stamp >> 32, stamp & 0xFFFFFFFF, 64 + n, 64 + n,
        urb, kind, xfer, ep, device, bus, usbmon.NO_SETUP if setup is None else usbmon.SETUP_PRESENT,
        flag_data, seconds, nanoseconds // 1000, status, urb_len, n,
        _NO_SETUP if setup is None else usbmon.setup_packet(*setup), interval, 0,
        usbmon.URB_DIR_IN if is_in else 0, 0)
    return b"".join((head, data, _TAILS[pad].pack(total)))


@dataclass(eq=False)
class Placement:
    """One recorded device in one capture: its pcapng interface, its bus and address there, and its
    endpoints' bIntervals (for interrupt URBs)."""

    capture: UsbCapture
    key: int
    """Index of this placement in its capture (what the recording backend logs)."""
    interface: int
    bus: int
    address: int
    intervals: dict[int, int] = field(default_factory=dict)


class UsbCapture:
    """A pcapng file of usbmon events: where each recorded device sits in it, the event log, time
    stamps, and step marks (a comment on the first packet after `mark`)."""

    def __init__(self, path: Path | str, section: SectionInfo | None = None, *,
                 ring_bytes: int | None = None) -> None:
        self.writer = PcapngWriter(path, section or SectionInfo(), ring_bytes=ring_bytes)
        self.path = self.writer.path
        self.log: list[object] = []
        """Transfers not yet encoded, each as ENTRY_FIELDS consecutive items (an Entry's fields): the
        recording backend extends this very list by one Entry per transfer, in one call."""
        self.log_budget = LOG_BYTES if ring_bytes is None else min(ring_bytes, LOG_BYTES)
        """Bytes (data plus ENTRY_BYTES per transfer) a recorded device logs before it encodes the
        log: a ring of N MB keeps its last N MB and holds no more than that waiting to be encoded."""
        self._interfaces: dict[int, int] = {}
        self._places: dict[int, tuple[int, int]] = {}
        self._placements: list[Placement] = []
        self._urb_ids = itertools.count(1)
        self._templates: dict[int, Template] = {}
        """Per (entry code, endpoint) of a bulk or interrupt transfer: its events' fixed fields."""
        self._lock = threading.RLock()
        self._pending: str | None = None
        self._wall0 = time.time_ns()
        self._perf0 = time.perf_counter_ns()
        self.events = 0
        """usbmon events encoded so far (submits and completions)."""

    def wall_ns(self, perf_ns: int) -> int:
        """A performance-counter time as wall-clock nanoseconds (the counter is finer and monotonic)."""
        return self._wall0 + perf_ns - self._perf0

    def place(self, key: object, bus: int, address: int,
              intervals: dict[int, int] | None = None) -> Placement:
        """Where device `key` (at `bus`/`address` on its own backend) appears in this file: the same
        bus and address unless another recorded device already has them (two targets on one virtual
        bus 1), then the next free bus. Each bus is one pcapng interface, as usbmonN."""
        with self._lock:
            taken = {where for k, where in self._places.items() if k != id(key)}
            if (bus, address) in taken:
                bus = max(b for b, _ in taken) + 1
            self._places[id(key)] = (bus, address)
            if bus not in self._interfaces:
                self._interfaces[bus] = self.writer.add_interface(
                    usbmon.LINKTYPE_USB_LINUX_MMAPPED, snaplen=SNAPLEN, name=f"usbmon{bus}",
                    description=f"USB bus {bus} as the rig's pyusb backend saw it")
            place = Placement(self, len(self._placements), self._interfaces[bus], bus, address,
                              dict(intervals or {}))
            self._placements.append(place)
            return place

    def mark(self, text: str) -> None:
        """Encode what was logged so far, then put `text` as a comment on the next packet (the first
        of a test step)."""
        with self._lock:
            self.encode_log()
            self._pending = text if self._pending is None else f"{self._pending} | {text}"

    def encode_log(self) -> None:
        """Encode the logged transfers as Submit/Complete events in time order (transfers logged
        meanwhile by other threads stay for the next call)."""
        with self._lock:
            count = len(self.log)
            if not count:
                return
            flat = self.log[:count]
            del self.log[:count]
            pieces = self._pieces(flat)
            starts = cast("list[int]", flat[1::ENTRY_FIELDS])
            ends = cast("list[int]", flat[2::ENTRY_FIELDS])
            if not all(map(le, ends, itertools.islice(starts, 1, None))):
                # Transfers overlapped (a read waiting in another thread): events in time order, each
                # transfer's Submit before its Complete where the times are equal (a stable sort).
                stamps = [stamp for pair in zip(starts, ends, strict=True) for stamp in pair]
                order = sorted(range(len(stamps)), key=stamps.__getitem__)
                pieces = [piece for i in order for piece in pieces[i * PIECES:(i + 1) * PIECES]]
            if self._pending is not None:  # the step's comment goes on its first packet
                pieces[:PIECES] = [pcapng.with_comment(b"".join(pieces[:PIECES]), self._pending), b"", b""]
                self._pending = None
            self.events += len(pieces) // PIECES
            self.writer.write_blocks(pieces, PIECES)

    def _pieces(self, flat: list[object]) -> list[bytes]:
        """Each logged transfer's Submit and Complete as enhanced packet blocks, in log order, each
        as PIECES pieces: head (block head and usbmon header, one struct call with the fields fixed
        for the device, endpoint and direction packed beforehand), the logged data itself (no copy),
        tail (pad and trailing length)."""
        to_wall = self._wall0 - self._perf0
        urbs = self._urb_ids
        pieces: list[bytes] = []
        add = pieces.extend
        pack, tail = _HEAD_VARYING.pack, _TAIL_BY_LENGTH
        templates = self._templates
        epb, in_progress, ok = pcapng.EPB_TYPE, usbmon.STATUS_IN_PROGRESS, usbmon.STATUS_OK
        entries = zip(*[iter(flat)] * ENTRY_FIELDS, strict=True)
        for code, t0, t1, where, in_len, result, data in entries:
            if where.__class__ is int:
                fixed = templates.get(code << 8 | where)
                if fixed is None:
                    fixed = templates[code << 8 | where] = self._template(code, where)
            else:  # a control transfer: its setup, direction from bmRequestType; wLength as urb_len
                fixed = self._template(code, where)
                in_len = where[4]
            iface, is_in, submit, complete, setup_after, after = fixed
            urb = next(urbs)
            if is_in:  # the data comes with the completion
                sent, got, urb_len = b"", (data or b"") if result >= 0 else b"", in_len
            else:
                sent = data or b""
                got, urb_len = b"", len(sent)
            n = len(sent)
            stamp = to_wall + t0
            seconds, nanoseconds = divmod(stamp, 1_000_000_000)
            add((pack(epb, 96 + n + (-n & 3), iface, stamp >> 32, stamp & 0xFFFFFFFF, 64 + n, 64 + n, urb,
                      submit, seconds, nanoseconds // 1000, in_progress, urb_len, n, setup_after),
                 sent, tail[n]))
            n = len(got)
            stamp = to_wall + t1
            seconds, nanoseconds = divmod(stamp, 1_000_000_000)
            add((pack(epb, 96 + n + (-n & 3), iface, stamp >> 32, stamp & 0xFFFFFFFF, 64 + n, 64 + n, urb,
                      complete, seconds, nanoseconds // 1000, ok if result >= 0 else result, max(result, 0),
                      n, after), got, tail[n]))
        return pieces

    def _template(self, code: int, where: int | Setup) -> Template:
        """The fields of a transfer's events fixed by its device, transfer type, endpoint and
        direction (and a control transfer's setup), packed."""
        place = self._placements[code >> 3]
        xfer = code >> 1 & 3
        if isinstance(where, tuple):
            ep = where[0] & 0x80
            setup_flag, setup = usbmon.SETUP_PRESENT, usbmon.setup_packet(*where)
        else:
            ep = where | 0x80 if code & 1 else where & 0x7F
            setup_flag, setup = usbmon.NO_SETUP, _NO_SETUP
        is_in = bool(ep & 0x80)
        interval = place.intervals.get(ep, 0) if xfer == usbmon.INTERRUPT else 0
        direction = usbmon.URB_DIR_IN if is_in else 0
        # flag_data: an IN submit has none yet, an OUT completion none any more ('<', '>').
        submit = _MIDDLE.pack(usbmon.SUBMIT, xfer, ep, place.address, place.bus, setup_flag,
                              usbmon.NO_DATA_IN if is_in else usbmon.DATA_PRESENT)
        complete = _MIDDLE.pack(usbmon.COMPLETE, xfer, ep, place.address, place.bus, usbmon.NO_SETUP,
                                usbmon.DATA_PRESENT if is_in else usbmon.NO_DATA_OUT)
        return (place.interface, is_in, submit, complete, _AFTER.pack(setup, interval, 0, direction, 0),
                _AFTER.pack(_NO_SETUP, interval, 0, direction, 0))

    def write_now(self, place: Placement, kind: bytes, ep: int, status: int, urb_len: int, data: bytes,
                  setup: Setup | None, *, urb: int | None = None, comment: str | None = None,
                  preamble: bool = False) -> int:
        """Encode one control event at once (the synthesised enumeration), after what is logged;
        returns its URB id (pass it to the completion)."""
        with self._lock:
            self.encode_log()
            urb = next(self._urb_ids) if urb is None else urb
            self._write(place, time.perf_counter_ns(), urb, kind, usbmon.CONTROL, ep, status, urb_len, data,
                        setup, 0, comment=comment, preamble=preamble)
            return urb

    def _write(self, place: Placement, perf_ns: int, urb: int, kind: bytes, xfer: int, ep: int, status: int,
               urb_len: int, data: bytes, setup: Setup | None, interval: int, *, comment: str | None = None,
               preamble: bool = False) -> None:
        stamp = self.wall_ns(perf_ns)
        pending, self._pending = self._pending, None
        self.events += 1
        if comment is None and pending is None:
            block = _epb(place.interface, stamp, urb, kind, xfer, ep, place.address, place.bus, status,
                         urb_len, data, setup, interval)
            self.writer.write_block(block, preamble=preamble)
            return
        packet = usbmon.pack_event(urb, kind, xfer, ep, place.address, place.bus, stamp, status, urb_len,
                                   data, None if setup is None else usbmon.setup_packet(*setup), interval)
        text = "\n".join(t for t in (comment, pending) if t)
        self.writer.write_packet(place.interface, stamp, packet, comment=text, preamble=preamble)

    def flush(self) -> None:
        """Everything recorded so far on disk."""
        with self._lock:
            self.encode_log()
            self.writer.flush()

    def close(self) -> None:
        """Encode what is logged, then flush and close the file; safe to call twice."""
        with self._lock:
            if not self.writer.closed:
                self.encode_log()
            self.writer.close()

"""One USB capture: a pcapng file of usbmon events (link type 220) that Wireshark decodes.

The recording backend (rig.links.recording_backend) only logs one transfer's raw fields (a code
naming device, transfer type and direction, submit and completion times on the performance counter,
endpoint, buffer length, result) and its data (a copy, or the bytes object a link backend made):
that is all a transfer pays. The log is encoded (rig.links.capture_blocks) into Submit/Complete
blocks, in time order, a batch at a time: at step boundaries (`mark`), at `flush`/`close`, and
when the bytes it holds pass `log_budget` (LOG_BYTES, or the ring's size when there is a ring, so a
ring of N MB also bounds what waits to be encoded), so the encoding work lands between a
measurement's steps, not inside them (as usbmon's reader runs apart from the transfers it records).
A transfer still in flight while the log is encoded (a read waiting in another thread) is written
with the next batch, so its Submit can follow later packets in the file; its time stamp stays right.
"""

from __future__ import annotations

import functools
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rig.links import capture_blocks, pcapng, usbmon
from rig.links.capture_blocks import FIELDS as ENTRY_FIELDS
from rig.links.capture_blocks import HeadTable, Template, entry_code
from rig.links.pcapng import PcapngWriter, SectionInfo

__all__ = ["ENTRY_BYTES", "ENTRY_FIELDS", "LOG_BYTES", "SNAPLEN", "Entry", "Placement", "Setup", "UsbCapture",
           "entry_code"]

SNAPLEN = 0x40000
LOG_BYTES = 32 * 1024 * 1024
"""Bytes of logged transfers (data plus ENTRY_BYTES each) a capture without a ring holds before a
transfer encodes the log itself (bounds the log's memory)."""

ENTRY_BYTES = 160
"""Memory a logged transfer holds besides its data: 7 list slots, 2 time stamps, a bytes header."""

Setup = tuple[int, int, int, int, int]
"""bmRequestType, bRequest, wValue, wIndex, wLength of a control transfer."""
Entry = tuple[int, int, int, int, int, int, bytes]
"""One transfer as the recording backend logs it (capture_blocks.FIELDS says what each field is)."""

_HEAD = struct.Struct("<7I" + usbmon.HEADER.format.lstrip("<"))
"""An enhanced packet block's head (type, total length, interface, time stamp, lengths) and the
usbmon header after it, packed in one call; the captured data follows."""
_TAILS = [struct.Struct(f"<{pad}xI") for pad in range(4)]
"""By pad length: the pad after the data and the block's trailing total length."""
_NO_SETUP = bytes(8)
_MIDDLE = struct.Struct("<cBBBHcB")
"""usbmon bytes 8..15: event type, transfer type, endpoint, device, bus, flag_setup, flag_data."""
_WORDS = struct.Struct("<II")


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


PlacedAt = tuple[int, int, int, tuple[tuple[int, int], ...]]
"""A placement's pcapng interface, bus, address and endpoints' bIntervals: all its events' fixed
head words depend on."""


@functools.lru_cache(maxsize=64)
def head_table(places: tuple[PlacedAt, ...]) -> HeadTable:
    """The head table of captures whose devices are placed at `places` (by placement key): kept for
    the sets of places seen last, so a new capture of the same device does not build it again."""
    return HeadTable(functools.partial(template, places))


def template(places: tuple[PlacedAt, ...], key: int) -> Template:
    """The head words of a transfer's events fixed by its device, transfer type, endpoint and
    direction: `key` is its entry code << 8 | the low byte of its `where` (the endpoint address as
    given, its direction taken from the code; a control transfer's bmRequestType)."""
    code, low = key >> 8, key & 0xFF
    interface, bus, address, intervals = places[code >> 3]
    xfer = code >> 1 & 3
    ep = low & 0x80 if xfer == usbmon.CONTROL else low | 0x80 if code & 1 else low & 0x7F
    is_in = bool(ep & 0x80)
    interval = dict(intervals).get(ep, 0) if xfer == usbmon.INTERRUPT else 0
    setup_flag = usbmon.SETUP_PRESENT if xfer == usbmon.CONTROL else usbmon.NO_SETUP
    # flag_data: an IN submit has none yet, an OUT completion none any more ('<', '>').
    submit = _MIDDLE.pack(usbmon.SUBMIT, xfer, ep, address, bus, setup_flag,
                          usbmon.NO_DATA_IN if is_in else usbmon.DATA_PRESENT)
    complete = _MIDDLE.pack(usbmon.COMPLETE, xfer, ep, address, bus, usbmon.NO_SETUP,
                            usbmon.DATA_PRESENT if is_in else usbmon.NO_DATA_OUT)
    return Template(interface, _WORDS.unpack(submit), _WORDS.unpack(complete),
                    (interval, 0, usbmon.URB_DIR_IN if is_in else 0, 0),
                    is_in | (xfer == usbmon.CONTROL) << 1)


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
        self.log_budget = LOG_BYTES if ring_bytes is None else min(ring_bytes, LOG_BYTES)
        """Bytes (data plus ENTRY_BYTES per transfer) a recorded device logs before it encodes the
        log: a ring of N MB keeps its last N MB and holds no more than that waiting to be encoded."""
        self.log: list[object] = []
        """Transfers not yet encoded, each as ENTRY_FIELDS consecutive items (an Entry's fields): the
        recording backend extends this very list by one Entry per transfer, in one call."""
        self._interfaces: dict[int, int] = {}
        self._places: dict[int, tuple[int, int]] = {}
        self._placements: list[Placement] = []
        self._next_urb = 1
        self._heads: HeadTable | None = None
        """The fixed head words of the transfers logged here (one table for every capture of devices
        placed alike); None until the next batch after a device is placed."""
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
            self._heads = None
            return place

    def mark(self, text: str) -> None:
        """Encode what was logged so far, then put `text` as a comment on the next packet (the first
        of a test step)."""
        with self._lock:
            self.encode_log()
            self._pending = text if self._pending is None else f"{self._pending} | {text}"

    def encode_log(self) -> None:
        """Encode the logged transfers as Submit/Complete events in time order (transfers logged
        meanwhile by other threads stay for the next call), and hand them to the file."""
        with self._lock:
            count = len(self.log) // ENTRY_FIELDS
            if not count:
                return
            flat = self.log[:count * ENTRY_FIELDS]
            del self.log[:count * ENTRY_FIELDS]
            if self._heads is None:
                self._heads = head_table(tuple(
                    (p.interface, p.bus, p.address, tuple(sorted(p.intervals.items())))
                    for p in self._placements))
            pending, self._pending = self._pending, None
            capture_blocks.encode(flat, self._heads, self._wall0 - self._perf0, self._next_urb,
                                  self._write_batch, pending)
            self._next_urb += count
            self.events += 2 * count

    def _write_batch(self, batch: capture_blocks.Encoded, last: bool) -> None:
        """Hand (a part of) an encoded batch to the file, flushed with the batch's last part."""
        self.writer.write_run(batch.data, batch.starts, flush=last)

    def write_now(self, place: Placement, kind: bytes, ep: int, status: int, urb_len: int, data: bytes,
                  setup: Setup | None, *, urb: int | None = None, comment: str | None = None,
                  preamble: bool = False) -> int:
        """Encode one control event at once (the synthesised enumeration), after what is logged;
        returns its URB id (pass it to the completion)."""
        with self._lock:
            self.encode_log()
            if urb is None:
                urb, self._next_urb = self._next_urb, self._next_urb + 1
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

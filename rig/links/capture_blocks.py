"""Logged transfers into pcapng blocks, by one of two encoders that write the same bytes: the C
encoder (capture_encoder.c, loaded by capture_native; `encode_native`) where `make` built it, and
numpy's (`encode_numpy`), its fallback, described below. In the capture benchmark's bulk IN blocks
(1000-byte frames, 400 a batch, the two alternating, load 4) the C one took 0.34 us CPU per frame
from the log to the batch's bytes, numpy's 1.25.

The numpy encoder works column-wise: every block's head and tail computed for a
whole batch at once (one numpy operation per field, not a Python loop per transfer) and scattered
into the batch's bytes, which one C-level writelines lays out, zeroed room around each data, in a
buffer reused from batch to batch.

Why: encoding is the capture's main cost besides the transfers' own logging; done a field at a time
for all transfers, it costs less than packing each event in Python (measured on 400-transfer
batches under load, close and file write included: 3.6 -> 2.6-2.8 us CPU per 4-byte transfer,
4.1 -> 2.8-3.3 us per 1040-byte frame). Per transfer the bytes are:

  OUT: Submit head (92) | data | pad | Submit tail (4) | Complete head (92) | Complete tail (4)
  IN:  Submit head (92) | Submit tail (4) | Complete head (92) | data | pad | Complete tail (4)

A head is the enhanced packet block's head (type, total length, interface, time stamp, lengths) and
the 64-byte usbmon header; pad brings the data to 32 bits; a tail repeats the total length.
Per batch the cost is mostly numpy's fixed cost per call, so the calls are few: the fixed words of
every head come from one table look-up (HeadTable), each head goes in with the tail before it as one
row, and the zeroed room around the data follows from the blocks' bounds (in the benchmark, bulk IN
batches of 405 transfers, file write included: 1089 -> 865 us CPU, alternating with the encoder
before, load 19).
"""

from __future__ import annotations

import functools
import io
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt

from rig.links import capture_native, pcapng, usbmon

HEAD = 92
"""An enhanced packet block's head (28 bytes) and the usbmon header (64 bytes)."""
TAIL = 4
BLOCK = HEAD + TAIL
"""A block's bytes besides its data and pad."""
FIELDS = 7
"""Log entry fields per transfer: code (`entry_code`), submit ns, completion ns (performance
counter), where (the endpoint address as the backend was given it; for a control transfer
`control_where` of its setup), urb_len (an IN transfer's buffer length, a control IN's wLength;
unused for OUT, whose data length is its urb_len and a control OUT's wLength), result (bytes transferred
or a negative usbmon status), data (bytes: OUT data whatever the result, IN data received)."""
ROW = HEAD // 4 + 1
"""Words a head is written with: the previous block's tail (its total length), then the head. Every
tail but a batch's last is followed at once by the next block's head (data never sits between a
tail and the next head), so one row scatter writes both."""
_ZERO_PIECES = np.empty(4 + BLOCK + HEAD + TAIL + BLOCK + 4, dtype=object)
_ZERO_PIECES[:] = [bytes(n) for n in range(len(_ZERO_PIECES))]
"""Zeroed room by length: what goes between two transfers' data (the first's pad, tail and following
block, the second's head and the blocks before it), or before the first, or after the last."""
_URB, _SECONDS, _SETUP = 4, 6, 9
"""A row's 64-bit fields (usbmon id, ts_sec, setup) as 64-bit words of it."""


def entry_code(key: int, xfer: int, is_in: bool) -> int:
    """A log entry's first field: which recorded device of the capture (placement key), the usbmon
    transfer type and the direction, in one small int (fixed per recorded function)."""
    return key << 3 | xfer << 1 | is_in


def control_where(bm: int, request: int, value: int, index: int) -> int:
    """A control transfer's `where` field: its setup but wLength (logged as its urb_len)."""
    return bm | request << 8 | value << 16 | index << 32


@dataclass(frozen=True)
class Template:
    """The head words fixed by a transfer's device, type, endpoint and direction: pcapng interface,
    usbmon bytes 8..15 (event type, transfer type, endpoint, device, bus, setup and data flags) of
    the Submit and of the Complete, and the usbmon interval, start_frame, transfer flags and ndesc."""

    interface: int
    submit: tuple[int, int]
    complete: tuple[int, int]
    after: tuple[int, int, int, int]
    kind: int
    """1 for an IN transfer, plus 2 for a control transfer."""


@dataclass
class Encoded:
    """A batch of blocks: the bytes, in time order, and where each block starts in them."""

    data: bytes | memoryview
    starts: npt.NDArray[np.int64] | memoryview


Sink = Callable[[Encoded, bool], None]
"""Where an encoder hands its batch: in one or two parts, the bool True with the last."""


class _Workspace:
    """Memory the encoder reuses from batch to batch (and capture to capture), so that a batch does
    not fault in fresh pages for its bytes, heads and scatter indices (measured on the benchmark:
    that cost more than the encoding itself). At most KEEP_BYTES of each stays between batches."""

    KEEP_BYTES = 8 * 1024 * 1024

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stream = io.BytesIO()
        self.heads = np.empty((0, 2, ROW), dtype=np.uint32)
        self.out = bytearray()
        """The C encoder's batch bytes."""
        self.starts = bytearray()
        """The C encoder's block starts (int64; a bytearray, not numpy: numpy calls are what cost
        at close, several us each in the benchmark's blocks)."""

    def arrays(self, count: int) -> npt.NDArray[np.uint32]:
        """Rows (count, 2, ROW), contents undefined."""
        if len(self.heads) < count:
            self.heads = np.empty((max(count, 2 * len(self.heads)), 2, ROW), dtype=np.uint32)
        return self.heads[:count]

    def room(self, size: int, blocks: int) -> None:
        """The C encoder's buffers, at least `size` bytes and `blocks` starts (contents undefined)."""
        if len(self.out) < size:
            self.out = bytearray(max(size, 2 * len(self.out)))
        if len(self.starts) < 8 * blocks:
            self.starts = bytearray(max(8 * blocks, 2 * len(self.starts)))

    def trim(self) -> None:
        """Let go of memory past KEEP_BYTES (a huge batch's)."""
        if self.heads.nbytes > self.KEEP_BYTES:
            self.heads = np.empty((0, 2, ROW), dtype=np.uint32)
        if self.stream.tell() > self.KEEP_BYTES:
            self.stream = io.BytesIO()
        if len(self.out) > self.KEEP_BYTES:
            self.out = bytearray()
        if len(self.starts) > self.KEEP_BYTES:
            self.starts = bytearray()


_WORKSPACE = _Workspace()


def encode_native(flat: list[object], heads_of: HeadTable, to_wall: int, first_urb: int, sink: Sink,
                  comment: str | None = None) -> None:
    """As encode_numpy, by the C encoder (capture_native.ENCODER, which must be loaded): the same
    bytes, in one pass over the log, handed on in one part."""
    encoder = capture_native.ENCODER
    assert encoder is not None, capture_native.MISSING
    count = len(flat) // FIELDS
    options = None if comment is None else pcapng.encode_options([(pcapng.OPT_COMMENT, comment.encode())])
    workspace = _WORKSPACE
    with workspace.lock:
        workspace.room(0, 2 * count)
        while True:
            lookup = heads_of.rows_by_key  # before the table: a row it names is in the table
            size = encoder(flat, lookup, heads_of.table, heads_of.kinds, to_wall, first_urb, options,
                           workspace.out, workspace.starts)
            if size < -1:  # a key with no row yet: add it, then encode again
                heads_of.rows(np.array([-2 - size], dtype=np.int64))
            elif size > len(workspace.out):  # the batch needs more room: give it, then encode again
                workspace.room(size, 0)
            else:
                break
        with (memoryview(workspace.out) as view, view[:size] as batch,
              memoryview(workspace.starts) as words, words.cast("q") as starts, starts[:2 * count] as used):
            sink(Encoded(batch, used), True)
        workspace.trim()


def encode_numpy(flat: list[object], heads_of: HeadTable, to_wall: int, first_urb: int, sink: Sink,
                 comment: str | None = None) -> None:
    """The Submit and Complete blocks of the logged transfers `flat` (FIELDS items each), handed to
    `sink` (valid during the call only): URB ids from `first_urb` in log order, time stamps `to_wall`
    + the logged ones, blocks in time order (a stable sort when transfers overlapped), `comment` (a
    step's) on the first block."""
    def commented(data: bytes | memoryview, starts: npt.NDArray[np.int64]) -> None:
        if comment is None:
            sink(Encoded(data, starts), True)
            return
        first, rest = with_first_comment(data, starts, comment)
        sink(first, not len(rest.starts))
        if len(rest.starts):
            sink(rest, True)

    datas = cast("list[bytes]", flat[FIELDS - 1::FIELDS])
    fields = flat[:]
    del fields[FIELDS - 1::FIELDS]
    # One struct.pack of all the ints: the cheapest way found from Python ints to an int64 array.
    log = np.frombuffer(struct.pack(f"<{len(fields)}q", *fields), dtype=np.int64).reshape(-1, FIELDS - 1)
    count = len(log)
    where, urb_len, result = log[:, 3], log[:, 4], log[:, 5]
    nbytes = np.fromiter(map(len, datas), dtype=np.int64, count=count)
    row = heads_of.rows(log[:, 0] << 8 | where & 0xFF)
    kind = heads_of.kinds.take(row, axis=0)
    is_in = kind[:, 1]
    data_len = kind[:, :2] * nbytes[:, None]  # (submit, completion) per transfer
    total = (data_len + 3 & -4) + BLOCK
    bounds = np.zeros(2 * count + 1, dtype=np.int64)  # bounds[e]: where block e starts, in the batch
    np.add.accumulate(total.reshape(-1), out=bounds[1:])
    # Each transfer's data and the zeroed room around it; the batch is laid out after a 4-byte slot
    # for the first row's (absent) previous tail.
    marks = np.empty(2 * count + 2, dtype=np.int64)
    marks[0], marks[-1] = -4, bounds[-1]
    starts = np.add(np.where(is_in, bounds[1::2], bounds[:-1:2]), HEAD, out=marks[1:-1:2])
    np.add(starts, nbytes, out=marks[2:-1:2])
    pieces: list[bytes | None] = [None] * (2 * count + 1)
    pieces[::2] = _ZERO_PIECES.take(marks[1::2] - marks[::2]).tolist()
    pieces[1::2] = datas
    stamp = log[:, 1:3] + to_wall  # (submit, completion) per transfer

    workspace = _WORKSPACE
    with workspace.lock:
        heads = workspace.arrays(count)
        np.take(heads_of.table, row, axis=0, out=heads)
        # A value goes into a word as its low 32 bits; the 64-bit fields through the wide view.
        heads.reshape(-1, ROW)[1:, 0] = total.reshape(-1)[:-1]
        heads[:, :, 2] = total
        heads[:, :, 4] = stamp >> 32
        heads[:, :, 5] = stamp
        heads[:, :, 6] = heads[:, :, 7] = data_len + 64
        wide = heads.view(np.uint64)
        wide[:, :, _URB] = np.arange(first_urb, first_urb + count, dtype=np.uint64)[:, None]
        seconds, nanoseconds = np.divmod(stamp, 1_000_000_000)
        wide[:, :, _SECONDS] = seconds
        heads[:, :, 14] = nanoseconds // 1000
        heads[:, 1, 15] = np.minimum(result, 0)
        heads[:, 0, 16] = submitted = np.where(is_in, urb_len, nbytes)
        heads[:, 1, 16] = np.maximum(result, 0)
        heads[:, :, 17] = data_len
        wide[:, 0, _SETUP] = (where | submitted << 48) * kind[:, 2]  # a control transfer's only

        stream = workspace.stream
        stream.seek(0)
        stream.writelines(cast("list[bytes]", pieces))
        used = stream.tell()
        with stream.getbuffer() as view:
            words = np.frombuffer(view, dtype=np.uint32, count=used // 4)
            # Each row is ROW consecutive words from the block's start: seen as rows starting at
            # every word, the rows go in whole; the batch's last tail on its own.
            rows = np.ndarray((used // 4 - ROW + 1, ROW), np.uint32, view, 0, (4, 4))
            rows[bounds[:-1] // 4] = heads.reshape(-1, ROW)
            words[-1] = total[-1, 1]
            del rows, words
            t0, t1 = log[:, 1], log[:, 2]
            if count > 1 and (t1[:-1] > t0[1:]).any():
                # Transfers overlapped (a read waiting in another thread): blocks in time order, each
                # transfer's Submit before its Complete where the times are equal (a stable sort).
                order = np.argsort(stamp.reshape(-1), kind="stable")
                joined = b"".join(map(view.__getitem__, map(slice, (bounds[:-1][order] + 4).tolist(),
                                                             (bounds[1:][order] + 4).tolist())))
                moved = np.zeros(2 * count, dtype=np.int64)
                np.cumsum(total.reshape(-1)[order][:-1], out=moved[1:])
                commented(joined, moved)
            else:
                with view[4:used] as batch:
                    commented(batch, bounds[:-1])
        workspace.trim()


encode = encode_native if capture_native.ENCODER is not None else encode_numpy
"""The encoder captures use: the C one when its library is built for this Python, else numpy's."""


class HeadTable:
    """The row words fixed by each kind of transfer a capture logged (its Template), as rows of one
    table that a whole batch finds by one look-up: key (entry code << 8 | the low byte of `where`)
    -> row. Captures of devices placed alike share one (`UsbCapture` keeps them), so a new capture of
    the same device finds its rows ready. Rows are only added, so a batch reads it without a lock."""

    def __init__(self, template: Callable[[int], Template]) -> None:
        self._template = template
        self._lock = threading.Lock()
        self.rows_by_key = np.full(0, -1, dtype=np.intp)
        self.table = np.empty((0, 2, ROW), dtype=np.uint32)
        """Per row: the Submit's and the Complete's fixed row words (`row_words`)."""
        self.kinds = np.empty((0, 3), dtype=np.int64)
        """Per row: whether its Submit carries the data (OUT), whether its Complete does (IN), and
        whether it is a control transfer: 0 or 1 each."""

    def rows(self, keys: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        """The table row of each key (keys not seen before are added first)."""
        try:
            found: npt.NDArray[np.intp] = self.rows_by_key[keys]
            if not len(found) or found.min() >= 0:
                return found
        except IndexError:
            pass
        self._add(sorted(set(keys.tolist())))
        return self.rows_by_key[keys]

    def _add(self, keys: list[int]) -> None:
        with self._lock:
            lookup = self.rows_by_key
            new = [key for key in keys if key >= len(lookup) or lookup[key] < 0]
            if not new:
                return
            templates = [self._template(key) for key in new]
            table = np.concatenate([self.table, np.stack([row_words(t) for t in templates])])
            kinds = np.concatenate([self.kinds, np.array([(1 - (t.kind & 1), t.kind & 1, t.kind >> 1)
                                                          for t in templates], dtype=np.int64)])
            grown = np.full(max(len(lookup), max(new) + 1), -1, dtype=np.intp)
            grown[:len(lookup)] = lookup
            grown[new] = np.arange(len(self.table), len(table))
            # table and kinds before the look-up: a batch that finds a new row finds it filled
            self.table, self.kinds = table, kinds
            self.rows_by_key = grown


@functools.lru_cache(maxsize=256)
def row_words(template: Template) -> npt.NDArray[np.uint32]:
    """A template as the Submit's and the Complete's row words: fixed fields set, the others 0."""
    submit = [0] * ROW
    submit[1], submit[3] = pcapng.EPB_TYPE, template.interface
    submit[20:24] = template.after
    complete = submit[:]
    submit[10:12], complete[10:12] = template.submit, template.complete
    submit[15] = usbmon.STATUS_IN_PROGRESS
    words = np.array([submit, complete], dtype=np.int64).astype(np.uint32)
    words.flags.writeable = False
    return words


def with_first_comment(data: bytes | memoryview, starts: npt.NDArray[np.int64], comment: str
                       ) -> tuple[Encoded, Encoded]:
    """A batch's first block with `comment` on it (a step's first packet), and the rest of the
    batch (as a view: the batch is not copied)."""
    end = int(starts[1]) if len(starts) > 1 else len(data)
    first = pcapng.with_comment(bytes(data[:end]), comment)
    return Encoded(first, starts[:1]), Encoded(memoryview(data)[end:], starts[1:] - end)

"""A pcapng file writer (stdlib only): one section header, interfaces, enhanced packet blocks with
comments, and an optional ring that keeps only the newest packets within a byte budget.

Why here: the USB capture (rig.links.capture) needs a file Wireshark and tshark read as they are,
written by the rig itself with no capture library. Blocks follow the pcapng specification
(draft-ietf-opsawg-pcapng): little-endian section, options padded to 32 bits, total length at both
ends of every block.
"""

from __future__ import annotations

import collections
import itertools
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

SHB_TYPE = 0x0A0D0D0A
IDB_TYPE = 0x00000001
EPB_TYPE = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D

OPT_ENDOFOPT = 0
OPT_COMMENT = 1
SHB_HARDWARE = 2
SHB_OS = 3
SHB_USERAPPL = 4
IF_NAME = 2
IF_DESCRIPTION = 3
IF_TSRESOL = 9

TSRESOL_NS = 9
"""if_tsresol value: timestamps in nanoseconds (10^-9 s)."""

_OPTION_HEAD = struct.Struct("<HH")
_BLOCK_HEAD = struct.Struct("<II")
_EPB_FIXED = struct.Struct("<IIIII")


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def encode_options(options: list[tuple[int, bytes]]) -> bytes:
    """Options as pcapng lays them out: code, length, value padded to 32 bits, then opt_endofopt
    (nothing at all when there are no options)."""
    if not options:
        return b""
    out = bytearray()
    for code, value in options:
        out += _OPTION_HEAD.pack(code, len(value)) + _pad(value)
    out += _OPTION_HEAD.pack(OPT_ENDOFOPT, 0)
    return bytes(out)


def encode_block(block_type: int, body: bytes) -> bytes:
    """A whole block: type, total length, body (already 32-bit aligned), total length again."""
    total = len(body) + 12
    return _BLOCK_HEAD.pack(block_type, total) + body + struct.pack("<I", total)


def section_header(hardware: str = "", os_name: str = "", application: str = "",
                   comments: tuple[str, ...] = ()) -> bytes:
    """A section header block (version 1.0, section length unknown) with shb_hardware, shb_os,
    shb_userappl and comment options for those given."""
    options = [(OPT_COMMENT, text.encode()) for text in comments]
    options += [(code, text.encode()) for code, text in
                ((SHB_HARDWARE, hardware), (SHB_OS, os_name), (SHB_USERAPPL, application)) if text]
    body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + encode_options(options)
    return encode_block(SHB_TYPE, body)


def interface_description(link_type: int, snaplen: int = 0, name: str = "", description: str = "",
                          tsresol: int = TSRESOL_NS, comment: str = "") -> bytes:
    """An interface description block; `tsresol` is the if_tsresol exponent (9: nanoseconds)."""
    named = ((OPT_COMMENT, comment), (IF_NAME, name), (IF_DESCRIPTION, description))
    options = [(code, text.encode()) for code, text in named if text]
    options.append((IF_TSRESOL, bytes([tsresol])))
    body = struct.pack("<HHI", link_type, 0, snaplen) + encode_options(options)
    return encode_block(IDB_TYPE, body)


def enhanced_packet(interface: int, timestamp: int, data: bytes, comment: str | None = None) -> bytes:
    """An enhanced packet block: `timestamp` in the interface's units, the whole packet captured."""
    options = encode_options([(OPT_COMMENT, comment.encode())]) if comment else b""
    body = (_EPB_FIXED.pack(interface, timestamp >> 32, timestamp & 0xFFFFFFFF, len(data), len(data))
            + _pad(data) + options)
    return encode_block(EPB_TYPE, body)


def with_comment(block: bytes, comment: str) -> bytes:
    """An enhanced packet block with no options given an opt_comment: the same packet, commented."""
    return encode_block(EPB_TYPE, block[8:-4] + encode_options([(OPT_COMMENT, comment.encode())]))


@dataclass(frozen=True)
class SectionInfo:
    """What the section header says about where the capture was made."""

    hardware: str = ""
    """shb_hardware: the target (kind, serial, firmware)."""
    os_name: str = ""
    """shb_os: the host's operating system."""
    application: str = ""
    """shb_userappl: the program that wrote the file."""
    comments: tuple[str, ...] = ()


class PcapngWriter:
    """Writes one section to `path`. Blocks given as `preamble=True` (interfaces, the descriptor
    exchanges a decoder needs first) are always kept; with `ring_bytes` only the newest other packets
    whose blocks fit that budget are kept, in memory, and the file is written at flush()/close()."""

    def __init__(self, path: Path | str, section: SectionInfo, *, ring_bytes: int | None = None) -> None:
        if ring_bytes is not None and ring_bytes <= 0:
            raise ValueError(f"ring_bytes must be positive, got {ring_bytes}")
        self.path = Path(path)
        self.ring_bytes = ring_bytes
        self._lock = threading.Lock()
        self._head = bytearray(section_header(section.hardware, section.os_name, section.application,
                                              section.comments))
        self._interfaces = 0
        self._ring: collections.deque[bytes] = collections.deque()
        self._ring_size = 0
        self.dropped = 0
        """Packets the ring let go of (0 without a ring)."""
        self._file: BinaryIO | None = None
        if ring_bytes is None:
            self._file = self.path.open("wb")
            self._file.write(self._head)
        self._closed = False

    def add_interface(self, link_type: int, *, snaplen: int = 0, name: str = "",
                      description: str = "", comment: str = "") -> int:
        """Describe an interface; returns its id for `write_packet`."""
        block = interface_description(link_type, snaplen, name, description, comment=comment)
        with self._lock:
            self._append(block, preamble=True)
            self._interfaces += 1
            return self._interfaces - 1

    def write_packet(self, interface: int, timestamp_ns: int, data: bytes, *, comment: str | None = None,
                     preamble: bool = False) -> None:
        """One packet; `preamble` packets survive the ring."""
        block = enhanced_packet(interface, timestamp_ns, data, comment)
        with self._lock:
            self._append(block, preamble=preamble)

    def write_block(self, block: bytes, *, preamble: bool = False) -> None:
        """A block encoded by the caller (a whole enhanced packet block); `preamble` as write_packet."""
        with self._lock:
            self._append(block, preamble=preamble)

    def write_run(self, data: bytes | memoryview, starts: Sequence[int] | npt.NDArray[np.int64], *,
                  flush: bool = True) -> None:
        """Blocks encoded by the caller, back to back in `data`, none of them preamble, block i
        starting at starts[i]: write_block for a batch, under one lock and, without a ring, in one
        write, flushed to the OS unless `flush` is False (the batch's rest follows at once): a crash
        loses at most the batch being encoded."""
        with self._lock:
            if self._file is None or self._closed:
                bounds = [int(start) for start in starts] + [len(data)]
                for start, end in itertools.pairwise(bounds):
                    self._append(bytes(data[start:end]), preamble=False)
            else:
                self._file.write(data)
                if flush:
                    self._file.flush()

    def _append(self, block: bytes, *, preamble: bool) -> None:
        if self._closed:
            raise ValueError(f"{self.path}: capture file is closed")
        if self._file is not None:
            self._file.write(block)
            return
        if preamble:
            self._head += block
            return
        self._ring.append(block)
        self._ring_size += len(block)
        assert self.ring_bytes is not None
        while self._ring_size > self.ring_bytes and len(self._ring) > 1:
            self._ring_size -= len(self._ring.popleft())
            self.dropped += 1

    def flush(self) -> None:
        """Make the file hold everything kept so far (with a ring: rewrite it whole)."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._file is not None:
            self._file.flush()
            return
        with self.path.open("wb") as out:
            out.write(self._head)
            out.writelines(self._ring)

    @property
    def closed(self) -> bool:
        """True after close()."""
        return self._closed

    def close(self) -> None:
        """Flush and close; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._flush()
            if self._file is not None:
                self._file.close()
            self._closed = True

"""The output of a jackd the rig started: an unnamed temporary file that jackd appends to and the rig
reads, freeing what it has read.

Unnamed, so no log outlives the processes that hold it (a killed test run left 147 named jackd logs
in /tmp). Bounded on disk: under load a 32-frame server logs a late cycle up to ~1,500 times a second
(~60 KB/s, hundreds of MB in an hour-long soak), so every read releases the blocks already read
(fallocate PUNCH_HOLE: the file keeps its length, the disk space is freed; where a file system cannot
punch holes the log only grows, as before). Reads use pread: the file offset belongs to jackd's
writes, since both processes share one open file description."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import tempfile

_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02
_PUNCH_GRAIN = 64 * 1024
"""Read bytes are released in whole multiples of this (file systems free whole blocks)."""


def _fallocate() -> ctypes._NamedFuncPointer | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    func = ctypes.CDLL(name, use_errno=True).fallocate
    func.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    func.restype = ctypes.c_int
    return func


class JackLog:
    """jackd's stdout and stderr: `fileno()` for Popen, `read_new()` for what came since the last read."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="jackd-", suffix=".log")  # noqa: SIM115
        self._read = 0
        """Bytes of the log read_new() has returned."""
        self._punched = 0
        self._punch = _fallocate()

    def fileno(self) -> int:
        return self._file.fileno()

    def size(self) -> int:
        """Bytes jackd has written (holes included)."""
        return os.fstat(self._file.fileno()).st_size

    def read_new(self) -> bytes:
        """What jackd wrote since the last call; the blocks before it are released."""
        end = self.size()
        data = os.pread(self._file.fileno(), end - self._read, self._read) if end > self._read else b""
        self._read += len(data)
        self._release()
        return data

    def tail(self, count: int) -> bytes:
        """The last `count` bytes (a released part reads as NULs)."""
        end = self.size()
        start = max(0, end - count)
        return os.pread(self._file.fileno(), end - start, start)

    def disk_bytes(self) -> int:
        """Bytes the log occupies on disk (less than size() once blocks are released)."""
        return os.fstat(self._file.fileno()).st_blocks * 512

    def _release(self) -> None:
        upto = self._read // _PUNCH_GRAIN * _PUNCH_GRAIN
        if self._punch is None or upto <= self._punched:
            return
        if self._punch(self._file.fileno(), _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, 0, upto) == 0:
            self._punched = upto
        else:
            self._punch = None  # not supported here: the log grows as a plain file would

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()

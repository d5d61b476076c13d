"""The USB capture's C parts (rig/links/capture_encoder.c and capture_recorder.c, built by `make`
into build/native/), loaded with ctypes.PyDLL: `ENCODER` and `RECORDER`, or None with the reason in
`MISSING` when the library is not built for this Python (captures then encode with numpy and record
with Python closures: the same bytes, slower; CI requires the library).

Why C: what capture on adds to a transfer on the loopback is Python's per-call cost: encoding the
log at close (numpy's per-call costs) and logging each transfer on its way; these do both in one call.
"""

from __future__ import annotations

import ctypes
import sys
import time
from pathlib import Path
from typing import Any, Protocol

ABI = 3
"""capenc_abi() of the library this module can drive (a library built from older source is not used)."""
LIBRARY = Path(__file__).resolve().parents[2] / "build" / "native" / "capture_native.so"
PERF_COUNTER = "clock_gettime(CLOCK_MONOTONIC)"
"""The clock the recorder stamps with: time.perf_counter_ns must read the same one (Linux)."""


class Encoder(Protocol):
    """capenc_encode (capture_encoder.c says what it takes and returns)."""

    def __call__(self, flat: list[object], rows_by_key: object, table: object, kinds: object, to_wall: int,
                 first_urb: int, comment: bytes | None, out: object, starts: object) -> int: ...


class Recorder(Protocol):
    """caprec_new (capture_recorder.c): a recorded link read (is_in 1, `transfer` the link backend's
    receive) or write (is_in 0, its send) as a builtin function."""

    def __call__(self, transfer: object, log: list[object], code: int, spill: object, failed: object,
                 room: object, is_in: int) -> Any: ...


def load(path: Path = LIBRARY) -> tuple[Encoder | None, Recorder | None, str]:
    """The encoder and the recorder in the library at `path`, or None and why not (the recorder
    also None when time.perf_counter_ns reads another clock than the recorder)."""
    try:
        library = ctypes.PyDLL(str(path))
    except OSError as exc:
        return None, None, f"{path} not loadable ({exc}); `make native` builds it"
    library.capenc_abi.restype = ctypes.c_int
    library.capenc_python.restype = ctypes.c_ulong
    abi, built_for = library.capenc_abi(), library.capenc_python()
    if abi != ABI:
        return None, None, f"{path} has ABI {abi}, this rig needs {ABI}: rebuild it (`make native`)"
    if built_for >> 16 != sys.hexversion >> 16:
        return None, None, (f"{path} was built for Python {built_for >> 24}.{built_for >> 16 & 0xFF}, this "
                            f"is {sys.version_info[0]}.{sys.version_info[1]}: rebuild it (`make native`)")
    encode = library.capenc_encode
    argtypes: list[type] = [ctypes.py_object] * 4 + [ctypes.c_longlong, ctypes.c_ulonglong]
    encode.argtypes = [*argtypes, ctypes.py_object, ctypes.py_object, ctypes.py_object]
    encode.restype = ctypes.c_longlong
    encoder: Encoder = encode
    clock = time.get_clock_info("perf_counter").implementation
    if clock != PERF_COUNTER:
        return encoder, None, f"time.perf_counter_ns reads {clock}, the recorder {PERF_COUNTER}"
    new = library.caprec_new
    new.argtypes = [ctypes.py_object, ctypes.py_object, ctypes.c_longlong, ctypes.py_object,
                    ctypes.py_object, ctypes.py_object, ctypes.c_int]
    new.restype = ctypes.py_object
    recorder: Recorder = new
    return encoder, recorder, ""


def clock_ns(path: Path = LIBRARY) -> int:
    """The recorder's clock now (for the check that it is time.perf_counter_ns's)."""
    library = ctypes.PyDLL(str(path))
    library.caprec_clock.restype = ctypes.c_longlong
    return int(library.caprec_clock())


ENCODER, RECORDER, MISSING = load()

"""The USB capture's C encoder (rig/links/capture_encoder.c, built by `make` into build/native/),
loaded with ctypes.PyDLL: `ENCODER`, or None with the reason in `MISSING` when it is not built for
this Python (captures then encode with numpy: the same bytes, slower; CI requires the library).

Why a library of its own: encoding at close was most of what capture on adds to bulk IN (numpy's
per-call costs); the C encoder reads the log list directly and writes every block in one pass.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path
from typing import Protocol

ABI = 1
"""capenc_abi() of the encoder this module can drive (a library built from older source is not used)."""
LIBRARY = Path(__file__).resolve().parents[2] / "build" / "native" / "capture_encoder.so"


class Encoder(Protocol):
    """capenc_encode (capture_encoder.c says what it takes and returns)."""

    def __call__(self, flat: list[object], rows_by_key: object, table: object, kinds: object, to_wall: int,
                 first_urb: int, out: object, starts: object) -> int: ...


def load(path: Path = LIBRARY) -> tuple[Encoder | None, str]:
    """The encoder in the library at `path`, or None and why it cannot be used."""
    try:
        library = ctypes.PyDLL(str(path))
    except OSError as exc:
        return None, f"{path} not loadable ({exc}); `make native` builds it"
    library.capenc_abi.restype = ctypes.c_int
    library.capenc_python.restype = ctypes.c_ulong
    abi, built_for = library.capenc_abi(), library.capenc_python()
    if abi != ABI:
        return None, f"{path} has ABI {abi}, this rig needs {ABI}: rebuild it (`make native`)"
    if built_for >> 16 != sys.hexversion >> 16:
        return None, (f"{path} was built for Python {built_for >> 24}.{built_for >> 16 & 0xFF}, this is "
                      f"{sys.version_info[0]}.{sys.version_info[1]}: rebuild it (`make native`)")
    encode = library.capenc_encode
    argtypes: list[type] = [ctypes.py_object] * 4 + [ctypes.c_longlong, ctypes.c_ulonglong]
    encode.argtypes = [*argtypes, ctypes.py_object, ctypes.py_object]
    encode.restype = ctypes.c_longlong
    encoder: Encoder = encode
    return encoder, ""


ENCODER, MISSING = load()

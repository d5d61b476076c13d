"""The capture's C parts and their Python fallbacks, for tests that must prove each:
`use_encoder("c")` makes captures encode with the C encoder, `use_encoder("numpy")` with numpy's;
`use_recorder("c")` records link transfers made from then on in C, `use_recorder("python")` with the
Python closures. "c" requires the library (a failure under CI when it is not built, a skip elsewhere)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

from rig.links import capture_blocks, capture_native
from rig.pytest_plugin.testing import require

ENCODERS = ("c", "numpy")
RECORDERS = ("c", "python")


def require_c() -> None:
    """The C library must be loaded, encoder and recorder (CI builds it with `make`)."""
    require(capture_native.ENCODER is not None and capture_native.RECORDER is not None,
            f"the capture's C library is not loaded: {capture_native.MISSING}")


@contextlib.contextmanager
def use_encoder(name: str) -> Iterator[None]:
    """Captures encode their logs with encoder `name` ("c" or "numpy") inside the block."""
    if name == "c":
        require_c()
    chosen = {"c": capture_blocks.encode_native, "numpy": capture_blocks.encode_numpy}[name]
    with mock.patch.object(capture_blocks, "encode", chosen):
        yield


@contextlib.contextmanager
def use_recorder(name: str) -> Iterator[None]:
    """Devices recorded inside the block record link transfers with `name` ("c" or "python")."""
    if name == "c":
        require_c()
        yield
        return
    with mock.patch.object(capture_native, "RECORDER", None):
        yield

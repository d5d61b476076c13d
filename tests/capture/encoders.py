"""The capture's two log encoders, for tests that must prove each: `use_encoder("c")` makes captures
encode with the C encoder (required: a failure under CI when it is not built, a skip elsewhere),
`use_encoder("numpy")` with the numpy one (its fallback)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

from rig.links import capture_blocks, capture_native
from rig.pytest_plugin.testing import require

ENCODERS = ("c", "numpy")


def require_c_encoder() -> None:
    """The C encoder must be loaded (CI builds it with `make`)."""
    require(capture_native.ENCODER is not None,
            f"the C capture encoder is not loaded: {capture_native.MISSING}")


@contextlib.contextmanager
def use_encoder(name: str) -> Iterator[None]:
    """Captures encode their logs with encoder `name` ("c" or "numpy") inside the block."""
    if name == "c":
        require_c_encoder()
    chosen = {"c": capture_blocks.encode_native, "numpy": capture_blocks.encode_numpy}[name]
    with mock.patch.object(capture_blocks, "encode", chosen):
        yield

"""USB 2.0 chapter 9 suite glue: the rig plugin must be loaded (else every test here skips, or fails
under CI, as in tests/conformance); `std_device` is the target's device, standard requests only."""

from __future__ import annotations

from pathlib import Path

from .fixtures import *  # noqa: F403  (the suite fixtures: fixtures.__all__)
from .fixtures import suite_hooks

pytest_configure, pytest_collection_modifyitems = suite_hooks(Path(__file__).resolve().parent)

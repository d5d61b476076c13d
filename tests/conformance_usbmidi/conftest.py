"""USB-MIDI 1.0 suite glue: the rig plugin must be loaded (else every test here skips, or fails
under CI, as in tests/conformance); `std_device` is the target's device, standard requests only."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conformance_usb.fixtures import (
    _no_vendor_request_reached_a_foreign_device,
    _rig_plugin_loaded,
    mark_agnostic,
    register_markers,
    skip_without_plugin,
    std_device,
    std_guard,
)

__all__ = ["_no_vendor_request_reached_a_foreign_device", "_rig_plugin_loaded", "std_device", "std_guard"]


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_without_plugin(config, items, Path(__file__).resolve().parent)
    mark_agnostic(items, Path(__file__).resolve().parent)

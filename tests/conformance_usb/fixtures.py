"""Fixtures and hooks the device-agnostic suites (conformance_usb, conformance_usbmidi,
conformance_midi) import into their conftest.py: the rig-plugin rule of tests/conformance, and
`std_guard` / `std_device`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import usb.core

from rig.pytest_plugin.state import STATE
from rig.pytest_plugin.testing import in_ci, require
from rig.targets.registry import Target

from .standard_device import StandardOnly, standard_only

PLUGIN_MISSING = "the device-agnostic conformance suites need the rig plugin: -p rig.pytest_plugin"


def skip_without_plugin(config: pytest.Config, items: list[pytest.Item], here: Path) -> None:
    """Mark the tests under `here` skipped when the plugin (and so `rig_target`) is absent, outside CI."""
    if STATE in config.stash or in_ci():
        return  # under CI the autouse fixture fails each test instead
    skip = pytest.mark.skip(reason=PLUGIN_MISSING)
    for item in items:
        if here in Path(item.path).resolve().parents:
            item.add_marker(skip)


def register_markers(config: pytest.Config) -> None:
    """So --strict-markers accepts `needs` and `device_agnostic` even when the plugin is not loaded."""
    config.addinivalue_line("markers", "needs(*features): rig.targets.registry.Feature values the test needs")
    config.addinivalue_line("markers", "device_agnostic: judges any USB device by the specifications alone")


def mark_agnostic(items: list[pytest.Item], here: Path) -> None:
    """Mark the tests under `here` device_agnostic: the plugin runs them on targets that are not our
    board too (rig.pytest_plugin.applicability)."""
    for item in items:
        if here in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.device_agnostic)


Configure = Callable[[pytest.Config], None]
ModifyItems = Callable[[pytest.Config, list[pytest.Item]], None]


def suite_hooks(here: Path) -> tuple[Configure, ModifyItems]:
    """A suite conftest's pytest_configure and pytest_collection_modifyitems for the tests under
    `here`: the markers registered, skipped without the plugin (outside CI), and marked
    device_agnostic."""

    def pytest_configure(config: pytest.Config) -> None:
        register_markers(config)

    def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
        skip_without_plugin(config, items, here)
        mark_agnostic(items, here)

    return pytest_configure, pytest_collection_modifyitems


@pytest.fixture(autouse=True)
def _rig_plugin_loaded(request: pytest.FixtureRequest) -> None:
    """Fail (CI) or skip when the plugin is absent, before its fixtures are looked up."""
    require(STATE in request.config.stash, PLUGIN_MISSING)


@pytest.fixture(autouse=True)
def _no_vendor_request_reached_a_foreign_device(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test after which a device that is not ours had received a vendor request (seen where the
    rig sees the device's side: a `usb:...,bus=` software bus records and STALLs them)."""
    if "rig_target" not in request.fixturenames:
        yield
        return
    target: Target = request.getfixturevalue("rig_target")
    yield
    sent = target.foreign_vendor_requests()  # the whole session's: opening the target counts too
    if sent:
        pytest.fail(f"{len(sent)} vendor request(s) reached {target.name}, a device that is not ours, "
                    f"by the end of this test: " + "; ".join(sent), pytrace=False)


@pytest.fixture
def std_guard(rig_target: Target) -> Iterator[StandardOnly]:
    """The guard on the target's USB device (OS drivers detached, vendor requests refused); the test
    fails if it tried a vendor request, even when it caught the VendorRequestSent."""
    with standard_only(rig_target.usb_device()) as guard:
        yield guard
    if guard.violations:
        pytest.fail("vendor request(s) sent by a device-agnostic test: " + "; ".join(guard.violations),
                    pytrace=False)


@pytest.fixture
def std_device(std_guard: StandardOnly) -> usb.core.Device:
    """The target's pyusb device, standard and class requests only (see `std_guard`)."""
    return std_guard.device


__all__ = ["_no_vendor_request_reached_a_foreign_device", "_rig_plugin_loaded", "std_device", "std_guard"]
"""The fixtures every device-agnostic suite's conftest.py takes by `from ...fixtures import *` (pytest
finds fixtures among a conftest's names): one list, not one per conftest."""

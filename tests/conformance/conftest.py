"""Conformance suite glue: the rig plugin must be loaded, and `echo_board` (the plugin's `board`; streams
come from the plugin's `midi_stream` / `frame_stream` fixtures).

The suite needs the rig plugin (`-p rig.pytest_plugin`, or its pytest11 entry point). Without it
every test here is skipped with that reason (rig.pytest_plugin.testing's rule: under CI=true it fails
instead, as CI can always load the plugin) rather than erroring on unknown fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.client.board import Board
from rig.pytest_plugin.state import STATE
from rig.pytest_plugin.testing import every_mxf_allocator_checked, in_ci, require

from ..conformance_usb.fixtures import _no_vendor_request_reached_a_foreign_device

__all__ = ["_no_vendor_request_reached_a_foreign_device"]


@pytest.fixture(autouse=True)
def _mxf_allocators_checked() -> Iterator[None]:
    """Every MXF allocator in these tests runs checked and must end with its pool full."""
    yield from every_mxf_allocator_checked()


def pytest_configure(config: pytest.Config) -> None:
    # So --strict-markers accepts the suite's markers even when the plugin is not loaded.
    for line in ("needs(*features): rig.targets.registry.Feature values the test needs",
                 "books_unchecked: do not compare device and host counters after the test"):
        config.addinivalue_line("markers", line)


PLUGIN_MISSING = "the conformance suite needs the rig plugin: -p rig.pytest_plugin"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    mine = [item for item in items if here in Path(item.path).resolve().parents]  # the whole session's items
    for item in mine:  # the `board` suite: our contract, never sent to a device that is not ours
        needs = {arg for marker in item.iter_markers("needs") for arg in marker.args}
        if "rig_target" not in getattr(item, "fixturenames", ()):
            continue  # host-side tests use no target
        if needs == {"midi-os"}:
            continue  # MIDI through the OS ports alone: any target with echoing OS ports (midi:OUT,IN)
        item.add_marker(pytest.mark.needs("contract"))
    if STATE in config.stash or in_ci():
        return  # under CI the autouse fixture below fails each test instead
    skip = pytest.mark.skip(reason=PLUGIN_MISSING)
    for item in mine:
        item.add_marker(skip)


@pytest.fixture(autouse=True)
def _rig_plugin_loaded(request: pytest.FixtureRequest) -> None:
    """Runs before the plugin's fixtures are looked up: fail (CI) or skip when the plugin is absent."""
    require(STATE in request.config.stash, PLUGIN_MISSING)


@pytest.fixture
def echo_board(board: Board) -> Board:
    """`board` in frame ECHO mode with nothing queued: the plugin's `board` fixture already starts every
    test that way (MIDI is left alone: on a real board raw MIDI would take the interface from the OS
    driver), so this is the same fixture under the name the frame tests use."""
    return board

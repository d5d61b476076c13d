"""Conformance suite glue: skip without the plugin, and an `echo_board` fixture.

The suite needs the rig plugin (`-p rig.pytest_plugin`, or its pytest11 entry point). Without it
every test here is skipped with that reason instead of erroring on unknown fixtures, so a plain
`pytest` over the whole tree stays green.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rig import contract as c
from rig.device import Board
from rig.pytest_plugin import STATE


def pytest_configure(config: pytest.Config) -> None:
    # So --strict-markers accepts the suite's markers even when the plugin is not loaded.
    for line in ("needs(*features): rig.target.Feature values the test needs",
                 "books_unchecked: do not compare device and host counters after the test"):
        config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if STATE in config.stash:
        return
    skip = pytest.mark.skip(reason="the conformance suite needs the rig plugin: -p rig.pytest_plugin")
    here = Path(__file__).resolve().parent
    for item in items:  # this hook sees the whole session's items: only touch the suite's own
        if here in Path(item.path).resolve().parents:
            item.add_marker(skip)


@pytest.fixture
def echo_board(board: Board) -> Board:
    """`board` in frame ECHO mode with nothing queued (MIDI is left alone: on a real board raw MIDI
    would take the interface from the OS driver)."""
    board.set_frame_mode(c.FrameMode.ECHO)
    board.drain_frames()
    return board

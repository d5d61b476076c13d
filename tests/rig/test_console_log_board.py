"""The firmware's console-log tests (tests/firmware/test_emulator_log.py) run unchanged on the
loopback board, so both sides of the contract log the same events in the same words.

rig/loopback/twin.py calls its ConsoleSession's log_* methods at each event (bus reset,
SET_CONFIGURATION, mode changes, STALL, frame errors, ring full) and bounds its CDC queue as the
firmware does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.loopback import LoopbackBoard
from rig.pytest_plugin.testing import load_module

_shared = load_module(Path(__file__).resolve().parents[1] / "firmware" / "test_emulator_log.py",
                      "firmware_console_log_tests")
configured = _shared.configured
logging_on = _shared.logging_on


@pytest.fixture(scope="module")
def link() -> Iterator[LoopbackBoard]:
    """A loopback board in the place of the emulated firmware (same UsbLink calls)."""
    board = LoopbackBoard(console_pty=False)
    try:
        yield board
    finally:
        board.close()


# The firmware's tests, collected here unchanged against the loopback's `link` fixture.
for _name in (
    "test_log_is_off_at_power_on_and_events_then_send_nothing",
    "test_mode_changes_and_stalls_are_logged_with_device_time",
    "test_frame_errors_are_logged_by_kind",
    "test_ring_full_is_logged_once_per_episode",
    "test_bus_reset_and_configuration_are_logged_across_the_reset",
    "test_log_lines_never_break_a_reply_and_rig_console_skips_them",
    "test_lines_nobody_reads_are_dropped_whole_and_counted",
):
    globals()[_name] = getattr(_shared, _name)

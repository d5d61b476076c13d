"""The USB rules (firmware/emulator/usb_rules.js) on EP0 when it double-buffers (SIE_CTRL
EP0_DOUBLE_BUF; RP2040 datasheet 4.1.2.5: buffer 1 at DPRAM 0x140, described by the high half of the
EP0 buffer control words), driven by ep0_rules_probe.js: buffer 1 is judged as any double-buffered
endpoint's is, and with EP0 single-buffered the high half and 0x140 are not EP0's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import run_probe

PROBE = Path(__file__).with_name("ep0_rules_probe.js")

BROKEN = {
    "write_0x140_while_buffer_1_armed": "buffer-owned",
    "buffer_1_available_in_one_store": "available-same-store",
    "both_halves_same_pid": "double-pid",
    "buffer_1_longer_than_64": "buffer-length",
}
"""Case -> the one rule it breaks when EP0 double-buffers."""


@pytest.fixture(scope="module")
def fired() -> dict[str, Any]:
    return run_probe(PROBE)


def test_buffer_1_armed_properly_breaks_nothing(fired: dict[str, Any]) -> None:
    """Fields first, then AVAILABLE_1, as 16-bit stores to the high half; and buffer 0 at 0x100 is free
    to write while only buffer 1 is armed."""
    assert fired["double"]["arm_buffer_1"] == {}
    assert fired["double"]["write_0x100_while_only_buffer_1_armed"] == {}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_rule_judges_ep0_buffer_1(fired: dict[str, Any], case: str) -> None:
    assert fired["double"][case] == {BROKEN[case]: 1}


def test_single_buffered_ep0_has_no_buffer_1(fired: dict[str, Any]) -> None:
    """Without EP0_DOUBLE_BUF the high half is not valid and 0x140 is not EP0's: nothing fires."""
    assert all(rules == {} for rules in fired["single"].values()), fired["single"]

"""Double-buffered endpoints in the emulator's controller model (firmware/emulator/host_endpoints.js
EndpointBuffers, which the bridge's data path uses for every endpoint): driven through the DPRAM of
an emulated RP2040 as a double-buffering firmware would (endpoint_buffers_probe.js). RP2040
datasheet 4.1.2.5.2 (DOUBLE_BUFFERED, buffer address) and 4.1.2.5.3 (the buffer control word's two
halves; the buffer select starts at buffer 0 and flips after each buffer; RESET selects buffer 0).
No firmware in this repository double-buffers, so this is the model's test, not an end-to-end one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import run_probe

PROBE = Path(__file__).with_name("endpoint_buffers_probe.js")
AVAILABLE, FULL = 1 << 10, 1 << 15


@pytest.fixture(scope="module")
def seen() -> dict[str, Any]:
    return run_probe(PROBE)


def test_in_buffers_go_in_turn_from_their_own_halves(seen: dict[str, Any]) -> None:
    """Buffer 0 (8 bytes, DATA0, at the endpoint's address) first, then buffer 1 (4 bytes, DATA1,
    64 bytes on): rp2040js alone sent them out of order."""
    assert seen["in_taken"] == [{"half": 0, "len": 8, "pid": 0, "offset": 0x180, "first": 0x11},
                                {"half": 1, "len": 4, "pid": 1, "offset": 0x1C0, "first": 0x22}]
    word = seen["in_word_after"]
    assert word & (AVAILABLE | FULL | (AVAILABLE << 16) | (FULL << 16)) == 0, hex(word)


def test_the_select_waits_for_the_buffer_it_points_at(seen: dict[str, Any]) -> None:
    """With the select at buffer 0, a buffer 1 made available alone is not taken (the host sees NAK)."""
    assert seen["in_only_buffer1_armed"] is None


def test_reset_bit_selects_buffer_0(seen: dict[str, Any]) -> None:
    assert (seen["select_before_reset"], seen["select_after_reset"]) == (1, 0)


def test_out_packets_land_in_turn_with_their_lengths(seen: dict[str, Any]) -> None:
    """Two OUT packets (10 and 3 bytes) land in buffer 0 then buffer 1, each half FULL with its own
    length and no longer AVAILABLE (rp2040js alone wrote both into buffer 0)."""
    assert seen["out_landed"] == [{"half": 0, "offset": 0x200, "done": 0},
                                  {"half": 1, "offset": 0x240, "done": 1}]
    word = seen["out_word_after"]
    assert (word & 0xFFFF, word >> 16) == (FULL | 10, FULL | (1 << 13) | 3), hex(word)
    assert seen["out_armed_after"] is None


def test_a_single_buffered_endpoint_ignores_the_high_half(seen: dict[str, Any]) -> None:
    assert seen["single"] == {"half": 0, "len": 2, "offset": 0x240, "select": 0, "armed_after": None}

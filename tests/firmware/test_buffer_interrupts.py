"""Which buffer completions set an endpoint's BUFF_STATUS bit, and EP0 double buffering, in the
emulator's controller model (firmware/emulator/host_endpoints.js EndpointBuffers, which the bridge's
data path uses for every endpoint), driven by buffer_interrupts_probe.js. RP2040 datasheet 4.1.2.5
and its register tables: EP_CONTROL bit 29 INTERRUPT_PER_BUFF "each time a buffer is done", bit 28
INTERRUPT_PER_DOUBLE_BUFF "each time both buffers are done. Only valid in double buffered mode";
SIE_CTRL bit 30 EP0_DOUBLE_BUF, bit 29 EP0_INT_1BUF "for every buffer completed on EP0", bit 28
EP0_INT_2BUF "for every 2 buffers completed on EP0"; EP0's buffer 1 at DPRAM 0x140; BUFF_STATUS "It is
possible for 2 buffers to be completed, so clearing the buffer status bit may instantly re set it".
Where the
datasheet is silent the model's choice is in firmware/README.md ("USB controller model")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import run_probe

PROBE = Path(__file__).with_name("buffer_interrupts_probe.js")
RAISED, QUIET = True, False


@pytest.fixture(scope="module")
def seen() -> dict[str, Any]:
    return run_probe(PROBE)


def test_interrupt_per_buffer_sets_buff_status_for_every_buffer(seen: dict[str, Any]) -> None:
    ep = seen["endpoint"]
    assert ep["single_per_buff"]["seen"] == [[0, RAISED]] * 4
    assert ep["double_per_buff"]["seen"] == [[0, RAISED], [1, RAISED], [0, RAISED], [1, RAISED]]


def test_interrupt_per_double_buffer_waits_for_buffer_1(seen: dict[str, Any]) -> None:
    """Buffer 0 done alone sets nothing; buffer 1 done after it (both done) sets the bit: 2 of 4."""
    ep = seen["endpoint"]
    assert ep["double_per_double"]["seen"] == [[0, QUIET], [1, RAISED], [0, QUIET], [1, RAISED]]
    assert ep["double_per_double"]["raised"] == 2


def test_the_pair_counts_from_the_select_reset(seen: dict[str, Any]) -> None:
    """Buffer 0 done, then RESET (bit 12): the next buffer 0 is the pair's first again, so only the
    buffer 1 after it sets the bit."""
    assert seen["endpoint"]["per_double_after_reset"] == [[0, QUIET], [0, QUIET], [1, RAISED]]


def test_no_interrupt_bit_sets_nothing(seen: dict[str, Any]) -> None:
    """Neither bit: buffers complete (the select still flips) but BUFF_STATUS never says so.
    INTERRUPT_PER_DOUBLE_BUFF on a single-buffered endpoint is not valid there: nothing either."""
    ep = seen["endpoint"]
    assert [ep[name]["raised"] for name in ("single_none", "double_none", "single_per_double")] == [0, 0, 0]
    assert [h for h, _ in ep["double_none"]["seen"]] == [0, 1, 0, 1]


def test_both_bits_interrupt_per_buffer(seen: dict[str, Any]) -> None:
    ep = seen["endpoint"]
    assert ep["single_both"]["raised"] == ep["double_both"]["raised"] == 4


def test_ep0_single_buffered_uses_0x100_and_sie_ctrl_int_1buf(seen: dict[str, Any]) -> None:
    ep0 = seen["ep0"]
    assert ep0["single_int_1buf"]["offsets"] == [0x100] * 4
    assert ep0["single_int_1buf"]["seen"] == [[0, RAISED]] * 4
    assert [r for _, r in ep0["single_none"]["seen"] + ep0["single_int_2buf"]["seen"]] == [QUIET] * 8


def test_ep0_double_buffered_alternates_0x100_and_0x140(seen: dict[str, Any]) -> None:
    """EP0_DOUBLE_BUF: buffer 1 at 0x140, described by the high half of EP0's buffer control word
    (FULL_1 and the length written back there); EP0_INT_1BUF every buffer, EP0_INT_2BUF every pair."""
    ep0 = seen["ep0"]
    for name in ("double_int_1buf", "double_int_2buf", "double_none"):
        assert ep0[name]["offsets"] == [0x100, 0x140, 0x100, 0x140], name
    assert ep0["double_int_1buf"]["seen"] == [[0, RAISED], [1, RAISED], [0, RAISED], [1, RAISED]]
    assert ep0["double_int_2buf"]["seen"] == [[0, QUIET], [1, RAISED], [0, QUIET], [1, RAISED]]
    assert [r for _, r in ep0["double_none"]["seen"]] == [QUIET] * 4
    word = ep0["double_int_1buf"]["word"]
    assert word >> 16 == (1 << 15) | 13, hex(word)  # FULL_1, LEN_1 = the 4th packet's 13 bytes


def test_a_second_completion_sets_buff_status_again_after_the_acknowledge(seen: dict[str, Any]) -> None:
    """Two buffers done before the firmware acknowledged the first: the acknowledge leaves the bit set
    (the second is still to handle), the next one clears it; a single completion is cleared at once."""
    latch = seen["latch"]
    assert (latch["after_first_ack"], latch["after_second_ack"], latch["single_after_ack"]) == (1 << 4, 0, 0)
    assert latch["again"] == 1


def test_buff_cpu_should_handle_names_the_buffer_the_set_bit_stands_for(seen: dict[str, Any]) -> None:
    """BUFF_CPU_SHOULD_HANDLE, "which of the double buffers should be handled": while a second
    completion is owed it still names the first one's buffer; the acknowledge that sets the bit again
    names the owed one's. Either order of buffers."""
    bit = 1 << 4
    zero_first, one_first = seen["should_handle"]["buffer_0_first"], seen["should_handle"]["buffer_1_first"]
    assert (zero_first["first"], zero_first["while_owed"]) == (0, 0)
    assert zero_first["after_first_ack"] == [bit, bit]  # the bit again, for buffer 1
    assert zero_first["after_second_ack"][0] == 0
    assert (one_first["first"], one_first["while_owed"]) == (bit, bit)
    assert one_first["after_first_ack"] == [bit, 0]  # the bit again, for buffer 0


def test_the_controller_clears_reset_when_it_writes_the_buffer_back(seen: dict[str, Any]) -> None:
    """RESET (buffer control bit 12), "reset buffer select to buffer 0 - cleared at end of transfer":
    stored while the select pointed at buffer 1, buffer 0 is used; its write-back clears RESET, and the
    select flips on to buffer 1 as after any buffer."""
    reset = seen["reset_select"]
    assert reset["used"] == 0
    assert reset["word_after"] & (1 << 12) == 0, hex(reset["word_after"])
    assert reset["select_after"] == 1

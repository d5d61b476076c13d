"""Any SETUP packet the host can send is answered or STALLed; the board never breaks and keeps
counting: control_requests counts every SETUP and control_stalls every STALL."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rig import contract as c
from rig.links.usb_link import LinkStall
from rig.loopback import LoopbackBoard, ManualClock

setups = st.tuples(
    st.sampled_from([0x00, 0x01, 0x02, 0x21, 0x40, 0x41, 0x60, 0x80, 0x81, 0x82, 0xA1, 0xC0, 0xC1, 0xE0]),
    st.integers(0, 0x25),
    st.one_of(st.integers(0, 3), st.integers(0, 0xFFFF)),
    st.one_of(st.integers(0, 5), st.sampled_from([0x01, 0x81, 0x82, 0x409]), st.integers(0, 0xFFFF)),
    st.one_of(st.binary(max_size=20), st.integers(0, 300)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(setups, min_size=1, max_size=10))
def test_any_setup_is_answered_or_stalled(requests: list[tuple[int, int, int, int, bytes | int]]) -> None:
    board = LoopbackBoard(clock=ManualClock(), console_pty=False)
    try:
        stalls = 0
        for bm, req, value, index, data in requests:
            data_or_length: bytes | int = (data if isinstance(data, int) else len(data)) if bm & 0x80 else (
                data if isinstance(data, bytes) else bytes(data % 16))
            try:
                result = board.control(bm, req, value, index, data_or_length, 100)
            except LinkStall:
                stalls += 1
                continue
            if bm & 0x80:
                assert isinstance(result, bytes) and len(result) <= int(data_or_length)
            else:
                assert result == len(bytes(data_or_length))
        info = board.control(c.VENDOR_REQUEST_TYPE_IN, c.Request.GET_INFO, 0, 0, c.INFO.size, 100)
        assert isinstance(info, bytes) and c.INFO.unpack(info)["contract_version"] == c.CONTRACT_VERSION
        if board.reboots == 0:  # a reboot (1200 baud, REBOOT_BOOTLOADER) zeroes the counters
            s = board.stats()
            resets = sum(1 for bm, req, *_ in requests if bm == 0x40 and req == c.Request.RESET_STATS)
            if not resets:
                assert s["control_requests"] == len(requests) + 1 and s["control_stalls"] == stalls
    finally:
        board.close()

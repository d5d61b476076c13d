"""A2/A3: parsers of outside input never crash or leak — random user-mode buffers and raw capture bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.ks.state import KsState
from host.ks.status import NtStatus
from host.mxf.allocator_factory import new_allocator
from host.mxf.capture_sink import CaptureSink, raw_capture_chain
from host.mxf.errors import MalformedBuffer
from host.mxf.packer import Packer
from host.mxf.unpacker import Unpacker


@pytest.mark.spec("A3")
@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=200), start=st.integers(0, 1 << 40), pointer_size=st.sampled_from([4, 8]))
def test_unpacker_random_buffers(raw: bytes, start: int, pointer_size: int) -> None:
    """A3: any bytes either unpack or raise MalformedBuffer naming an offset; nothing leaks either way."""
    alloc = new_allocator(64, checked=True, buffer_size=32, buffer_count=8, pointer_size=pointer_size)
    u = Unpacker(alloc)  # output: the allocator
    try:
        status = u.unpack(raw, start)
    except MalformedBuffer as exc:
        assert 0 <= exc.offset < max(len(raw), 1) and "offset" in str(exc)
    else:
        assert status in (NtStatus.STATUS_SUCCESS, NtStatus.STATUS_INSUFFICIENT_RESOURCES)
    alloc.assert_balanced()


@pytest.mark.spec("A2", "A3")
@settings(max_examples=150, deadline=None)
@given(batches=st.lists(st.binary(min_size=1, max_size=40), max_size=10), pool=st.integers(2, 40))
def test_capture_random_bytes(batches: list[bytes], pool: int) -> None:
    """A2/A3: any captured bytes, even with a tiny pool, parse without error and the books balance."""
    alloc = new_allocator(pool, checked=True, buffer_size=16, buffer_count=4, pointer_size=4)
    sink, packer = CaptureSink(alloc), Packer(alloc)
    sink.connect_output(packer)
    sink.set_state(KsState.RUN)
    for t, data in enumerate(batches):
        chain = raw_capture_chain(alloc, data, t)
        if chain is not None:
            sink.put_message(chain)
        while packer.read(max_bytes=1 << 16) is not None:
            pass
    sink.set_state(KsState.STOP)  # drops held SysEx fragments
    packer.set_state(KsState.STOP)  # drops an unread partial message
    alloc.assert_balanced()

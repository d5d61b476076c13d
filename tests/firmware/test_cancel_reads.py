"""cancel_reads on both links (the firmware in the emulator, the loopback twin): a read waiting on an
IN endpoint ends at once with LinkCancelled, as libusb_cancel_transfer ends one, and the endpoint
goes on working with nothing lost. The rig class driver cancels its read this way when it unbinds
instead of waiting out the read's timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from rig import contract as c
from rig.links.emulator import EmulatorLink
from rig.links.usb_link import CancellableLink, LinkCancelled
from rig.loopback import LoopbackBoard

from .conftest import T

WAIT_MS = 60_000
"""The cancelled read's own timeout: far longer than the test, so only a cancel ends it."""
NOTE = bytes((0x09, 0x90, 60, 100))


@pytest.fixture(params=["loopback", "emulator"])
def any_link(request: pytest.FixtureRequest) -> Iterator[CancellableLink]:
    """Each link, configured, MIDI in ECHO."""
    if request.param == "loopback":
        board = LoopbackBoard(console_pty=False)
        request.addfinalizer(board.close)
        found: CancellableLink = board
    else:
        found = request.getfixturevalue("link")
        assert isinstance(found, EmulatorLink)
    found.control(0x00, 9, c.CONFIG_VALUE, 0, b"", T)  # SET_CONFIGURATION
    found.control(c.VENDOR_REQUEST_TYPE_OUT, c.Request.SET_MIDI_MODE, 0, 0,
                  c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.ECHO), T)
    yield found


def test_a_waiting_read_is_cancelled_and_the_endpoint_loses_nothing(any_link: CancellableLink) -> None:
    ended: list[BaseException] = []

    def read() -> None:
        try:
            any_link.read(c.EP_MIDI_IN, 64, WAIT_MS)
        except BaseException as exc:
            ended.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 10
    while reader.is_alive() and time.monotonic() < deadline:
        any_link.cancel_reads(c.EP_MIDI_IN)  # again until it ends: the read may not have started yet
        reader.join(0.01)
    assert not reader.is_alive(), "cancel_reads did not end the waiting read"
    assert len(ended) == 1 and isinstance(ended[0], LinkCancelled), ended
    any_link.write(c.EP_MIDI_OUT, NOTE, T)
    assert any_link.read(c.EP_MIDI_IN, 64, T) == NOTE


def test_cancel_with_nothing_waiting_changes_nothing(any_link: CancellableLink) -> None:
    any_link.cancel_reads(c.EP_MIDI_IN)
    any_link.write(c.EP_MIDI_OUT, NOTE, T)
    assert any_link.read(c.EP_MIDI_IN, 64, T) == NOTE


def test_cancel_names_an_out_endpoint_as_a_value_error(any_link: CancellableLink) -> None:
    with pytest.raises(ValueError, match="not an IN endpoint"):
        any_link.cancel_reads(c.EP_MIDI_OUT)

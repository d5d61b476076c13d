"""The usb suite's repeated bus reset and the usbmidi suite's bad-packet survival can fail: run on the
loopback presented as a foreign echoing device whose twin is broken (it stops taking MIDI after a
reserved CIN, and stays configured through a bus reset after its 36th), both fail, naming why."""

from __future__ import annotations

from pathlib import Path

from .test_foreign_device_suites import run_suites

BROKEN_TWIN = '''
import rig.loopback.midi as midi
import rig.loopback.usbd as usbd

receive = midi.MidiFunction._receive
bus_reset = usbd.Usbd.bus_reset
RESETS = [0]


def deaf_receive(self, data):
    """The bug: after a packet with the reserved CIN 0x1 the device takes no MIDI any more."""
    if getattr(self, "deaf", False):
        return []
    replies = receive(self, data)
    self.deaf = any(data[pos] & 0x0F == 0x1 for pos in range(0, len(data) - 3, 4))
    return replies


def sticky_reset(self):
    """The bug: from the 37th bus reset on, the device keeps its configuration."""
    RESETS[0] += 1
    if RESETS[0] > 36:
        return
    bus_reset(self)


midi.MidiFunction._receive = deaf_receive
usbd.Usbd.bus_reset = sticky_reset
'''


def test_bad_packet_survival_and_repeated_reset_fail_on_a_broken_device(tmp_path: Path) -> None:
    """~12 s wall, ~1.2 s CPU (one loopback session, with the 10 s wait for a note that never comes)."""
    (tmp_path / "broken_twin.py").write_text(BROKEN_TWIN)
    result = run_suites("tests/conformance_usbmidi/test_bad_packets.py",
                        "tests/conformance_usb/test_bus_reset.py", extra_path=tmp_path, plugin="broken_twin")
    out = result.stdout
    assert result.returncode == 1 and "2 failed" in out, out[-3000:]
    assert "after the bad packets did not come back as the next message" in out, out[-3000:]
    assert "still configured after the bus reset" in out, out[-3000:]

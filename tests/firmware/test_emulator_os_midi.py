"""The emulator target's OS MIDI ports: the rig class driver bound to the real firmware in rp2040js (EBUSY
until detached, raw USB-MIDI after detaching, rebinding, a round trip through the ports with the
driver's counters matching the firmware's), and reports saying where the ports come from."""

from __future__ import annotations

import errno
from pathlib import Path

import usb.core
import usb.util

from rig import contract as c
from rig.pytest_plugin.testing import close_rtmidi_port, receive_messages, require
from rig.pytest_plugin.testing import open_rtmidi_port as _port
from rig.targets.emulator import EmulatorTarget
from rig.targets.factory import make_target
from rig.targets.registry import Feature

from .conftest import need_bridge


def test_emulator_os_midi_comes_from_the_rig_class_driver(firmware_image: Path) -> None:
    need_bridge()
    target = make_target(f"emulator:{firmware_image}")
    assert isinstance(target, EmulatorTarget)
    assert Feature.MIDI_OS in target.expected_features
    with target:
        require(Feature.MIDI_OS in target.features, f"no MIDI system for the emulator: {target.midi_problem}")
        driver = target.driver
        assert driver is not None
        assert "rig class driver" in target.describe()["os_midi"]
        to_device, from_device = target.midi_port_names()
        assert to_device.endswith("rig emulator MIDI in (rig class driver)")
        assert from_device.endswith("rig emulator MIDI out (rig class driver)")
        dev = target.usb_device()
        assert dev.is_kernel_driver_active(c.IF_MIDI_STREAMING)
        try:
            usb.util.claim_interface(dev, c.IF_MIDI_STREAMING)
            raise AssertionError("claiming a bound interface must fail with EBUSY")
        except usb.core.USBError as exc:
            assert exc.errno == errno.EBUSY
        dev.detach_kernel_driver(c.IF_MIDI_STREAMING)
        usb.util.claim_interface(dev, c.IF_MIDI_STREAMING)
        dev.write(c.EP_MIDI_OUT, bytes((0x09, 0x90, 60, 1)), 1000)
        assert bytes(dev.read(c.EP_MIDI_IN, 64, 2000)) == bytes((0x09, 0x90, 60, 1))
        usb.util.release_interface(dev, c.IF_MIDI_STREAMING)
        dev.attach_kernel_driver(c.IF_MIDI_STREAMING)
        assert driver.bound
        out, inp = _port(driver.api, "out", to_device), _port(driver.api, "in", from_device)
        try:
            sent = [[0x90, 60, 100], [0xB1, 7, 99], [0xF0, 1, 2, 3, 4, 5, 0xF7], [0xF8]]
            for message in sent:
                out.send_message(message)
            assert receive_messages(inp, len(sent), timeout_s=20.0) == sent
        finally:
            for port in (out, inp):
                close_rtmidi_port(port)
        assert driver.counters.messages_from_os == driver.counters.messages_to_os == len(sent)
        assert driver.counters.packets_to_device == driver.counters.packets_from_device == 6
    assert not any(t.is_alive() for t in driver.threads)

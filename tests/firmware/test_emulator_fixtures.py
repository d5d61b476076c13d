"""The firmware against the shared fixtures (fixtures/README.md): its enumeration returns the
descriptor dumps, its ECHO sends the golden frames back with their payload and CRC and counts the bad
ones by kind, and the SysEx files come back unchanged through USB-MIDI ECHO."""

from __future__ import annotations

from pathlib import Path

import pytest
import usb.core
import usb.util

from host.midi import UsbMidiDecoder, encode_message
from rig import contract as c
from rig.contract import frame_wire as frames
from rig.pytest_plugin.testing import load_module

from .conftest import REPO, T, stats

fx = load_module(REPO / "tests" / "contract" / "fixture_files.py", "fixture_files")
FIXTURES: Path = fx.FIXTURES


def test_enumeration_returns_the_descriptor_dumps(dev: usb.core.Device) -> None:
    device = (FIXTURES / "descriptors" / "device.bin").read_bytes()
    config = (FIXTURES / "descriptors" / "config.bin").read_bytes()
    assert bytes(dev.ctrl_transfer(0x80, 6, 0x0100, 0, 255, T)) == device
    assert bytes(dev.ctrl_transfer(0x80, 6, 0x0200, 0, 1024, T)) == config


@pytest.mark.parametrize("name", sorted(fx.frame_manifest()))
def test_echo_of_a_golden_frame(dev: usb.core.Device, name: str) -> None:
    expect = fx.frame_manifest()[name]
    data = (FIXTURES / "frames" / name).read_bytes()
    dev.ctrl_transfer(c.VENDOR_REQUEST_TYPE_OUT, c.Request.SET_FRAME_MODE, 0, 0,
                      c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.ECHO), T)  # expects seq 0 next
    before = stats(dev)
    dev.write(c.EP_FRAME_OUT, data, T)
    if expect["verdict"] != "ok":
        with pytest.raises(usb.core.USBTimeoutError):
            dev.read(c.EP_FRAME_IN, 512, 50)
        after = stats(dev)
        counter = "frames_bad_crc" if expect["verdict"] == "bad-crc" else "frames_bad_header"
        assert after[counter] == before[counter] + 1 and after["frames_rx"] == before["frames_rx"]
        return
    back = frames.decode(bytes(dev.read(c.EP_FRAME_IN, 512, T)))
    after = stats(dev)
    assert bytes(back.payload) == data[frames.HEADER_SIZE:]
    assert f"0x{back.payload_crc:08X}" == expect["payload_crc"] and back.flags == c.FrameFlag.ECHOED
    assert after["frames_rx"] == before["frames_rx"] + 1
    assert after["frames_seq_gap"] == before["frames_seq_gap"] + (expect["seq"] != 0)


@pytest.mark.parametrize("path", fx.sysex_files(), ids=lambda p: p.name)
def test_sysex_file_echoes_through_the_firmware(dev: usb.core.Device, path: Path) -> None:
    messages = fx.sysex_messages(path)
    dev.ctrl_transfer(c.VENDOR_REQUEST_TYPE_OUT, c.Request.SET_MIDI_MODE, 0, 0,
                      c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.ECHO), T)
    before = stats(dev)
    packets = b"".join(encode_message(m, 0) for m in messages)
    dev.write(c.EP_MIDI_OUT, packets, T)
    back = b""
    for _ in range(len(packets) // 4 + 1):
        if len(back) >= len(packets):
            break
        back += bytes(dev.read(c.EP_MIDI_IN, 512, T))
    assert back == packets
    after = stats(dev)
    assert [m.data for _, m in UsbMidiDecoder().messages(back)] == messages
    assert after["midi_rx_packets"] - before["midi_rx_packets"] == len(packets) // 4
    assert after["midi_tx_packets"] - before["midi_tx_packets"] == len(packets) // 4

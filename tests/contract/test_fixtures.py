"""fixtures/ holds what both sides of the contract test against: the files are what
fixtures/regenerate.py produces (a descriptor or layout change is a deliberate fixture update), the
descriptor dumps are rig.contract.descriptors' bytes, rig.contract.frame_wire decodes the golden frames as
their manifest says, and the SysEx files go through the loopback board's USB-MIDI ECHO unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import usb.core

from host.midi import UsbMidiDecoder, check_message, encode_message
from rig import contract as c
from rig.contract import descriptors as d
from rig.contract import frame_wire as frames
from rig.links.pyusb_backend import LinkBackend
from rig.loopback import LoopbackBoard

from .fixture_files import FIXTURES, frame_manifest, regenerator, sysex_files, sysex_messages

T = 1000


def test_fixtures_are_what_regenerate_py_writes() -> None:
    assert regenerator().stale() == [], "run `.venv/bin/python fixtures/regenerate.py` and review the diff"


def test_regenerate_check_names_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = regenerator()
    monkeypatch.setattr(module, "FIXTURES", tmp_path)
    assert module.main(["regenerate.py", "--check"]) == 1
    assert "stale: fixtures/descriptors/device.bin" in capsys.readouterr().out
    assert module.main(["regenerate.py"]) == 0 and module.stale() == []


def test_regenerate_refuses_a_wrong_literal_crc() -> None:
    module = regenerator()
    module.GOLDEN_FRAMES["broken"] = (0, 1, b"x", 0x12345678, 0, 0, "ok", module.MAGIC)
    with pytest.raises(ValueError, match="golden frame broken: literal CRC 0x12345678"):
        module.golden_frame("broken")


def test_descriptor_dumps_are_rig_descriptors_bytes() -> None:
    assert (FIXTURES / "descriptors" / "device.bin").read_bytes() == d.device_descriptor()
    assert (FIXTURES / "descriptors" / "config.bin").read_bytes() == d.config_descriptor()


@pytest.mark.parametrize("name", sorted(frame_manifest()))
def test_golden_frames_decode_as_the_manifest_says(name: str) -> None:
    expect = frame_manifest()[name]
    data = (FIXTURES / "frames" / name).read_bytes()
    if expect["verdict"] == "bad-crc":
        with pytest.raises(frames.BadCrc):
            frames.decode(data)
        return
    if expect["verdict"] == "bad-header":
        with pytest.raises(frames.FrameError) as caught:
            frames.decode(data)
        assert not isinstance(caught.value, frames.BadCrc)
        return
    frame = frames.decode(data)
    got = (frame.seq, int(frame.flags), frame.payload_len, f"0x{frame.payload_crc:08X}", frame.rx_time_us,
           frame.tx_time_us)
    fields = ("seq", "flags", "payload_len", "payload_crc", "rx_time_us", "tx_time_us")
    assert got == tuple(expect[f] for f in fields)
    assert frames.encode(frame.payload, frame.seq, frame.flags, frame.rx_time_us, frame.tx_time_us) == data


def test_the_manifest_covers_every_frame_file_and_every_verdict() -> None:
    manifest = frame_manifest()
    assert set(manifest) == {p.name for p in (FIXTURES / "frames").glob("*.bin")}
    assert {str(e["verdict"]) for e in manifest.values()} == {"ok", "bad-crc", "bad-header"}


@pytest.mark.parametrize("path", sysex_files(), ids=lambda p: p.name)
def test_sysex_files_hold_whole_valid_messages(path: Path) -> None:
    messages = sysex_messages(path)
    assert messages and all(check_message(m) == m for m in messages)


def test_sysex_split_names_a_file_that_is_not_sysex(tmp_path: Path) -> None:
    bad = tmp_path / "bad.syx"
    bad.write_bytes(b"\x90\x40\x40")
    with pytest.raises(ValueError, match=r"bad\.syx: byte 0 does not start a whole SysEx message"):
        sysex_messages(bad)


@pytest.mark.parametrize("path", sysex_files(), ids=lambda p: p.name)
def test_sysex_file_echoes_through_the_loopback_board(path: Path) -> None:
    with LoopbackBoard(console_pty=False) as board:
        dev = usb.core.find(idVendor=c.VID, idProduct=c.PID, backend=LinkBackend([board]))
        assert dev is not None
        dev.set_configuration()
        assert echo_sysex(dev, sysex_messages(path)) == sysex_messages(path)
        counters = board.stats()
        assert counters["midi_rx_packets"] == counters["midi_tx_packets"] == len(packets_of(path)) // 4
        assert counters["midi_rx_bad"] == 0


def packets_of(path: Path) -> bytes:
    """The USB-MIDI event packets (cable 0) of every message in a .syx file."""
    return b"".join(encode_message(m, 0) for m in sysex_messages(path))


def echo_sysex(dev: usb.core.Device, messages: list[bytes]) -> list[bytes]:
    """Send `messages` as USB-MIDI packets in MidiMode.ECHO; the messages decoded from what comes back."""
    dev.ctrl_transfer(c.VENDOR_REQUEST_TYPE_OUT, c.Request.SET_MIDI_MODE, 0, 0,
                      c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.ECHO), T)
    packets = b"".join(encode_message(m, 0) for m in messages)
    dev.write(c.EP_MIDI_OUT, packets, T)
    back = b""
    for _ in range(len(packets) // 4 + 1):  # at least one packet a read
        if len(back) >= len(packets):
            break
        back += bytes(dev.read(c.EP_MIDI_IN, 512, T))
    assert back == packets
    return [message.data for _, message in UsbMidiDecoder().messages(back)]

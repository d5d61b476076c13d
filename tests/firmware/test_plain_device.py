"""The plain USB-MIDI image (firmware/plain: 1209:0002, two cables, 32-byte bulk packets, no vendor
interface, no CDC) is not our board: the emulator runs it from any image format, the host model moves
its 32-byte packets, and each broken variant fails the device-agnostic check that guards its rule."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rig.errors import TargetError
from rig.links.emulator import BridgeStartError, EmulatorLink, boot_diagnosis
from rig.links.flash_image import FlashImageError, elf_to_bin, read_flash_image
from rig.targets.emulator import EmulatorArgs, EmulatorTarget, parse_emulator_arg
from rig.targets.midi_options import MidiOptions
from rig.targets.registry import Feature, TargetSpec

from .conftest import REPO, T, need_bridge

EP_OUT, EP_IN = 0x03, 0x82
DESCRIPTORS = "tests/conformance_usbmidi/test_descriptors.py::test_midi_descriptors_conform"
PACKETS = ("tests/conformance_usbmidi/test_event_packets.py::"
           "test_device_takes_legal_packets_and_sends_only_legal_ones")
BURST = "tests/conformance_midi/test_messages.py::test_every_message_of_a_burst_comes_back_the_last_too"
VARIANTS = {
    "bad_total": (DESCRIPTORS, "", "MS header wTotalLength 92"),
    "dangling_jack": (DESCRIPTORS, "", "external MIDI OUT jack 8 baSourceID 10 names no jack or element"),
    "bad_cin": (PACKETS, "", "status byte 0x90 does not match the CIN"),
    "drop_last": (BURST, ",echo", "burst of 2 messages in one write: 1 came back; lost message(s) [1]"),
}
"""Variant -> (the agnostic test that must fail on it, the target options it runs with, a piece of the
finding it must report). drop_last keeps every packet legal, so only the midi suite's count of what
an echoing device (`,echo`) sends back catches it."""


def test_image_formats_give_the_same_flash(firmware_build: Path) -> None:
    """.elf (load addresses), .uf2 and .bin of one build are the same flash contents."""
    flat = (firmware_build / "plain.bin").read_bytes()
    assert read_flash_image(firmware_build / "plain.uf2")[:len(flat)] == flat
    assert read_flash_image(firmware_build / "plain.elf") == flat


def test_bad_images_are_named_errors(tmp_path: Path) -> None:
    for name, data, words in (("x.elf", b"not an elf at all" * 4, "not an ELF"),
                              ("x.uf2", b"\0" * 100, "UF2 size"),
                              ("x.bin", b"", "empty"),
                              ("x.hex", b":00000001FF", ".bin, .uf2 or .elf")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(FlashImageError, match=words):
            read_flash_image(tmp_path / name)


def test_elf_loading_into_ram_is_not_a_flash_image(firmware_build: Path) -> None:
    """A PT_LOAD segment with bytes outside 0x10000000-0x10FFFFFF (a RAM-only build) is refused."""
    elf = bytearray((firmware_build / "plain.elf").read_bytes())
    phoff = int.from_bytes(elf[28:32], "little")
    elf[phoff + 12:phoff + 16] = (0x20000000).to_bytes(4, "little")  # first segment's p_paddr
    with pytest.raises(FlashImageError, match="outside the flash"):
        elf_to_bin(bytes(elf))


def test_emulator_spec_takes_image_and_rom(tmp_path: Path) -> None:
    assert parse_emulator_arg("a.uf2,rom=r.bin", {}) == EmulatorArgs(Path("a.uf2"), Path("r.bin"))
    assert parse_emulator_arg("a.elf", {"RIG_ROM": "env.bin"}) == EmulatorArgs(Path("a.elf"), Path("env.bin"))
    assert parse_emulator_arg(",rom=r.bin", {"RIG_ROM": "env.bin"}) == EmulatorArgs(None, Path("r.bin"))
    assert parse_emulator_arg("a.uf2,bootsel", {}) == EmulatorArgs(Path("a.uf2"), None, True)
    assert parse_emulator_arg(None, {}) == EmulatorArgs()
    assert parse_emulator_arg("a.uf2,echo,cable=3,listen=2", {}) == EmulatorArgs(
        Path("a.uf2"), midi=MidiOptions(echo=True, cable=3, listen_s=2.0))
    assert parse_emulator_arg("a.uf2,loop", {}).midi == MidiOptions(loop=True)
    for bad in ("speed=2", "cable=16", "listen=0", "echoes"):
        with pytest.raises(TargetError, match=f"unknown option '{bad}'.*,echo"):
            parse_emulator_arg(f"a.uf2,{bad}", {})


def test_an_emulator_target_boots_the_rom_its_spec_or_rig_rom_names(firmware_build: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`emulator:IMAGE,rom=PATH` and env RIG_ROM reach the bridge (issue #8 section 1): the target boots
    from that ROM file (INFO's rom.image), `rom=` winning over RIG_ROM; a ROM file that is not there
    fails the open naming it."""
    need_bridge()
    plain = firmware_build / "plain.uf2"
    named, from_env = tmp_path / "named_rom.bin", tmp_path / "env_rom.bin"
    for rom in (named, from_env):
        rom.write_bytes((firmware_build / "rom_model.bin").read_bytes())
    monkeypatch.setenv("RIG_ROM", str(from_env))
    for spec, rom in ((f"emulator:{plain},rom={named}", named), (f"emulator:{plain}", from_env)):
        with EmulatorTarget(TargetSpec.parse(spec)) as target:
            assert target.link is not None and target.link.info()["rom"]["image"] == str(rom), spec
            assert (target.usb_device().idVendor, target.usb_device().idProduct) == (0x1209, 0x0002)
    missing = tmp_path / "no_rom.bin"
    with pytest.raises(TargetError, match=r"boot ROM .*no_rom\.bin does not exist"):
        EmulatorTarget(TargetSpec.parse(f"emulator:{plain},rom={missing}")).open()


def test_a_rom_bootloader_is_explained_from_the_image() -> None:
    """With a real ROM a bad boot2 CRC ends in the ROM's bootloader: the diagnosis says so from the
    image's CRC (the model ROM's breakpoints are not needed)."""
    bad = {"boot": {"image_boot2": {"crc_ok": False, "computed_crc": "0x1", "stored_crc": "0x2"}}}
    assert boot_diagnosis(bad).startswith("boot2 CRC mismatch: the image's first 252 bytes give 0x1 but "
                                          "offset 252 holds 0x2")
    assert "BOOTSEL button is held" in boot_diagnosis({"boot": {"image_boot2": {"crc_ok": True},
                                                                "bootsel_button": True}})
    assert "boot2 was never entered" in boot_diagnosis({"boot": {}})


def test_an_image_that_ends_in_the_rom_bootloader_is_explained_not_missed(firmware_build: Path,
                                                                          tmp_path: Path) -> None:
    """Issue #8 section 2: when the chip enumerates as the boot ROM's USB bootloader (2e8a:0003) instead
    of the image's device, the emulator target says so with the boot diagnosis rather than "no board
    attached". No real ROM is here, so the plain image is patched to present 2e8a:0003; with `bootsel`
    (the button held on purpose) it is opened as that device."""
    need_bridge()
    flat = bytearray((firmware_build / "plain.bin").read_bytes())
    device_desc = bytes((18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x09, 0x12, 0x02, 0x00))
    assert flat.count(device_desc) == 1
    at = flat.index(device_desc) + 8
    flat[at:at + 4] = bytes((0x8A, 0x2E, 0x03, 0x00))
    image = tmp_path / "rom_bootloader_ids.bin"
    image.write_bytes(bytes(flat))
    with pytest.raises(TargetError, match=r"runs the boot ROM's USB bootloader \(2e8a:0003\), not .*"
                                          r"rom_bootloader_ids\.bin: the ROM started its USB bootloader "
                                          r"\(boot2 was entered"):
        EmulatorTarget(TargetSpec.parse(f"emulator:{image}")).open()
    with EmulatorTarget(TargetSpec.parse(f"emulator:{image},bootsel")) as target:
        assert (target.usb_device().idVendor, target.usb_device().idProduct) == (0x2E8A, 0x0003)


def test_bad_boot2_crc_is_seen_in_the_image(firmware_build: Path, tmp_path: Path) -> None:
    """The bridge judges boot2's CRC from the image itself; with the model ROM a bad one stops boot."""
    need_bridge()
    flat = bytearray((firmware_build / "plain.bin").read_bytes())
    flat[10] ^= 0xFF
    image = tmp_path / "bad_crc.bin"
    image.write_bytes(bytes(flat))
    with pytest.raises(BridgeStartError, match="boot2 CRC mismatch"):
        EmulatorLink(image)


def test_echo_moves_32_byte_packets(firmware_build: Path) -> None:
    """The host model splits writes into the endpoint's 32-byte packets and ends reads on a short one
    (a 64-byte packet into the 32-byte buffer lost half of it before the host took sizes from the
    descriptors); both cables echo."""
    need_bridge()
    with EmulatorLink(firmware_build / "plain.uf2") as link:
        config = link.control(0x80, 6, 0x200, 0, 255, T)
        assert isinstance(config, bytes) and len(config) == config[2]
        link.control(0x00, 9, 1, 0, b"", T)
        burst = b"".join(bytes((cable << 4 | 0x9, 0x90 | n % 16, n, 100))
                         for n in range(30) for cable in (0, 1))
        assert link.write(EP_OUT, burst, T) == len(burst)
        got = b""
        while len(got) < len(burst):
            got += link.read(EP_IN, 256, T)
        assert got == burst
        assert link.info()["host_endpoints"]["endpoints"]["0x82"]["maxPacket"] == 32


def test_plain_image_is_not_our_board(firmware_build: Path) -> None:
    """emulator:IMAGE of a device that is not ours: its features from its descriptors (USB, USB-MIDI;
    not declared as echoing), and no vendor request reached it."""
    need_bridge()
    target = EmulatorTarget(TargetSpec.parse(f"emulator:{firmware_build / 'plain.uf2'}"))
    with target:
        dev = target.usb_device()
        assert (dev.idVendor, dev.idProduct) == (0x1209, 0x0002)
        assert not target.is_our_board
        assert target.features == {Feature.USB, Feature.USB_MIDI} == target.expected_features
        assert "not declared as echoing" in target.lacks(Feature.MIDI_ECHO)
        assert target.describe()["device"] == "1209:0002 (not our board)"
        assert target.foreign_vendor_requests() == []


def test_an_image_declared_echoing_gets_midi_echo(firmware_build: Path) -> None:
    """`emulator:IMAGE,echo` declares what descriptors cannot say (as `usb:...,echo`), so the midi suite
    applies to it; `cable=1` picks the cable the suites use."""
    need_bridge()
    with EmulatorTarget(TargetSpec.parse(f"emulator:{firmware_build / 'plain.uf2'},echo,cable=1")) as target:
        assert not target.is_our_board
        assert target.features == {Feature.USB, Feature.USB_MIDI, Feature.MIDI_ECHO}
        assert target.expected_features == target.features
        assert target.midi_options == MidiOptions(echo=True, cable=1)
        assert target.foreign_vendor_requests() == []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_variant_fails_its_agnostic_check(firmware_build: Path, variant: str) -> None:
    """A check that cannot fail is a defect: the agnostic test guarding the broken rule fails on the
    variant, with the finding that names it (the unbroken image passes it in `make test`)."""
    need_bridge()
    test, options, finding = VARIANTS[variant]
    image = firmware_build / f"plain_{variant}.uf2"
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    result = subprocess.run([sys.executable, "-m", "pytest", test, f"--rig=emulator:{image}{options}", "-q",
                             "-p", "no:cacheprovider"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "1 failed" in result.stdout, result.stdout[-3000:]
    assert finding in result.stdout, result.stdout[-3000:]

"""The emulator holds the firmware to the silicon's and the host's USB rules (emulator/usb_rules.js):
each rule is seen to fire on a firmware built with the thing it guards broken (a patched copy of the
sources in a temporary directory), stopping the run as a firmware bug that names the rule, the
register, the value and the pc; the real firmware breaks none of them, even through SET_ADDRESS,
halts and re-configuration. Also here: the host model's own behaviour (no ZLP appended to a write,
unconfigured endpoints gone, a bus reset's Address state refusing interface and endpoint requests)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig import contract as c
from rig.contract import frame_wire as frames
from rig.contract.ch9 import CLEAR_FEATURE, GET_STATUS, SET_ADDRESS, SET_CONFIGURATION, SET_FEATURE
from rig.links.emulator import EmulatorLink
from rig.links.usb_link import LinkGone, LinkStall, UsbLinkError

from .conftest import BUILD_TIMEOUT_S, FIRMWARE, T, need_bridge

NOTE = bytes((0x09, 0x90, 0x40, 0x40))


def variant(firmware_build: Path, tmp_path: Path, file: str, old: str, new: str) -> Path:
    """The firmware image built from the sources with `old` replaced by `new` in src/`file` (the
    session build's objects are reused, so only the patched file is compiled again)."""
    root = tmp_path / "firmware"
    shutil.copytree(FIRMWARE / "src", root / "src")
    shutil.copytree(FIRMWARE / "include", root / "include")
    shutil.copytree(FIRMWARE / "boot2", root / "boot2")
    shutil.copytree(FIRMWARE / "tools", root / "tools")
    shutil.copytree(FIRMWARE / "emulator" / "rom", root / "emulator" / "rom")
    for name in ("Makefile", "link.ld"):
        shutil.copy2(FIRMWARE / name, root / name)
    build = root / "build"
    shutil.copytree(firmware_build, build)
    source = root / "src" / file
    text = source.read_text()
    assert text.count(old) == 1, f"src/{file} no longer holds the text this test breaks: {old!r}"
    source.write_text(text.replace(old, new))
    target = build / "rig_firmware.bin"
    cmd = ["make", "-C", str(root), f"BUILD={build}", f"PYTHON={sys.executable}", str(target)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"src/{file}" in result.stdout  # the patched file was compiled again
    return target


def configure(link: EmulatorLink) -> None:
    config = link.control(0x80, 6, 0x0200, 0, 255, T)  # the host reads the configuration first
    assert isinstance(config, bytes) and len(config) > 9
    link.control(0x00, SET_CONFIGURATION, c.CONFIG_VALUE, 0, b"", T)


def halt(link: EmulatorLink, ep: int) -> None:
    link.control(0x02, SET_FEATURE, 0, ep, b"", T)


def queue_note(link: EmulatorLink) -> None:
    link.write(c.EP_MIDI_OUT, NOTE, T)  # ECHO (the default) queues the reply on EP_MIDI_IN


def halted(link: EmulatorLink, ep: int) -> int:
    reply = link.control(0x82, GET_STATUS, 0, ep, 2, T)
    assert isinstance(reply, bytes)
    return int(struct.unpack("<H", reply)[0])


def two_packets_each_way(link: EmulatorLink) -> None:
    for _ in range(2):
        queue_note(link)
        assert link.read(c.EP_MIDI_IN, 64, T) == NOTE


def stall_twice(link: EmulatorLink) -> None:
    for _ in range(2):
        with pytest.raises(LinkStall):
            link.control(0x80, 6, 0x0600, 0, 10, T)


def note_on_halted_in(link: EmulatorLink) -> None:
    configure(link)
    halt(link, c.EP_MIDI_IN)
    queue_note(link)


def configured_traffic(link: EmulatorLink) -> None:
    configure(link)
    two_packets_each_way(link)


def clear_halt_with_a_packet_armed(link: EmulatorLink) -> None:
    configure(link)
    queue_note(link)
    link.read(c.EP_MIDI_IN, 64, T)  # DATA0 went
    queue_note(link)  # DATA1 armed...
    link.clear_halt(c.EP_MIDI_IN)  # ...then the host resets the toggle
    link.read(c.EP_MIDI_IN, 64, T)


def halt_an_armed_out(link: EmulatorLink) -> None:
    configure(link)
    halt(link, c.EP_MIDI_OUT)  # EP_MIDI_OUT is armed from SET_CONFIGURATION on


def unsupported_request(link: EmulatorLink) -> None:
    link.control(0x80, 6, 0x0600, 0, 10, T)  # GET_DESCRIPTOR(DEVICE_QUALIFIER): STALLed


def get_device_descriptor(link: EmulatorLink) -> None:
    link.control(0x80, 6, 0x0100, 0, 18, T)


def set_address(link: EmulatorLink) -> None:
    link.control(0x00, SET_ADDRESS, 9, 0, b"", T)


def set_configuration(link: EmulatorLink) -> None:
    link.control(0x00, SET_CONFIGURATION, c.CONFIG_VALUE, 0, b"", T)


def get_configuration_descriptor(link: EmulatorLink) -> None:
    link.control(0x80, 6, 0x0200, 0, 255, T)


# Each case: the rule, the file, the text, what replaces it (the rule broken), and what the host does
# until the run stops.
Case = tuple[str, str, str, str, Callable[[EmulatorLink], None]]
CASES: dict[str, Case] = {
    "halt-cleared": (
        "halt-cleared", "dcd_rp2040.c",
        "    if (state & DCD_STALLED) {\n        st->armed = 1u;\n        held[ep][d] = (int16_t)len;\n"
        "        return;\n    }\n",
        "",  # the old arm(): writes the word without STALL
        note_on_halted_in),
    "toggle": (
        "toggle", "dcd_rp2040.c",
        "    st->word = (state | DCD_ARMED) ^ DCD_DATA1;",
        "    st->word = state | DCD_ARMED; /* the toggle never moves */",
        configured_traffic),
    "toggle-after-clear-halt": (
        "toggle", "dcd_rp2040.c",
        "        st->data1 = 0u;\n        if (len >= 0) {\n            st->armed = 1u;",
        "        if (len >= 0) {\n            st->armed = 1u;",
        clear_halt_with_a_packet_armed),
    "available-same-store": (
        "available-same-store", "dcd_rp2040.c",
        "    REG32(USB_DPRAM_BUF_CTRL(ep, d)) = value;\n    settle();",
        "    settle();",
        configure),
    "available-without-delay": (
        "available-same-store", "dcd_rp2040.c",
        '    __asm__ volatile("nop\\n nop\\n nop\\n nop\\n nop\\n nop\\n nop\\n nop");\n',
        "",
        configure),
    "buffer-control-owned": (
        "buffer-control-owned", "dcd_rp2040.c",
        "        len = take_back(ep, d, true, false);",
        "        REG32(USB_DPRAM_BUF_CTRL(ep, d)) = USB_BUF_STALL; /* no EP_ABORT */\n        len = -1;",
        halt_an_armed_out),
    "buffer-owned": (
        "buffer-owned", "midi.c",
        "        dcd_ep_arm_out(RIG_EP_MIDI_OUT, PKT);\n    }\n}",
        "        dcd_ep_arm_out(RIG_EP_MIDI_OUT, PKT);\n        dcd_ep_buffer(RIG_EP_MIDI_OUT)[0] = 0u;\n"
        "    }\n}",
        configure),
    "ep0-stall": (
        "ep0-stall", "dcd_rp2040.c",
        "    REG32(USB_EP_STALL_ARM) = 3u;",
        "",
        unsupported_request),
    "halt-kept-across-setup": (  # EP_STALL_ARM written once: the controller clears it on the next SETUP
        "ep0-stall", "dcd_rp2040.c",
        "    REG32(USB_EP_STALL_ARM) = 3u;",
        "    static bool once;\n    if (!once) {\n        REG32(USB_EP_STALL_ARM) = 3u;\n"
        "        once = true;\n    }",
        stall_twice),
    "w1c": (
        "w1c", "dcd_rp2040.c",
        "    REG32(USB_SIE_STATUS) = USB_SIE_STATUS_SETUP_REC;",
        "    REG32(USB_SIE_STATUS) = REG32(USB_SIE_STATUS); /* writes back what it read */",
        get_device_descriptor),
    "irq-pending": (
        "irq-pending", "dcd_rp2040.c",
        "    REG32(USB_INTE) = USB_INT_BUFF_STATUS | USB_INT_BUS_RESET | USB_INT_SETUP_REQ;",
        "    REG32(USB_INTE) = USB_INT_BUFF_STATUS | USB_INT_BUS_RESET | USB_INT_SETUP_REQ | 0x800u;",
        get_device_descriptor),
    "address": (
        "address", "usbd.c",
        "        reply->after_status = apply_set_address;",
        "        apply_set_address(); /* at once, before the status stage */",
        set_address),
    "control-stage": (
        "control-stage", "usbd.c",
        "    ep0.state = EP0_STATUS_IN;\n    dcd_ep_arm_in(0x80u, 0u);",
        "    ep0.state = EP0_STATUS_IN;\n    dcd_ep_arm_in(0x80u, 1u);",
        set_configuration),
    "max-packet": (
        "max-packet", "usbd.c",
        "    uint16_t n = ep0.in_left < USBD_EP0_SIZE ? ep0.in_left : (uint16_t)USBD_EP0_SIZE;",
        "    uint16_t n = ep0.in_left < USBD_EP0_SIZE + 8u ? ep0.in_left : (uint16_t)(USBD_EP0_SIZE + 8u);",
        get_configuration_descriptor),
}


def violation(exc: BaseException, rule: str) -> re.Match[str]:
    found = re.search(rf"firmware bug: USB rule '{re.escape(rule)}' broken: (.*)", str(exc))
    assert found is not None, f"expected rule {rule!r}, got: {exc}"
    return found


@pytest.mark.parametrize("case", list(CASES))
def test_each_rule_fires_on_a_firmware_that_breaks_it(firmware_build: Path, firmware_rom: Path,
                                                      tmp_path: Path, case: str) -> None:
    need_bridge()
    rule, file, old, new, drive = CASES[case]
    image = variant(firmware_build, tmp_path, file, old, new)
    with EmulatorLink(image, rom=firmware_rom) as link:
        with pytest.raises(LinkGone) as caught:
            drive(link)
            for _ in range(50):  # a rule checked on the host's next packet or by the periodic check
                link.control(0x80, GET_STATUS, 0, 0, 2, T)
        text = violation(caught.value, rule)[1]
        host_side = ("toggle", "max-packet", "control-stage", "ep0-stall")  # seen on a packet, not a store
        assert re.search(r"pc 0x[0-9a-f]+", text) or rule in host_side
        assert re.search(r"0x[0-9a-f]+", text)  # a register or word value
        assert not link.alive  # the bridge stopped the chip: every later call says why
        with pytest.raises(LinkGone, match=f"USB rule '{rule}'"):
            link.control(0x80, GET_STATUS, 0, 0, 2, T)


def test_warn_mode_records_and_goes_on(firmware_build: Path, firmware_rom: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """For firmware we did not write: RIG_BRIDGE_USB_RULES=warn keeps running and lists what broke."""
    need_bridge()
    _, file, old, new, _ = CASES["halt-cleared"]
    image = variant(firmware_build, tmp_path, file, old, new)
    monkeypatch.setenv("RIG_BRIDGE_USB_RULES", "warn")
    with EmulatorLink(image, rom=firmware_rom) as link:
        configure(link)
        halt(link, c.EP_MIDI_IN)
        queue_note(link)
        assert link.read(c.EP_MIDI_IN, 64, T) == NOTE  # what rp2040js alone lets through
        facts = link.info()["usb_rules"]
        assert facts["mode"] == "warn" and list(facts["fired"]) == ["halt-cleared"]
        assert "USB rule 'halt-cleared'" in facts["violations"][0]


# --- the real firmware -------------------------------------------------------------------------------

@pytest.fixture
def own_link(firmware_image: Path) -> Iterator[EmulatorLink]:
    need_bridge()
    assert os.environ.get("RIG_BRIDGE_USB_RULES", "strict") == "strict"
    with EmulatorLink(firmware_image) as link:
        yield link


def test_the_firmware_breaks_no_rule_through_address_halts_and_reconfig(own_link: EmulatorLink) -> None:
    link = own_link
    link.control(0x00, SET_ADDRESS, 23, 0, b"", T)  # takes effect after the status stage; the host follows
    configure(link)
    for ep in (c.EP_MIDI_IN, c.EP_MIDI_OUT):
        halt(link, ep)
        assert halted(link, ep) == 1
        link.clear_halt(ep)
    two_packets_each_way(link)
    queue_note(link)
    link.clear_halt(c.EP_MIDI_IN)  # not halted, a packet armed: re-armed as DATA0
    assert link.read(c.EP_MIDI_IN, 64, T) == NOTE
    link.control(0x01, 11, 0, c.IF_MIDI_STREAMING, b"", T)  # SET_INTERFACE: toggles back to DATA0
    two_packets_each_way(link)
    link.control(0x00, SET_CONFIGURATION, 0, 0, b"", T)
    configure(link)
    two_packets_each_way(link)
    facts = link.info()
    assert facts["state"] == "running"
    rules = facts["usb_rules"]
    assert rules["mode"] == "strict" and rules["fired"] == {} and rules["host"]["address"] == 23


def test_a_write_that_fills_its_last_packet_gets_no_zlp(own_link: EmulatorLink) -> None:
    """As libusb: 128 bytes are two packets; an empty write is one ZLP."""
    link = own_link
    configure(link)
    before = link.info()["out_packets"].get("4", {"packets": 0, "zlps": 0})
    link.write(c.EP_CDC_OUT, b"\r" * 128, T)
    link.write(c.EP_CDC_OUT, b"", T)
    after = link.info()["out_packets"]["4"]
    assert after["packets"] - before["packets"] == 3 and after["zlps"] - before["zlps"] == 1


def test_a_frame_then_a_zlp_is_one_frame(own_link: EmulatorLink) -> None:
    link = own_link
    configure(link)
    data = frames.encode(bytes(24), 0)
    assert len(data) == 64
    link.write(c.EP_FRAME_OUT, data, T)
    link.write(c.EP_FRAME_OUT, b"", T)  # a host that adds a ZLP: an empty transfer, ignored
    assert frames.decode(link.read(c.EP_FRAME_IN, 512, T)).payload_len == 24
    raw = link.control(0xC0, c.Request.GET_STATS, 0, 0, c.STATS.size, T)
    assert isinstance(raw, bytes)
    counters = c.STATS.unpack(raw)
    assert counters["frames_rx"] == 1 and counters["frames_bad_header"] == 0


def test_after_a_bus_reset_interface_and_endpoint_requests_stall(own_link: EmulatorLink) -> None:
    """USB 2.0 9.4: in the Address (and Default) state, requests to an interface or a non-zero endpoint
    get a Request Error; the device and EP0 answer."""
    link = own_link
    configure(link)
    link.reset()
    requests: list[tuple[int, int, int, int, bytes | int]] = [
        (0x81, GET_STATUS, 0, c.IF_MIDI_STREAMING, 2),
        (0x82, GET_STATUS, 0, c.EP_MIDI_IN, 2),
        (0x02, SET_FEATURE, 0, c.EP_MIDI_IN, b""),
        (0x02, CLEAR_FEATURE, 0, c.EP_MIDI_OUT, b""),
        (0xA1, 0x21, 0, c.IF_CDC_COMM, 7),  # CDC GET_LINE_CODING
        (0x21, 0x22, 3, c.IF_CDC_COMM, b""),  # CDC SET_CONTROL_LINE_STATE
    ]
    for bm, req, value, index, data in requests:
        with pytest.raises(LinkStall):
            link.control(bm, req, value, index, data, T)
    assert link.control(0x80, GET_STATUS, 0, 0, 2, T) == b"\x00\x00"
    assert link.control(0x82, GET_STATUS, 0, 0x80, 2, T) == b"\x00\x00"
    for call in (lambda: link.write(c.EP_MIDI_OUT, NOTE, T), lambda: link.read(c.EP_MIDI_IN, 64, T)):
        with pytest.raises(UsbLinkError, match="does not exist: the device is not configured"):
            call()
    assert link.info()["usb_rules"]["fired"] == {}


def test_writes_racing_deconfiguration_do_not_kill_the_bridge(own_link: EmulatorLink) -> None:
    """SET_CONFIGURATION(0) then multi-packet writes (MIDI and frames) used to crash rp2040js's
    finishRead (RangeError) and leave every later call ENODEV."""
    link = own_link
    configure(link)
    for _ in range(3):
        link.control(0x00, SET_CONFIGURATION, 0, 0, b"", T)
        for ep, data in ((c.EP_MIDI_OUT, bytes(200)), (c.EP_FRAME_OUT, frames.encode(bytes(300), 0))):
            with pytest.raises(UsbLinkError):
                link.write(ep, data, T)
        configure(link)
        link.write(c.EP_FRAME_OUT, frames.encode(bytes(300), 0), T)
        assert frames.decode(link.read(c.EP_FRAME_IN, 512, T)).payload_len == 300
    assert link.alive and link.info()["state"] == "running"

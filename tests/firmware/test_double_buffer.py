"""A firmware that really double-buffers: the plain image's `double_buf` variant keeps two packets in
the controller on each bulk MIDI endpoint (RP2040 datasheet 4.1.2.5.2: EP_CONTROL DOUBLE_BUFFERED,
both halves of the buffer control word, an interrupt per buffer). The emulator's host moves its
packets through both buffers in turn, its USB rules judge both halves (firmware/emulator/usb_rules.js),
and each rule for buffer 1 fires on a variant built to break it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rig.links.emulator import EmulatorLink
from rig.links.usb_link import LinkGone, LinkStall

from .conftest import REPO, T, need_bridge

EP_OUT, EP_IN = 0x03, 0x82
SET_CONFIGURATION, CLEAR_FEATURE, SET_FEATURE, GET_DESCRIPTOR = 9, 1, 3, 6
ENDPOINT_HALT = 0


def burst(events: int, first_note: int = 0) -> bytes:
    """Note Ons on cables 0 and 1 in turn: `events` 4-byte USB-MIDI event packets."""
    return b"".join(bytes(((n % 2) << 4 | 0x9, 0x90 | n % 16, (first_note + n) % 128, 100))
                    for n in range(events))


def read_all(link: EmulatorLink, size: int) -> bytes:
    got = b""
    while len(got) < size:
        got += link.read(EP_IN, 256, T)
    return got


def configured(link: EmulatorLink) -> EmulatorLink:
    link.control(0x80, GET_DESCRIPTOR, 0x0200, 0, 255, T)  # the host learns the 32-byte packets
    link.control(0x00, SET_CONFIGURATION, 1, 0, b"", T)
    return link


def test_both_buffers_carry_the_echo(firmware_build: Path) -> None:
    """Every packet of a burst both ways goes through buffer 0 and buffer 1 in turn, and no USB rule
    fires (strict mode: one would stop the chip). The single-buffered image uses buffer 0 only."""
    need_bridge()
    data = burst(60)
    for image, second_buffer_used in (("plain_double_buf.uf2", True), ("plain.uf2", False)):
        with configured(EmulatorLink(firmware_build / image)) as link:
            assert link.write(EP_OUT, data, T) == len(data)
            assert read_all(link, len(data)) == data
            info = link.info()
            done = info["buffer_completions"]
            assert info["usb_rules"]["fired"] == {}
            # 240 bytes: 8 packets OUT (7 full, one short), at least 8 IN; taken in turn by the select.
            for ep in ("0x03", "0x82"):
                first, second = done[ep]
                assert first + second >= 8, done
                if second_buffer_used:
                    assert first - second in (0, 1), done
                else:
                    assert second == 0, done


def test_a_halt_takes_both_buffers_back_and_keeps_their_order(firmware_build: Path) -> None:
    """SET_FEATURE(ENDPOINT_HALT) while both IN buffers hold echoed packets that no read has taken:
    the firmware revokes both (EP_ABORT), STALLs, and after CLEAR_FEATURE sends them again as DATA0,
    DATA1 in their order (the toggle rule would stop the chip otherwise); OUT, halted with both
    buffers armed, takes packets again after its halt is cleared (USB 2.0 9.4.5)."""
    need_bridge()
    with configured(EmulatorLink(firmware_build / "plain_double_buf.uf2")) as link:
        first = burst(16)  # two full packets: one in each IN buffer, waiting for a read
        assert link.write(EP_OUT, first, T) == len(first)
        link.control(0x02, SET_FEATURE, ENDPOINT_HALT, EP_IN, b"", T)
        with pytest.raises(LinkStall):
            link.read(EP_IN, 256, T)
        link.control(0x02, CLEAR_FEATURE, ENDPOINT_HALT, EP_IN, b"", T)
        assert read_all(link, len(first)) == first

        link.control(0x02, SET_FEATURE, ENDPOINT_HALT, EP_OUT, b"", T)
        with pytest.raises(LinkStall):
            link.write(EP_OUT, burst(1), T)
        link.control(0x02, CLEAR_FEATURE, ENDPOINT_HALT, EP_OUT, b"", T)
        second = burst(24, first_note=40)
        assert link.write(EP_OUT, second, T) == len(second)
        assert read_all(link, len(second)) == second
        info = link.info()
        assert info["usb_rules"]["fired"] == {}
        assert info["buffer_completions"]["0x82"][1] > 0


VARIANTS = {
    "db_twice": ("buffer-control-owned", "AVAILABLE set again before the controller consumed the buffer"),
    "db_word_store": ("buffer-control-owned", "a 32-bit store covers both buffers' halves"),
    "db_same_pid": ("double-pid", "both buffers AVAILABLE with DATA0"),
    "db_long": ("buffer-length", "buffer 1 made AVAILABLE for 65 bytes"),
    "db_same_store": ("available-same-store", "buffer 1's half AVAILABLE set in the same store"),
}
"""Variant -> (the USB rule it breaks, a piece of the finding): each built from plain_double_buf with
one -D (firmware/plain/plain_config.h)."""


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_buffer_1_rule_fires_on_its_variant(firmware_build: Path, variant: str) -> None:
    """A rule that cannot fire is a defect: each variant stops the chip with its rule named as soon
    as it arms its endpoints (SET_CONFIGURATION) and moves a packet."""
    need_bridge()
    rule, finding = VARIANTS[variant]
    with EmulatorLink(firmware_build / f"plain_{variant}.uf2") as link, pytest.raises(LinkGone) as failure:
        configured(link)
        data = burst(20)
        link.write(EP_OUT, data, T)
        read_all(link, len(data))
    assert f"USB rule '{rule}' broken" in str(failure.value)
    assert finding in str(failure.value)


AGNOSTIC = ("tests/conformance_usb/test_halt_and_state.py", "tests/conformance_usbmidi/test_event_packets.py",
            "tests/conformance_midi/test_sysex_and_floods.py::test_flood_every_event_accounted_for",
            "tests/conformance_midi/test_sysex_and_floods.py::test_interleaved_sysex_and_notes_flood")
"""The agnostic tests that move the most packets through the double-buffered endpoints (floods,
SysEx with notes, halts with packets in flight, malformed packets); the whole usb + usbmidi + midi
suites pass on the image too (firmware/README.md) but take two minutes here."""


def test_agnostic_floods_and_halts_pass_on_the_double_buffered_image(firmware_build: Path) -> None:
    need_bridge()
    image = firmware_build / "plain_double_buf.uf2"
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    result = subprocess.run([sys.executable, "-m", "pytest", *AGNOSTIC, f"--rig=emulator:{image},echo", "-q",
                             "-p", "no:cacheprovider", "--rig-strict"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-3000:]

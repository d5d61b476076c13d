"""Firmware that uses the USB controller's other interrupt and buffering modes, end to end through the
emulator's bridge (firmware/emulator/host_endpoints.js EndpointBuffers): the plain image's variants
(firmware/plain/plain_config.h) built with one -D each.
- db_pair: double-buffered bulk endpoints with INTERRUPT_PER_DOUBLE_BUFF instead of
  INTERRUPT_PER_BUFF (RP2040 datasheet, EP_CONTROL bit 28: "each time both buffers are done"), and a
  1 ms poll for a buffer 0 that completed alone; db_pair_nopoll the same without the poll.
- ep0_double: EP0 double-buffered (SIE_CTRL EP0_DOUBLE_BUF, buffer 1 at DPRAM 0x140) with
  EP0_INT_1BUF, finding the completed half in BUFF_CPU_SHOULD_HANDLE.
- ep0_int_2buf: the same with EP0_INT_2BUF (SIE_CTRL bit 28, "for every 2 buffers completed"): the
  interrupt stands for buffer 1, a 1 ms poll finds a buffer 0 done alone.
- no_buff_int: no endpoint enables a buffer interrupt (EP_CONTROL bits 29:28 and SIE_CTRL bits 29:28
  clear): no completion sets BUFF_STATUS, a 1 ms poll reads every armed buffer's AVAILABLE and FULL,
  and the firmware stops at a breakpoint if a BUFF_STATUS bit is ever set.
- db_should_handle: double-buffered bulk endpoints with an interrupt per buffer, BUFF_STATUS read by a
  1 ms poll (INTE leaves it out), so its bit often stands for both buffers; the half handled is the one
  BUFF_CPU_SHOULD_HANDLE names, and the firmware stops at bkpt #5 when that cannot be right.
A model that gets a mode wrong fails these: per buffer instead of per pair, the ep0_int_2buf image
takes buffer 0 for buffer 1 and its EP0 select goes wrong; no bit for a pair, its buffer 1 is never
handled; a bit with neither interrupt bit set, no_buff_int stops at its breakpoint."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from rig.links import emulator
from rig.links.emulator import BRIDGE_DIR, EmulatorLink
from rig.links.usb_link import LinkGone, LinkStall, LinkTimeout

from .conftest import T, need_bridge
from .test_double_buffer import EP_IN, EP_OUT, burst, configured, read_all

GET_DESCRIPTOR, SET_CONFIGURATION, GET_CONFIGURATION = 6, 9, 8
NO_ECHO_MS = 300
"""How long a read waits for an echo that must not come (the bridge scales it by the emulation speed)."""


def completions(link: EmulatorLink, ep: str) -> list[int]:
    done: list[int] = link.info()["buffer_completions"].get(ep, [0, 0])
    return done


def wait_completions(link: EmulatorLink, ep: str, want: list[int]) -> None:
    """Until the controller has completed `want` buffers of `ep` (the packets landed)."""
    deadline = time.monotonic() + 30
    while completions(link, ep) != want:
        assert time.monotonic() < deadline, (ep, completions(link, ep), want)
        link.ping()


def test_interrupt_per_pair_echoes_every_size(firmware_build: Path) -> None:
    """Transfers of 1, 2, 3 and 8 packets (an odd count leaves its last packet alone in buffer 0, which
    only the poll finds) come back byte-exact; BUFF_STATUS was set once per pair, by buffer 1's
    completions only, where the per-buffer image sets it for every buffer."""
    need_bridge()
    sizes = (1, 9, 17, 60, 3, 8)
    for image, per_pair in (("plain_db_pair.uf2", True), ("plain_double_buf.uf2", False)):
        with configured(EmulatorLink(firmware_build / image)) as link:
            for n in sizes:
                data = burst(n, first_note=n)
                assert link.write(EP_OUT, data, T) == len(data)
                assert read_all(link, len(data)) == data, (image, n)
            info = link.info()
            assert info["usb_rules"]["fired"] == {}
            for ep in ("0x03", "0x82"):
                first, second = info["buffer_completions"][ep]
                assert first >= second >= 4, (image, ep, first, second)
                sets = info["buffer_status_sets"][ep]
                assert sets == (second if per_pair else first + second), (image, ep, sets, first, second)


def test_a_buffer_done_alone_sets_no_interrupt_with_interrupt_per_pair(firmware_build: Path) -> None:
    """db_pair_nopoll: one OUT packet lands in buffer 0 and nothing tells the firmware (no BUFF_STATUS
    bit, so no echo); the next packet fills buffer 1, both buffers are done, the bit is set and both
    come back in order. A model that set BUFF_STATUS for every buffer echoes the first at once."""
    need_bridge()
    with configured(EmulatorLink(firmware_build / "plain_db_pair_nopoll.uf2")) as link:
        first, second = burst(1), burst(1, first_note=64)
        assert link.write(EP_OUT, first, T) == len(first)
        wait_completions(link, "0x03", [1, 0])
        with pytest.raises(LinkTimeout):
            link.read(EP_IN, 256, NO_ECHO_MS)
        assert link.info()["buffer_status_sets"]["0x03"] == 0
        assert link.write(EP_OUT, second, T) == len(second)
        assert read_all(link, 8) == first + second
        info = link.info()
        assert info["buffer_completions"]["0x03"] == [1, 1]
        assert info["buffer_status_sets"]["0x03"] == 1
        assert info["usb_rules"]["fired"] == {}


def enumerate_plain(link: EmulatorLink) -> list[bytes]:
    """Device, configuration (whole), string 0 and 2 descriptors, and the configuration value after
    SET_CONFIGURATION: control reads of one and of several EP0 packets, and OUT status stages."""
    got = [bytes(link.control(0x80, GET_DESCRIPTOR, 0x0100, 0, 18, T))]
    head = bytes(link.control(0x80, GET_DESCRIPTOR, 0x0200, 0, 9, T))
    got.append(bytes(link.control(0x80, GET_DESCRIPTOR, 0x0200, 0, head[2] | head[3] << 8, T)))
    got.append(bytes(link.control(0x80, GET_DESCRIPTOR, 0x0300, 0, 255, T)))
    got.append(bytes(link.control(0x80, GET_DESCRIPTOR, 0x0302, 0x0409, 255, T)))
    link.control(0x00, SET_CONFIGURATION, 1, 0, b"", T)
    got.append(bytes(link.control(0x80, GET_CONFIGURATION, 0, 0, 1, T)))
    return got


def assert_same_as_plain(link: EmulatorLink, want: list[bytes]) -> None:
    """Answers as plain.uf2 gave them (`want`), across a STALLed request and a bus reset, then a bulk
    echo; no USB rule fired."""
    assert enumerate_plain(link) == want
    with pytest.raises(LinkStall):
        link.control(0xC0, 0x01, 0, 0, 4, T)  # a vendor request: not ours to answer
    assert enumerate_plain(link) == want
    link.reset()
    assert enumerate_plain(link) == want
    for n in (1, 8, 9, 20):
        data = burst(n, first_note=n)
        assert link.write(EP_OUT, data, T) == len(data)
        assert read_all(link, len(data)) == data, n
    assert link.info()["usb_rules"]["fired"] == {}


@pytest.fixture(scope="module")
def plain_answers(firmware_build: Path) -> list[bytes]:
    """plain.uf2's answers to enumerate_plain: what the EP0 variants must answer."""
    need_bridge()
    with EmulatorLink(firmware_build / "plain.uf2") as link:
        want = enumerate_plain(link)
    assert len(want[1]) > 64  # the configuration descriptor takes two EP0 packets
    return want


def test_ep0_double_buffered_answers_as_the_single_buffered_device(firmware_build: Path,
                                                                  plain_answers: list[bytes]) -> None:
    """ep0_double answers every request with the same bytes as plain.uf2, through both EP0 buffers
    (0x100 and 0x140) in both directions, across a STALLed request (the SETUP takes an armed buffer
    back, the select stays), a bus reset, and a bulk echo after it; no USB rule fires."""
    with EmulatorLink(firmware_build / "plain_ep0_double.uf2") as link:
        assert_same_as_plain(link, plain_answers)
        info = link.info()
        for ep in ("0x80", "0x00"):
            first, second = info["buffer_completions"][ep]
            assert first >= 3 and second >= 3 and abs(first - second) <= 3, (ep, first, second)
            assert info["buffer_status_sets"][ep] == first + second  # EP0_INT_1BUF: every buffer


def test_ep0_interrupt_per_pair_answers_as_the_single_buffered_device(firmware_build: Path,
                                                                      plain_answers: list[bytes]) -> None:
    """ep0_int_2buf: the same bytes as plain.uf2 through both EP0 buffers in both directions; only
    buffer 1's completions set BUFF_STATUS, buffer 0's were found by the poll."""
    with EmulatorLink(firmware_build / "plain_ep0_int_2buf.uf2") as link:
        assert_same_as_plain(link, plain_answers)
        info = link.info()
        for ep in ("0x80", "0x00"):
            first, second = info["buffer_completions"][ep]
            assert first >= 3 and second >= 3, (ep, first, second)
            assert info["buffer_status_sets"][ep] == second, (ep, info["buffer_status_sets"][ep], second)


def test_no_buffer_interrupt_polls_every_buffer(firmware_build: Path, plain_answers: list[bytes]) -> None:
    """no_buff_int: the same bytes as plain.uf2 and the bulk echo with no BUFF_STATUS bit ever set
    (the firmware would stop at its breakpoint): every completion was found in its buffer control word."""
    with EmulatorLink(firmware_build / "plain_no_buff_int.uf2") as link:
        assert_same_as_plain(link, plain_answers)
        info = link.info()
        for ep in ("0x80", "0x00", "0x03", "0x82"):
            assert sum(info["buffer_completions"][ep]) >= 4, (ep, info["buffer_completions"][ep])
        assert set(info["buffer_status_sets"].values()) == {0}, info["buffer_status_sets"]


SHOULD_HANDLE_SIZES = (1, 8, 9, 16, 24, 60, 17)
"""Events per echo: 16 and more fill both OUT buffers before the poll reads BUFF_STATUS."""


def echo_every_size(link: EmulatorLink) -> None:
    for n in SHOULD_HANDLE_SIZES:
        data = burst(n, first_note=n)
        assert link.write(EP_OUT, data, T) == len(data)
        assert read_all(link, len(data)) == data, n


def test_should_handle_names_the_buffer_after_two_completions(firmware_build: Path) -> None:
    """db_should_handle echoes every size byte-exact, and on both bulk endpoints BUFF_STATUS stood for
    two buffers at least once (INFO buffer_status_again: the acknowledge set the bit again for the
    second): the firmware read BUFF_CPU_SHOULD_HANDLE after two completions and handled the buffer it
    named first, the older one (datasheet: "Which of the double buffers should be handled")."""
    need_bridge()
    with configured(EmulatorLink(firmware_build / "plain_db_should_handle.uf2")) as link:
        echo_every_size(link)
        info = link.info()
        assert info["usb_rules"]["fired"] == {}
        for ep in ("0x03", "0x82"):
            assert min(info["buffer_completions"][ep]) >= 8, (ep, info["buffer_completions"][ep])
            assert info["buffer_status_again"].get(ep, 0) >= 1, (ep, info["buffer_status_again"])


LAST_COMPLETED = """
    this.shouldHandle = half ? (this.shouldHandle | bit) >>> 0 : (this.shouldHandle & ~bit) >>> 0;
    if (raises && current & bit) {"""
"""The model's bug this breaks in on purpose: BUFF_CPU_SHOULD_HANDLE names the buffer completed last,
also while a second completion is kept behind the set bit (the model before issue #8's last session)."""


def test_a_model_naming_the_last_buffer_completed_fails_the_should_handle_image(
        firmware_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bridge run from a copy whose BufferStatusLatch names the last buffer completed: the image
    that reads BUFF_CPU_SHOULD_HANDLE after two completions stops at its bkpt #5 (with that check
    removed by hand it echoed a packet twice and lost the one before it), while double_buf, which
    takes the halves in the order it armed them, still echoes every size."""
    need_bridge()
    bridge = tmp_path / "emulator"
    shutil.copytree(BRIDGE_DIR, bridge, symlinks=True, ignore=shutil.ignore_patterns("node_modules"))
    (bridge / "node_modules").symlink_to((BRIDGE_DIR / "node_modules").resolve())
    model = bridge / "host_endpoints.js"
    text = model.read_text()
    marker = "\n    if (raises && current & bit) {"
    assert text.count(marker) == 1, "BufferStatusLatch.raise changed: update LAST_COMPLETED"
    model.write_text(text.replace(marker, LAST_COMPLETED))
    monkeypatch.setattr(emulator, "BRIDGE_JS", bridge / "bridge.js")
    with configured(EmulatorLink(firmware_build / "plain_double_buf.uf2")) as link:
        echo_every_size(link)
    with (configured(EmulatorLink(firmware_build / "plain_db_should_handle.uf2")) as link,
          pytest.raises(LinkGone, match=r"bkpt #5")):
        echo_every_size(link)

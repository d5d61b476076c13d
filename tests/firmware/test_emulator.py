"""The firmware in rp2040js through the Node bridge: enumeration and descriptors through pyusb,
standard and vendor requests, STALL, halt, bus reset, MIDI echo and frame echo. (The model boot
ROM, boot2, the flash unique ID and BOOTSEL: test_emulator_rom.py.)"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import usb.core
import usb.util

from rig import contract as c
from rig.contract import descriptors as d
from rig.contract import frame_wire as frames
from rig.links.emulator import BridgeStartError, EmulatorLink
from rig.links.usb_link import LinkGone, LinkStall, LinkTimeout

from .conftest import T, need_bridge, stats

OLD_FALLBACK_SERIAL = "524947454D553031"
"""The fixed ID ("RIGEMU01") the firmware reported while the emulator had no boot ROM."""


def test_enumerates_with_the_contract_descriptors(dev: usb.core.Device) -> None:
    assert (dev.idVendor, dev.idProduct, dev.bcdDevice) == (c.VID, c.PID, c.bcd_device())
    assert bytes(dev.ctrl_transfer(0x80, 6, 0x0100, 0, 18, T)) == d.device_descriptor()
    total = len(d.config_descriptor())
    assert bytes(dev.ctrl_transfer(0x80, 6, 0x0200, 0, 512, T)) == d.config_descriptor()
    assert bytes(dev.ctrl_transfer(0x80, 6, 0x0200, 0, 9, T)) == d.config_descriptor()[:9]
    assert dev.get_active_configuration().wTotalLength == total
    assert dev.get_active_configuration().bNumInterfaces == c.NUM_INTERFACES


def test_strings_and_serial_number(link: EmulatorLink, dev: usb.core.Device) -> None:
    for index, text in c.STRINGS.items():
        assert usb.util.get_string(dev, index) == text
    uid = link.info()["flash"]["uid"]  # the bridge's default flash unique ID, read through the ROM
    assert usb.util.get_string(dev, c.STRING_INDEX_SERIAL) == uid != OLD_FALLBACK_SERIAL
    assert bytes(dev.ctrl_transfer(0x80, 6, 0x0300, 0, 255, T)) == d.string_descriptor(0, b"")


def test_get_info_reports_the_contract(link: EmulatorLink, dev: usb.core.Device) -> None:
    info = c.INFO.unpack(bytes(dev.ctrl_transfer(0xC0, c.Request.GET_INFO, 0, 0, c.INFO.size, T)))
    assert info["contract_version"] == c.CONTRACT_VERSION
    assert (info["fw_major"], info["fw_minor"], info["fw_patch"]) == c.FIRMWARE_VERSION
    assert info["ring_slots"] == c.FRAME_RING_SLOTS and info["max_payload"] == c.FRAME_MAX_PAYLOAD
    assert info["clock_hz"] == 125_000_000
    assert info["unique_id"] == bytes.fromhex(link.info()["flash"]["uid"])
    caps = c.Capability(int(info["capabilities"]))
    assert c.Capability.MIDI in caps and c.Capability.FRAMES in caps and c.Capability.DMA in caps
    assert c.Capability.BOOTLOADER in caps  # the model boot ROM has reset_usb_boot


def test_get_time_advances(dev: usb.core.Device) -> None:
    first = int.from_bytes(bytes(dev.ctrl_transfer(0xC0, c.Request.GET_TIME, 0, 0, 8, T)), "little")
    second = int.from_bytes(bytes(dev.ctrl_transfer(0xC0, c.Request.GET_TIME, 0, 0, 8, T)), "little")
    assert 0 < first < second


def test_unsupported_requests_stall_and_the_device_keeps_working(dev: usb.core.Device) -> None:
    before = stats(dev)["control_stalls"]
    for bm, req, value in ((0xC0, 0x55, 0), (0x80, 6, 0x0600), (0x80, 6, 0x0307), (0x00, 9, 7)):
        with pytest.raises(usb.core.USBError) as info:
            dev.ctrl_transfer(bm, req, value, 0, 8 if bm & 0x80 else None, T)
        assert info.value.errno == errno.EPIPE
    assert stats(dev)["control_stalls"] == before + 4
    assert dev.ctrl_transfer(0x80, 8, 0, 0, 1, T)[0] == c.CONFIG_VALUE


def test_midi_mode_round_trip_and_bad_mode_stalls(dev: usb.core.Device) -> None:
    config = c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.TRANSFORM, transpose=-3)
    assert dev.ctrl_transfer(0x40, c.Request.SET_MIDI_MODE, 0, 0, config, T) == len(config)
    assert bytes(dev.ctrl_transfer(0xC0, c.Request.GET_MIDI_MODE, 0, 0, 12, T)) == config
    with pytest.raises(usb.core.USBError):
        dev.ctrl_transfer(0x40, c.Request.SET_MIDI_MODE, 0, 0, c.MIDI_MODE_CONFIG.pack(mode=7), T)
    assert bytes(dev.ctrl_transfer(0xC0, c.Request.GET_MIDI_MODE, 0, 0, 12, T)) == config


def test_midi_echo_and_transform(dev: usb.core.Device) -> None:
    packets = bytes((0x09, 0x90, 60, 100, 0x0B, 0xB0, 7, 64, 0x00, 0, 0, 0, 0x08, 0x80, 1, 0))
    dev.ctrl_transfer(0x40, c.Request.SET_MIDI_MODE, 0, 0, c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.ECHO), T)
    before = stats(dev)
    dev.write(c.EP_MIDI_OUT, packets, T)
    assert bytes(dev.read(c.EP_MIDI_IN, 64, T)) == packets[:8] + packets[12:]  # padding not echoed
    config = c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.TRANSFORM, transpose=-3)
    dev.ctrl_transfer(0x40, c.Request.SET_MIDI_MODE, 0, 0, config, T)
    dev.write(c.EP_MIDI_OUT, packets, T)
    assert bytes(dev.read(c.EP_MIDI_IN, 64, T)) == bytes((0x09, 0x90, 57, 100, 0x0B, 0xB0, 7, 64,
                                                           0x08, 0x80, 126, 0))
    after = stats(dev)
    assert after["midi_rx_packets"] - before["midi_rx_packets"] == 6
    assert after["midi_tx_packets"] - before["midi_tx_packets"] == 6


@pytest.mark.parametrize("size", [0, 1, 24, 63, 1000, c.FRAME_MAX_PAYLOAD])
def test_frame_echo(dev: usb.core.Device, size: int) -> None:
    echo = c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.ECHO)
    dev.ctrl_transfer(0x40, c.Request.SET_FRAME_MODE, 0, 0, echo, T)
    payload = bytes((7 * i + size) & 0xFF for i in range(size))
    dev.write(c.EP_FRAME_OUT, frames.encode(payload, 0), T)
    back = frames.decode(bytes(dev.read(c.EP_FRAME_IN, frames.HEADER_SIZE + c.FRAME_MAX_PAYLOAD, T)))
    assert bytes(back.payload) == payload
    assert back.seq == 0 and back.flags == c.FrameFlag.ECHOED
    assert 0 < back.rx_time_us <= back.tx_time_us


def test_endpoint_halt_and_clear(link: EmulatorLink, dev: usb.core.Device) -> None:
    dev.ctrl_transfer(0x40, c.Request.SET_MIDI_MODE, 0, 0, c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.ECHO), T)
    dev.ctrl_transfer(0x02, 3, 0, c.EP_MIDI_IN, None, T)  # SET_FEATURE(ENDPOINT_HALT)
    assert bytes(dev.ctrl_transfer(0x82, 0, 0, c.EP_MIDI_IN, 2, T)) == b"\x01\x00"
    with pytest.raises(LinkStall):
        link.read(c.EP_MIDI_IN, 64, 200)
    dev.clear_halt(c.EP_MIDI_IN)
    assert bytes(dev.ctrl_transfer(0x82, 0, 0, c.EP_MIDI_IN, 2, T)) == b"\x00\x00"
    dev.write(c.EP_MIDI_OUT, bytes((0x09, 0x90, 1, 2)), T)
    assert bytes(dev.read(c.EP_MIDI_IN, 64, T)) == bytes((0x09, 0x90, 1, 2))


def test_read_with_nothing_to_send_times_out(link: EmulatorLink) -> None:
    with pytest.raises(LinkTimeout):
        link.read(c.EP_FRAME_IN, 64, 50)


def test_bus_reset_leaves_the_device_unconfigured(link: EmulatorLink, dev: usb.core.Device) -> None:
    resets = stats(dev)["usb_resets"]
    link.reset()
    assert link.control(0x80, 8, 0, 0, 1, T) == b"\x00"
    with pytest.raises(LinkStall):
        link.control(0x40, c.Request.GET_FRAME_MODE, 0, 0, b"", T)  # an IN request sent as OUT
    link.control(0x00, 5, 3, 0, b"", T)  # SET_ADDRESS, applied after its status stage
    link.control(0x00, 9, c.CONFIG_VALUE, 0, b"", T)
    assert stats(dev)["usb_resets"] == resets + 1


def test_closed_link_raises_link_gone(firmware_image: Path) -> None:
    need_bridge()
    link = EmulatorLink(firmware_image)
    assert link.ping() > 0
    link.close()
    link.close()
    with pytest.raises(LinkGone):
        link.control(0x80, 6, 0x0100, 0, 18, T)


def test_get_framing_returns_the_contract_bytes(dev: usb.core.Device) -> None:
    expected = d.framing_ex()
    assert bytes(dev.ctrl_transfer(0xC0, c.Request.GET_FRAMING, 0, 0, 512, T)) == expected


def test_frame_source_and_backpressure(link: EmulatorLink, dev: usb.core.Device) -> None:
    dev.ctrl_transfer(0x40, c.Request.RESET_STATS, 0, 0, None, T)
    config = c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.SOURCE, payload_len=100, count=c.FRAME_RING_SLOTS + 3)
    dev.ctrl_transfer(0x40, c.Request.SET_FRAME_MODE, 0, 0, config, T)
    for seq in range(c.FRAME_RING_SLOTS + 3):
        frame = frames.decode(bytes(dev.read(c.EP_FRAME_IN, 512, T)))
        assert frame.seq == seq and frame.flags == c.FrameFlag.SOURCED
        assert bytes(frame.payload) == frames.source_payload(seq, 100)
    with pytest.raises(LinkTimeout):
        link.read(c.EP_FRAME_IN, 512, 50)
    # ECHO without reading: the ring fills, then the device NAKs the OUT endpoint; nothing is lost.
    echo = c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.ECHO)
    dev.ctrl_transfer(0x40, c.Request.SET_FRAME_MODE, 0, 0, echo, T)
    sent = 0
    with pytest.raises(LinkTimeout):
        for seq in range(4 * c.FRAME_RING_SLOTS):
            link.write(c.EP_FRAME_OUT, frames.encode(bytes((seq,)) * 10, seq), 100)
            sent += 1
    assert c.FRAME_RING_SLOTS <= sent < 4 * c.FRAME_RING_SLOTS
    for seq in range(sent):
        assert bytes(frames.decode(bytes(dev.read(c.EP_FRAME_IN, 512, T))).payload) == bytes((seq,)) * 10
    counters = stats(dev)
    assert counters["frames_rx"] == counters["frames_tx"] - (c.FRAME_RING_SLOTS + 3) == sent
    assert counters["ring_full_naks"] >= 1 and counters["ring_high_water"] == c.FRAME_RING_SLOTS


def test_bridge_that_dies_turns_calls_into_link_gone(firmware_image: Path) -> None:
    need_bridge()
    link = EmulatorLink(firmware_image)
    try:
        link._proc.kill()
        with pytest.raises(LinkGone):
            for _ in range(50):  # the reader notices the exit within a few calls at most
                link.control(0x80, 6, 0x0100, 0, 18, T)
        assert not link.alive
    finally:
        link.close()


def tiny_image(firmware_image: Path, code: bytes) -> bytes:
    """The firmware's boot2 (so the ROM boots it), a vector table at 0x100 and `code` from 0x108."""
    vectors = (0x20042000).to_bytes(4, "little") + (0x10000109).to_bytes(4, "little")
    return firmware_image.read_bytes()[:0x100] + vectors + code


def test_image_that_never_enables_usb_fails_to_start(firmware_image: Path, firmware_rom: Path,
                                                     tmp_path: Path) -> None:
    need_bridge()
    idle = tmp_path / "idle.bin"
    idle.write_bytes(tiny_image(firmware_image, b"\xfe\xe7"))  # b . : boots, never enables USB
    with pytest.raises(BridgeStartError, match="did not start: no ready message"):
        EmulatorLink(idle, rom=firmware_rom, boot_timeout_s=1.0)
    with pytest.raises(BridgeStartError, match="does not exist"):
        EmulatorLink(tmp_path / "missing.bin")
    with pytest.raises(BridgeStartError, match=r"boot ROM .* does not exist"):
        EmulatorLink(idle, rom=tmp_path / "no_rom.bin")


def test_firmware_fault_is_reported_as_gone(firmware_image: Path, firmware_rom: Path, tmp_path: Path) -> None:
    need_bridge()
    faulty = tmp_path / "fault.bin"
    faulty.write_bytes(tiny_image(firmware_image, b"\x00\xbe"))  # bkpt #0, as the fault handler does
    with pytest.raises(BridgeStartError, match=r"breakpoint \(bkpt #0, pc 0x10000108\)"):
        EmulatorLink(faulty, rom=firmware_rom, boot_timeout_s=10.0)


def test_console_reply_on_a_packet_boundary_ends_with_a_zlp(link: EmulatorLink,
                                                            dev: usb.core.Device) -> None:
    dev.set_configuration()
    word = "y" * 24  # the reply is then exactly 64 bytes: one full packet, which needs a ZLP to end
    link.write(c.EP_CDC_OUT, word.encode() + b"\r\n", T)
    reply = link.read(c.EP_CDC_IN, 4096, T)
    assert reply == f"error: unknown command '{word}' (try help)\r\n> ".encode()
    assert len(reply) == 64
    link.write(c.EP_CDC_OUT, b"time\n", T)
    assert link.read(c.EP_CDC_IN, 4096, T).endswith(b"\r\n> ")


def test_midi_transfer_of_a_full_packet_ends_with_a_zlp(dev: usb.core.Device) -> None:
    dev.ctrl_transfer(0x40, c.Request.SET_MIDI_MODE, 0, 0, c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.ECHO), T)
    packets = b"".join(bytes((0x09, 0x90, n, 1)) for n in range(16))
    dev.write(c.EP_MIDI_OUT, packets, T)
    assert bytes(dev.read(c.EP_MIDI_IN, 512, T)) == packets


def test_midi_source_numbers_its_notes_and_sink_sends_nothing(link: EmulatorLink,
                                                              dev: usb.core.Device) -> None:
    dev.ctrl_transfer(0x40, c.Request.RESET_STATS, 0, 0, None, T)
    config = c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.SOURCE, rate_hz=20000, count=40)
    dev.ctrl_transfer(0x40, c.Request.SET_MIDI_MODE, 0, 0, config, T)
    got = b""
    while len(got) < 40 * 8:
        got += bytes(dev.read(c.EP_MIDI_IN, 64, T))
    assert len(got) == 40 * 8
    for seq in range(40):
        note = seq & 0x7F
        velocity = 1 + (seq >> 7) % 127
        assert got[8 * seq:8 * seq + 8] == bytes((0x09, 0x90, note, velocity, 0x08, 0x80, note, 0))
    with pytest.raises(LinkTimeout):
        link.read(c.EP_MIDI_IN, 64, 50)
    dev.ctrl_transfer(0x40, c.Request.SET_MIDI_MODE, 0, 0, c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.SINK), T)
    dev.write(c.EP_MIDI_OUT, bytes((0x09, 0x90, 1, 1, 0x01, 0, 0, 0, 0x19, 0x90, 1, 1)), T)
    with pytest.raises(LinkTimeout):
        link.read(c.EP_MIDI_IN, 64, 50)
    counters = stats(dev)
    assert counters["midi_tx_packets"] == 80
    # every packet but padding is received, the bad ones also counted bad (contract; issue #15 item 6)
    assert counters["midi_rx_packets"] == 3 and counters["midi_rx_bad"] == 2


def test_source_ignores_input_even_with_a_full_ring(link: EmulatorLink, dev: usb.core.Device) -> None:
    dev.ctrl_transfer(0x40, c.Request.RESET_STATS, 0, 0, None, T)
    config = c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.SOURCE, payload_len=8, count=c.FRAME_RING_SLOTS + 2)
    dev.ctrl_transfer(0x40, c.Request.SET_FRAME_MODE, 0, 0, config, T)
    for seq in range(3):  # input while the unread SOURCE frames fill the ring is taken and dropped
        assert link.write(c.EP_FRAME_OUT, frames.encode(b"12345678", seq), 500) == 48
    for seq in range(c.FRAME_RING_SLOTS + 2):
        assert frames.decode(bytes(dev.read(c.EP_FRAME_IN, 512, T))).seq == seq
    counters = stats(dev)
    # SOURCE checks and counts what it drops (contract; issue #15 item 5)
    assert counters["frames_rx"] == 3 and counters["ring_full_naks"] == 0
    assert counters["frames_tx"] == c.FRAME_RING_SLOTS + 2


def test_leaving_source_with_a_full_ring_empties_it_and_loses_no_input(link: EmulatorLink,
                                                                       dev: usb.core.Device) -> None:
    """SET_FRAME_MODE empties the ring (docs/protocol.md): the unread SOURCE frames are gone, the
    frame half sent is taken back from the controller, and input written after is echoed."""
    dev.ctrl_transfer(0x40, c.Request.RESET_STATS, 0, 0, None, T)
    config = c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.SOURCE, payload_len=4, count=c.FRAME_RING_SLOTS + 2)
    dev.ctrl_transfer(0x40, c.Request.SET_FRAME_MODE, 0, 0, config, T)
    echo = c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.ECHO)
    for _ in range(500):  # wait (boundedly) until SOURCE has filled the ring
        if stats(dev)["ring_high_water"] >= c.FRAME_RING_SLOTS:
            break
    assert stats(dev)["ring_high_water"] == c.FRAME_RING_SLOTS
    dev.ctrl_transfer(0x40, c.Request.SET_FRAME_MODE, 0, 0, echo, T)
    link.write(c.EP_FRAME_OUT, frames.encode(b"held", 0), T)  # OUT was still armed from SOURCE
    back = frames.decode(bytes(dev.read(c.EP_FRAME_IN, 512, T)))
    assert back.flags == c.FrameFlag.ECHOED and bytes(back.payload) == b"held" and back.seq == 0
    with pytest.raises(usb.core.USBTimeoutError):
        dev.read(c.EP_FRAME_IN, 512, 100)


@pytest.mark.parametrize("interface", range(c.NUM_INTERFACES))
def test_set_interface_alt_0_is_accepted_and_get_interface_reports_it(dev: usb.core.Device,
                                                                       interface: int) -> None:
    before = stats(dev)["control_stalls"]
    dev.set_interface_altsetting(interface, 0)  # SET_INTERFACE(alt 0)
    assert bytes(dev.ctrl_transfer(0x81, 10, 0, interface, 1, T)) == b"\x00"  # GET_INTERFACE
    assert stats(dev)["control_stalls"] == before


@pytest.mark.parametrize(("bm", "req", "value", "index", "data"), [
    pytest.param(0x01, 11, 1, c.IF_VENDOR, None, id="set-interface-alt-1"),
    pytest.param(0x01, 11, 1, c.IF_MIDI_STREAMING, None, id="set-interface-alt-1-midi"),
    pytest.param(0x01, 11, 0, c.NUM_INTERFACES, None, id="set-interface-no-such-interface"),
    pytest.param(0x81, 10, 0, c.NUM_INTERFACES, 1, id="get-interface-no-such-interface"),
])
def test_missing_alternate_settings_and_interfaces_stall(dev: usb.core.Device, bm: int, req: int, value: int,
                                                         index: int, data: int | None) -> None:
    before = stats(dev)["control_stalls"]
    with pytest.raises(usb.core.USBError) as caught:
        dev.ctrl_transfer(bm, req, value, index, data, T)
    assert caught.value.errno == errno.EPIPE
    assert stats(dev)["control_stalls"] == before + 1
    assert bytes(dev.ctrl_transfer(0x81, 10, 0, c.IF_VENDOR, 1, T)) == b"\x00"  # still alt 0, still working


def test_interface_requests_stall_while_unconfigured(link: EmulatorLink, dev: usb.core.Device) -> None:
    link.control(0x00, 9, 0, 0, b"", T)  # SET_CONFIGURATION(0): back to the address state
    try:
        with pytest.raises(LinkStall):
            link.control(0x81, 10, 0, c.IF_VENDOR, 1, T)
        with pytest.raises(LinkStall):
            link.control(0x01, 11, 0, c.IF_VENDOR, b"", T)
    finally:
        dev.set_configuration()
    assert link.control(0x81, 10, 0, c.IF_VENDOR, 1, T) == b"\x00"


PLL_PWR_OFF = (1 << 0) | (1 << 3) | (1 << 5)  # PD, POSTDIVPD, VCOPD
CLK_CTRL_ENABLE = 1 << 11


def _pll_out_hz(pll: dict[str, int], xosc_hz: int) -> int:
    """One PLL's output by the datasheet (2.18.2), after checking its constraints: reference >= 5 MHz,
    FBDIV 16..320, VCO 750..1600 MHz, post dividers 1..7 (POSTDIV1 >= POSTDIV2, the lower-power
    order), powered up and not bypassed."""
    refdiv = pll["cs"] & 0x3F
    fbdiv = pll["fbdiv_int"] & 0xFFF
    post1, post2 = (pll["prim"] >> 16) & 7, (pll["prim"] >> 12) & 7
    assert refdiv >= 1 and xosc_hz / refdiv >= 5_000_000, pll
    assert 16 <= fbdiv <= 320, pll
    vco = xosc_hz // refdiv * fbdiv
    assert 750_000_000 <= vco <= 1_600_000_000, f"VCO {vco} Hz outside 750-1600 MHz"
    assert 1 <= post2 <= post1 <= 7, pll
    assert pll["cs"] & (1 << 8) == 0, "PLL bypassed"
    assert pll["pwr"] & PLL_PWR_OFF == 0, f"PLL parts still powered down: pwr {pll['pwr']:#x}"
    return vco // (post1 * post2)


def test_clock_tree_meets_the_datasheet(link: EmulatorLink) -> None:
    """rp2040js accepts any clock setup, so the registers the firmware left are read back and checked
    against the datasheet's rules: XOSC 1-15 MHz range, enabled, >= 1 ms start-up delay; PLL_SYS
    125 MHz and PLL_USB 48 MHz within the PLL's limits; clk_ref = XOSC, clk_sys = PLL_SYS,
    clk_usb = PLL_USB / 1 (USB needs exactly 48 MHz), clk_peri = clk_sys."""
    regs = link.info()["clocks"]
    xosc_hz = regs["xosc_hz"]
    xosc = regs["xosc"]
    assert xosc["ctrl"] & 0xFFF == 0xAA0 and (xosc["ctrl"] >> 12) & 0xFFF == 0xFAB, f"{xosc['ctrl']:#x}"
    assert (xosc["startup"] & 0x3FFF) * 256 >= xosc_hz // 1000  # delay counts 256 XOSC cycles
    pll_sys = _pll_out_hz(regs["pll_sys"], xosc_hz)
    pll_usb = _pll_out_hz(regs["pll_usb"], xosc_hz)
    assert (pll_sys, pll_usb) == (125_000_000, 48_000_000)
    clk = regs["clocks"]
    assert clk["ref_ctrl"] & 3 == 2 and (clk["ref_div"] >> 8) & 3 == 1  # SRC xosc_clksrc, /1
    assert clk["sys_ctrl"] & 1 == 1 and (clk["sys_ctrl"] >> 5) & 7 == 0  # aux mux: clksrc_pll_sys
    assert clk["sys_div"] == 1 << 8  # INT 1, FRAC 0
    assert clk["usb_ctrl"] & CLK_CTRL_ENABLE and (clk["usb_ctrl"] >> 5) & 7 == 0  # clksrc_pll_usb
    assert (clk["usb_div"] >> 8) & 3 == 1
    assert clk["peri_ctrl"] & CLK_CTRL_ENABLE and (clk["peri_ctrl"] >> 5) & 7 == 0  # clk_sys
    assert regs["derived"] == {"clk_sys_hz": 125_000_000, "clk_peri_hz": 125_000_000}  # rp2040js agrees


def test_a_transfer_the_bridge_was_starved_during_completes(firmware_image: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #9: at load 33 a control transfer timed out because the bridge process was not run for
    longer than the transfer's wall timeout while the firmware was answering it. A timeout now also
    waits until the device has had the caller's time in its own time. Here the bridge stops for 1 s
    right after starting each 20 ms transfer (wall timeout 60 ms): the device never ran meanwhile, so
    every transfer must still complete."""
    need_bridge()
    monkeypatch.setenv("RIG_BRIDGE_HOLD_CONTROL_MS", "1000")
    link = EmulatorLink(firmware_image, timeout_scale=3)
    try:
        for _ in range(2):
            descriptor = link.control(0x80, 6, 0x0100, 0, 18, 20)
            assert isinstance(descriptor, bytes) and len(descriptor) == 18
    finally:
        link.close()

"""The rig's USB-MIDI class driver over a loopback board: every message both ways with the counters
balanced, the kernel-driver binding pyusb sees (EBUSY until detached, rebinding), SOURCE output
reaching the OS port, clean close, and bad arguments."""

from __future__ import annotations

import errno
import os

import pytest
import usb.core
import usb.util

from host import midi as m
from rig import contract as c
from rig.contract.ch9 import GET_CONFIGURATION
from rig.links.pyusb_backend import LinkBackend
from rig.links.usb_link import write_timed_out
from rig.loopback import LoopbackBoard
from rig.os_midi.class_driver import BoundLink, UsbMidiClassDriver
from rig.os_midi.quiet import quietly
from rig.os_midi.system import MidiSystem

from .helpers import close_ports, open_port, receive, wait_for

MESSAGES = [m.note_on(0, 60, 100), m.note_off(15, 0, 0), m.control_change(3, 7, 99), m.program_change(1, 5),
            m.pitch_bend(2, 8191), m.sysex(bytes(range(40))), m.timing_clock(), m.song_position(300)]


WINDOW = 64
"""Messages in flight at most (what the conformance suite's OS-MIDI miniport allows)."""


def packets(messages: list[bytes]) -> int:
    return sum(len(m.encode_message(msg)) // 4 for msg in messages)


def test_every_message_round_trips_and_the_counters_balance(driver: UsbMidiClassDriver,
                                                            board: LoopbackBoard) -> None:
    out = open_port(driver.api, "out", driver.input_name)
    inp = open_port(driver.api, "in", driver.output_name)
    try:
        for message in MESSAGES:
            out.send_message(list(message))
        got = receive(inp, len(MESSAGES))
    finally:
        close_ports(out, inp)
    assert [bytes(g) for g in got] == MESSAGES
    counts = driver.counters
    assert counts.messages_from_os == counts.messages_to_os == len(MESSAGES)
    assert counts.packets_to_device == counts.packets_from_device == packets(MESSAGES)
    stats = board.stats()
    assert stats["midi_rx_packets"] == stats["midi_tx_packets"] == packets(MESSAGES)
    assert counts.unencodable == counts.discarded_unbound == counts.discarded_unbound_packets == 0


def test_a_flood_is_never_dropped(driver: UsbMidiClassDriver, board: LoopbackBoard) -> None:
    flood = [m.note_on(seq % 16, (seq // 16) % 128, 1 + seq // 2048) for seq in range(3000)]
    out = open_port(driver.api, "out", driver.input_name)
    inp = open_port(driver.api, "in", driver.output_name)
    got: list[list[int]] = []
    try:  # in windows: a JACK port buffer holds about one cycle's events, so the sender paces itself
        for start in range(0, len(flood), WINDOW):
            window = flood[start:start + WINDOW]
            for message in window:
                out.send_message(list(message))
            got += receive(inp, len(window))
    finally:
        close_ports(out, inp)
    assert [bytes(g) for g in got] == flood
    assert board.stats()["midi_rx_packets"] == driver.counters.packets_to_device == len(flood)


def test_the_driver_holds_the_interface_until_detached(driver: UsbMidiClassDriver,
                                                       board: LoopbackBoard) -> None:
    (dev,) = usb.core.find(find_all=True, backend=LinkBackend([BoundLink(board, driver)]))
    assert dev.is_kernel_driver_active(c.IF_MIDI_STREAMING)
    assert dev.is_kernel_driver_active(c.IF_AUDIO_CONTROL)
    assert not dev.is_kernel_driver_active(c.IF_VENDOR)
    with pytest.raises(usb.core.USBError) as busy:
        usb.util.claim_interface(dev, c.IF_MIDI_STREAMING)
    assert busy.value.errno == errno.EBUSY
    dev.detach_kernel_driver(c.IF_MIDI_STREAMING)
    assert not driver.bound
    usb.util.claim_interface(dev, c.IF_MIDI_STREAMING)
    out = open_port(driver.api, "out", driver.input_name)
    try:
        out.send_message(list(m.note_on(0, 1, 1)))  # the OS port reaches no device while unbound
        wait_for("the unbound driver to discard the message", lambda: driver.counters.discarded_unbound == 1)
        dev.write(c.EP_MIDI_OUT, bytes((0x09, 0x90, 60, 1)), 1000)  # raw USB-MIDI is ours now
        assert bytes(dev.read(c.EP_MIDI_IN, 64, 1000)) == bytes((0x09, 0x90, 60, 1))
        with pytest.raises(usb.core.USBError) as again:
            dev.detach_kernel_driver(c.IF_MIDI_STREAMING)
        assert again.value.errno == errno.ENOENT
        usb.util.release_interface(dev, c.IF_MIDI_STREAMING)
        dev.attach_kernel_driver(c.IF_MIDI_STREAMING)
        assert driver.bound and dev.is_kernel_driver_active(c.IF_MIDI_STREAMING)
        with pytest.raises(usb.core.USBError) as bound:
            dev.attach_kernel_driver(c.IF_MIDI_STREAMING)
        assert bound.value.errno == errno.EBUSY
        inp = open_port(driver.api, "in", driver.output_name)
        try:
            out.send_message(list(m.note_on(0, 2, 2)))
            assert receive(inp, 1) == [list(m.note_on(0, 2, 2))]
        finally:
            close_ports(inp)
    finally:
        close_ports(out)
        usb.util.dispose_resources(dev)
    assert driver.counters.messages_from_os == 2 and driver.counters.messages_to_os == 1


def test_source_output_reaches_the_os_port(driver: UsbMidiClassDriver, board: LoopbackBoard) -> None:
    inp = open_port(driver.api, "in", driver.output_name)
    try:
        board.control(c.VENDOR_REQUEST_TYPE_OUT, c.Request.SET_MIDI_MODE, 0, 0,
                      c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.SOURCE, rate_hz=20_000, count=50), 1000)
        got = receive(inp, 100)
    finally:
        close_ports(inp)
    assert [g[1] for g in got[0::2]] == list(range(50))
    assert driver.counters.messages_to_os == driver.counters.packets_from_device == 100


def test_close_ends_the_threads_and_can_be_repeated(midi_system: MidiSystem, board: LoopbackBoard) -> None:
    driver = UsbMidiClassDriver(board, midi_system.api, label="closing")
    assert all(t.is_alive() for t in driver.threads)
    driver.close()
    driver.close()
    assert not any(t.is_alive() for t in driver.threads)
    assert not driver.bound and not driver.active_on(c.IF_MIDI_STREAMING)


def test_closing_the_bound_link_closes_the_driver_not_the_device(midi_system: MidiSystem,
                                                                 board: LoopbackBoard) -> None:
    """The device as pyusb sees it while the driver is bound: closing it ends the driver, and the link
    stays open for its owner (the target closes the board)."""
    driver = UsbMidiClassDriver(board, midi_system.api, label="bound closing")
    try:
        BoundLink(board, driver).close()
        assert not any(t.is_alive() for t in driver.threads) and not driver.bound
        assert board.control(0x80, GET_CONFIGURATION, 0, 0, 1, 1000) == bytes((c.CONFIG_VALUE,))
    finally:
        driver.close()  # a second close does nothing (test_close_ends_the_threads_and_can_be_repeated)


def test_port_names_say_what_they_are(driver: UsbMidiClassDriver) -> None:
    assert driver.input_name.endswith(":rig test board MIDI in (rig class driver)")
    assert driver.output_name.endswith(":rig test board MIDI out (rig class driver)")


@pytest.mark.parametrize(("kwargs", "message"), [({"label": "a:b"}, "label 'a:b'"),
                                                 ({"label": ""}, "label ''"),
                                                 ({"label": "x", "cable": 16}, "cable 16 out of range")])
def test_bad_arguments_are_named(midi_system: MidiSystem, board: LoopbackBoard, kwargs: dict[str, object],
                                 message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UsbMidiClassDriver(board, midi_system.api, **kwargs)  # type: ignore[arg-type]


def test_every_test_client_has_a_name_of_its_own(driver: UsbMidiClassDriver) -> None:
    """Test ports opened one after another get distinct JACK client names: JACK2 names a client's
    socket after it, and a new client named like one still closing lost its socket (rig.os_midi.system
    .client_name)."""
    names = []
    for _ in range(2):
        out = open_port(driver.api, "out", driver.input_name)
        try:
            ports = quietly(lambda: driver._in.get_ports())
            listed = [name for name in ports if name.startswith("rig test out-")]
        finally:
            close_ports(out)
        assert len(listed) == 1, listed
        names.append(listed[0].split(":", 1)[0])
    assert names[0] != names[1] and all(f"-{os.getpid()}-" in name for name in names), names


class CancelsFirstLongWrite:
    """The board behind a link whose first EP_MIDI_OUT write longer than one USB packet is cancelled
    after the device acknowledged its first packet: that packet is delivered (written to the board)
    and the write times out saying so, as a host controller's cancel after a NAK timeout does
    (protocol.md *Timed-out writes*). Everything else passes through."""

    def __init__(self, board: LoopbackBoard) -> None:
        self.board = board
        self.cancelled = 0

    def write(self, endpoint: int, data: bytes, timeout_ms: int) -> int:
        if endpoint == c.EP_MIDI_OUT and len(data) > c.BULK_PACKET_SIZE and not self.cancelled:
            self.cancelled += 1
            self.board.write(endpoint, data[:c.BULK_PACKET_SIZE], timeout_ms)
            raise write_timed_out("EP_MIDI_OUT: timed out (NAK)", c.BULK_PACKET_SIZE)
        return self.board.write(endpoint, data, timeout_ms)

    def __getattr__(self, name: str) -> object:
        return getattr(self.board, name)


def test_a_timed_out_write_is_resent_only_past_what_was_acknowledged(midi_system: MidiSystem,
                                                                       board: LoopbackBoard) -> None:
    """Issue #9: the writer resent the whole transfer after a timeout, so the acknowledged packets
    reached the device twice (16 duplicates on the emulator with 2 ms timeouts)."""
    link = CancelsFirstLongWrite(board)
    driver = UsbMidiClassDriver(link, midi_system.api, label="cancelling board", tag="x")  # type: ignore[arg-type]
    message = m.sysex(bytes(i % 128 for i in range(298)))  # 100 packets, one write chunk
    out = open_port(driver.api, "out", driver.input_name)
    inp = open_port(driver.api, "in", driver.output_name)
    try:
        out.send_message(list(message))
        (got,) = receive(inp, 1)
    finally:
        close_ports(out, inp)
        driver.close()
    assert link.cancelled == 1 and driver.counters.write_retries == 1
    assert bytes(got) == message
    assert board.stats()["midi_rx_packets"] == driver.counters.packets_to_device == packets([message]) == 100

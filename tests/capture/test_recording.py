"""The recording backend and the pcapng writer on the loopback: the synthesised descriptors equal what
the device answers, recording off restores the device's own backend, one device into two captures and
two devices into one, the ring keeps the preamble and the newest packets, and the section header
says target, host and application (read back by capinfos and tshark)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig import contract as c
from rig.client.board import Board
from rig.links.capture import ENTRY_BYTES, ENTRY_FIELDS, UsbCapture
from rig.links.descriptor_bytes import configuration_bytes, device_descriptor_bytes
from rig.links.recording_backend import RecordingBackend, record_device, stop_recording
from rig.pytest_plugin.testing import require_program
from rig.targets.loopback import LoopbackTarget
from rig.targets.registry import TargetSpec
from rig.targets.usb_capture import capturing, mark

from .native import ENCODERS, RECORDERS, use_encoder, use_recorder
from .tshark_view import read_capture, tshark

NOTE_ON = bytes([0x09, 0x90, 60, 100])


@pytest.fixture
def loopback() -> Iterator[LoopbackTarget]:
    """A loopback target of its own, without OS MIDI ports (no MIDI system needed)."""
    target = LoopbackTarget(TargetSpec("loopback"), jack="never")
    target.open()
    try:
        yield target
    finally:
        target.close()


def _echo(board: Board, times: int = 1) -> None:
    board.set_midi_mode(c.MidiMode.ECHO)
    for _ in range(times):
        board.write_midi_packets(NOTE_ON)
        assert board.read_midi_packets(2000) == NOTE_ON


def test_synthesised_descriptors_equal_what_the_device_answers(loopback: LoopbackTarget) -> None:
    device = loopback.usb_device()
    backend, dev = device._ctx.backend, device._ctx.dev
    wire_device = bytes(device.ctrl_transfer(0x80, 6, 0x0100, 0, 18))
    head = bytes(device.ctrl_transfer(0x80, 6, 0x0200, 0, 9))
    wire_config = bytes(device.ctrl_transfer(0x80, 6, 0x0200, 0, head[2] | head[3] << 8))
    assert device_descriptor_bytes(backend.get_device_descriptor(dev)) == wire_device
    assert configuration_bytes(backend, dev, 0) == wire_config


def test_recording_off_gives_the_device_its_own_backend_back(loopback: LoopbackTarget,
                                                            tmp_path: Path) -> None:
    device = loopback.usb_device()
    own = device._ctx.backend
    with capturing(loopback, tmp_path / "a.pcapng") as capture:
        assert isinstance(device._ctx.backend, RecordingBackend)
        assert capture is not None
    assert device._ctx.backend is own
    with capturing(loopback, None) as nothing:
        assert nothing is None
        assert device._ctx.backend is own


def test_one_device_into_two_captures_and_two_devices_into_one(tmp_path: Path) -> None:
    tshark()
    first = LoopbackTarget(TargetSpec("loopback"), jack="never")
    second = LoopbackTarget(TargetSpec("loopback", "0102030405060708"), jack="never")
    with first, second:
        a, b = first.usb_device(), second.usb_device()
        assert (a.bus, a.address) == (b.bus, b.address)  # both alone on their own virtual bus 1
        shared, own = UsbCapture(tmp_path / "shared.pcapng"), UsbCapture(tmp_path / "own.pcapng")
        record_device(a, shared)
        record_device(a, own)
        record_device(b, shared)
        shared.mark("both echo")
        _echo(Board(a))
        _echo(Board(b))
        stop_recording(a, own)
        _echo(Board(a))  # into `shared` only
        stop_recording(a)
        stop_recording(b)
        shared.close()
        own.close()
    both = read_capture(tmp_path / "shared.pcapng")
    buses = {p.bus for p in both}
    assert len(buses) == 2, f"two devices at 1/1 must land on two buses, got {buses}"
    for bus in buses:
        events = [e for p in both if p.bus == bus and p.urb_type == "S" for e in p.midi]
        assert events, f"no USB-MIDI decoded on bus {bus}: its descriptors were not replayed there"
    assert sum(1 for p in both for e in p.midi if p.endpoint == c.EP_MIDI_OUT) == 3
    alone = read_capture(tmp_path / "own.pcapng")
    assert sum(1 for p in alone for e in p.midi if p.endpoint == c.EP_MIDI_OUT) == 1
    assert [t for p in both for t in p.comments if t == "both echo"] == ["both echo"]


def test_the_ring_keeps_the_preamble_and_the_newest_packets(loopback: LoopbackTarget, tmp_path: Path) -> None:
    tshark()
    path = tmp_path / "ring.pcapng"
    with capturing(loopback, path, ring_mb=0.01) as capture:  # ~10 KB: some 100 packets
        assert capture is not None
        board = Board(loopback.usb_device())
        _echo(board, 200)
        mark(loopback, "last step")
        _echo(board, 1)
    kept = read_capture(path)
    assert capture.writer.dropped > 0
    assert path.stat().st_size <= 10 * 1024 + 4096, "ring plus preamble exceeds its budget"
    assert any("synthesised" in t for t in kept[0].comments), "the enumeration preamble was not kept"
    assert kept[-1].urb_type == "C" and kept[-1].midi, "the newest packet (the last echo) was not kept"
    assert any("last step" in t for p in kept for t in p.comments)
    decoded = [p for p in kept[8:] if p.midi]
    assert len(decoded) > 10, "packets kept by the ring do not decode as USB-MIDI"


def test_section_header_names_target_host_and_application(loopback: LoopbackTarget, tmp_path: Path) -> None:
    capinfos = require_program("capinfos", "apt-get install tshark (it brings capinfos), or `make system`")
    path = tmp_path / "shb.pcapng"
    with capturing(loopback, path):
        pass
    text = subprocess.run([capinfos, str(path)], capture_output=True, text=True, check=True).stdout
    facts = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}
    assert facts["Capture hardware"].startswith("target loopback; firmware 0.1.0; serial ")
    assert facts["Capture oper-sys"].startswith("Linux ")
    assert facts["Capture application"].startswith("rig ")
    assert "Link type 220" in text or "usb-linux-mmap" in text


def _longest_log(capture: UsbCapture, board: Board, times: int) -> int:
    """Echo NOTE_ON `times` times; the most items the capture's log held after a round trip."""
    board.set_midi_mode(c.MidiMode.ECHO)
    longest = 0
    for _ in range(times):
        board.write_midi_packets(NOTE_ON)
        board.read_midi_packets(2000)
        longest = max(longest, len(capture.log))
    return longest


@pytest.mark.parametrize("recorder", RECORDERS)
def test_the_log_is_encoded_when_it_grows_past_its_limit(
        loopback: LoopbackTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorder: str) -> None:
    """Transfers are only logged on their path; past LOG_BYTES the log is encoded by the transfer
    that overflows it, so a long step's memory stays bounded (either recorder)."""
    import rig.links.capture as capture_module

    transfer = ENTRY_BYTES + len(NOTE_ON)
    monkeypatch.setattr(capture_module, "LOG_BYTES", 10 * transfer)
    with use_recorder(recorder), capturing(loopback, tmp_path / "long.pcapng") as capture:
        assert capture is not None
        assert _longest_log(capture, Board(loopback.usb_device()), 40) <= 11 * ENTRY_FIELDS
        assert capture.events > 100, "the overflowing transfers did not encode the log"


@pytest.mark.parametrize("recorder", RECORDERS)
def test_a_ring_also_bounds_what_waits_to_be_encoded(loopback: LoopbackTarget, tmp_path: Path,
                                                     recorder: str) -> None:
    """With a ring of N bytes the log of transfers not yet encoded holds no more than N bytes either
    (the issue's "ring of the last N MB" is a bound on memory, not only on the file; either recorder)."""
    with use_recorder(recorder), capturing(loopback, tmp_path / "ring.pcapng", ring_mb=0.01) as capture:
        assert capture is not None
        ring = capture.writer.ring_bytes
        assert ring is not None and capture.log_budget == ring
        longest = _longest_log(capture, Board(loopback.usb_device()), 200)
    assert longest <= (ring // (ENTRY_BYTES + len(NOTE_ON)) + 1) * ENTRY_FIELDS
    assert capture.writer.dropped > 0


class _NullBackend:
    """An inner backend whose bulk OUT accepts everything at once."""

    def bulk_write(self, handle: object, ep: int, intf: int, data: object, timeout: int) -> int:
        return len(data)  # type: ignore[arg-type]

    def bulk_read(self, handle: object, ep: int, intf: int, buff: object, timeout: int) -> int:
        return 0

    intr_write = bulk_write
    intr_read = bulk_read


def test_a_transfer_is_teed_into_the_other_captures_as_itself(tmp_path: Path) -> None:
    """Another thread may append to the first capture's log between a transfer's append and its tee:
    the second capture must still get this transfer, not the other thread's."""
    import array

    first, second = UsbCapture(tmp_path / "a.pcapng"), UsbCapture(tmp_path / "b.pcapng")

    class AnotherThreadAppends(list):  # type: ignore[type-arg]
        """The first capture's log: another thread's transfer lands right after each append."""

        def extend(self, entry: object) -> None:
            super().extend(entry)  # type: ignore[arg-type]
            super().extend((0, 1, 2, 0x05, 0, 12, b"other thread"))

    first.log = AnotherThreadAppends()
    proxy = RecordingBackend(_NullBackend())
    proxy._set((first.place(proxy, 1, 1), second.place(proxy, 1, 1)))
    proxy.bulk_write(None, 0x02, 0, array.array("B", b"mine"), 100)
    assert second.log[6::ENTRY_FIELDS] == [b"mine"]
    first.close()
    second.close()


class _FillingBackend(_NullBackend):
    """A backend that is not a link (as libusb1's for a board): its reads fill the caller's buffer."""

    def bulk_read(self, handle: object, ep: int, intf: int, buff: object, timeout: int) -> int:
        view = memoryview(buff).cast("B")  # type: ignore[arg-type]
        view[:6] = b"\x09\x90\x3c\x40\x00\x00"
        return 6

    intr_read = bulk_read


@pytest.mark.parametrize("typecode", ["B", "H"])
def test_a_backend_that_is_no_link_has_its_transfers_copied_out(tmp_path: Path, typecode: str) -> None:
    """Behind any backend but a link's, the recorder copies an IN's received bytes out of the caller's
    buffer (of any item size) and logs the buffer's length in bytes as urb_len; OUT data as given."""
    import array

    capture = UsbCapture(tmp_path / "c.pcapng")
    proxy = RecordingBackend(_FillingBackend())
    proxy._set((capture.place(proxy, 1, 1),))
    buff = array.array(typecode, bytes(64))
    assert proxy.bulk_read(None, 0x81, 0, buff, 100) == 6
    assert proxy.intr_write(None, 0x03, 0, array.array("B", b"out!"), 100) == 4
    entries = [capture.log[i:i + ENTRY_FIELDS] for i in range(0, len(capture.log), ENTRY_FIELDS)]
    assert [(e[3], e[4], e[5], e[6]) for e in entries] == [(0x81, 64, 6, b"\x09\x90\x3c\x40\x00\x00"),
                                                          (0x03, 0, 4, b"out!")]
    capture.close()


@pytest.mark.parametrize("encoder", ENCODERS)
def test_overlapping_transfers_are_written_in_time_order(tmp_path: Path, encoder: str) -> None:
    """A read that waits in another thread completes after transfers that started later: its Submit
    goes before theirs and its Complete after them (the log holds transfers in completion order),
    each event with its own data and status, the step's comment on the first packet; tshark reads
    the file back (each encoder's file)."""
    from rig.links import usbmon
    from rig.links.capture import entry_code

    capture = UsbCapture(tmp_path / "overlap.pcapng")
    place = capture.place(object(), 1, 3)
    out, read = entry_code(place.key, usbmon.BULK, False), entry_code(place.key, usbmon.BULK, True)
    base = capture._perf0
    capture.mark("step one")
    capture.log.extend((out, base + 20, base + 30, 0x02, 0, 4, NOTE_ON))  # completes first
    capture.log.extend((read, base + 10, base + 50, 0x81, 64, 4, NOTE_ON))  # waited meanwhile
    capture.log.extend((out, base + 60, base + 70, 0x02, 0, usbmon.STATUS_STALL, NOTE_ON))
    with use_encoder(encoder):
        capture.close()
    got = [(p.urb_type, p.endpoint, p.status, p.data_len, p.comments) for p in read_capture(capture.path)]
    assert got == [("S", 0x81, usbmon.STATUS_IN_PROGRESS, 0, ["step one"]),
                   ("S", 0x02, usbmon.STATUS_IN_PROGRESS, 4, []), ("C", 0x02, 0, 0, []),
                   ("C", 0x81, 0, 4, []),
                   ("S", 0x02, usbmon.STATUS_IN_PROGRESS, 4, []), ("C", 0x02, usbmon.STATUS_STALL, 0, [])]


def _epb_blocks(data: bytes) -> list[bytes]:
    """The enhanced packet blocks of a pcapng file, whole, in file order."""
    import struct

    blocks, pos = [], 0
    while pos < len(data):
        kind, total = struct.unpack_from("<II", data, pos)
        if kind == 6:
            blocks.append(data[pos:pos + total])
        pos += total
    return blocks


@pytest.mark.parametrize("encoder", ENCODERS)
@settings(max_examples=60, deadline=None)
@given(transfers=st.lists(st.tuples(
    st.sampled_from(["bulk", "interrupt", "control"]), st.booleans(), st.sampled_from([1, 2, 3]),
    st.one_of(st.none(), st.binary(max_size=70)), st.sampled_from([None, -32, -104, -110])), max_size=12))
def test_each_transfer_is_encoded_as_usbmon_says(
        tmp_path_factory: pytest.TempPathFactory, encoder: str,
        transfers: list[tuple[str, bool, int, bytes | None, int | None]]) -> None:
    """Every logged transfer becomes, byte for byte, the Submit and Complete blocks that
    capture._epb (one usbmon event packed field by field) makes of it: OUT data in the submit, IN
    data in the completion, urb_len, status, setup, interval, time stamps (by each encoder)."""
    from rig.links import usbmon
    from rig.links.capture import _epb, entry_code
    from rig.links.capture_blocks import control_where

    capture = UsbCapture(tmp_path_factory.mktemp("encode") / "x.pcapng")
    place = capture.place(object(), 2, 5, {0x83: 4})
    to_wall = capture._wall0 - capture._perf0
    expected: list[bytes] = []
    t = capture._perf0
    for urb, (kind, is_in, number, data, error) in enumerate(transfers, start=1):
        xfer = {"bulk": usbmon.BULK, "interrupt": usbmon.INTERRUPT, "control": usbmon.CONTROL}[kind]
        code = entry_code(place.key, xfer, is_in and kind != "control")
        payload = data or b""
        if kind == "control":  # an OUT's wLength is its data's length, an IN's its buffer's
            setup = (0x80 if is_in else 0x00, 6, 0x0100, 0, len(payload) + 3 if is_in else len(payload))
            where = control_where(*setup[:4])
            ep = setup[0] & 0x80
        else:
            setup = None
            where = number if is_in else number | 0x80  # the recorder logs the address as given
            ep = number | 0x80 if is_in else number
        result = error if error is not None else len(payload)
        logged = (payload if error is None else b"") if is_in else payload
        capture.log.extend((code, t + 10, t + 20, where, setup[4] if setup else 64, result, logged))
        interval = 4 if ep == 0x83 and xfer == usbmon.INTERRUPT else 0
        urb_len = (setup[4] if setup else 64) if ep & 0x80 else len(payload)
        expected.append(_epb(place.interface, to_wall + t + 10, urb, usbmon.SUBMIT, xfer, ep, place.address,
                             place.bus, usbmon.STATUS_IN_PROGRESS, urb_len, b"" if ep & 0x80 else payload,
                             setup, interval))
        got = payload if ep & 0x80 and error is None else b""
        expected.append(_epb(place.interface, to_wall + t + 20, urb, usbmon.COMPLETE, xfer, ep, place.address,
                             place.bus, result if error is not None else usbmon.STATUS_OK,
                             0 if error is not None else result, got, None, interval))
        t += 100
    with use_encoder(encoder):
        capture.close()
    assert _epb_blocks(capture.path.read_bytes()) == expected


@pytest.mark.parametrize("recorder", RECORDERS)
def test_link_transfers_are_logged_as_they_happened(loopback: LoopbackTarget, tmp_path: Path,
                                                    recorder: str) -> None:
    """On a link backend (the C recorder, or the Python closures it stands for): a bulk OUT, the IN
    that echoes it, an IN that times out and an OUT to a halted endpoint are logged with their
    codes, endpoints, urb_len, results (a timeout as -ECONNRESET, a STALL as -EPIPE) and data, each
    timed by the performance counter around its own transfer; the file decodes in tshark."""
    import time
    from typing import cast

    import usb.core

    from rig.links import usbmon
    from rig.links.capture import Entry, entry_code

    board = Board(loopback.usb_device())
    board.set_midi_mode(c.MidiMode.ECHO)
    board.claim_midi()
    device = loopback.usb_device()
    with use_recorder(recorder), capturing(loopback, tmp_path / "link.pcapng") as capture:
        assert capture is not None
        start = time.perf_counter_ns()
        assert device.write(c.EP_MIDI_OUT, NOTE_ON, 1000) == 4
        assert bytes(device.read(c.EP_MIDI_IN, 64, 1000)) == NOTE_ON
        with pytest.raises(usb.core.USBTimeoutError):
            device.read(c.EP_MIDI_IN, 64, 20)
        device.ctrl_transfer(0x02, 3, 0, c.EP_MIDI_OUT)  # SET_FEATURE(ENDPOINT_HALT)
        with pytest.raises(usb.core.USBError):
            device.write(c.EP_MIDI_OUT, NOTE_ON, 1000)
        device.clear_halt(c.EP_MIDI_OUT)
        end = time.perf_counter_ns()
        entries = [cast("Entry", tuple(capture.log[i:i + ENTRY_FIELDS]))
                   for i in range(0, len(capture.log), ENTRY_FIELDS)]
        bulk = [e for e in entries if e[0] >> 1 & 3 == usbmon.BULK]
        key = bulk[0][0] >> 3
        out, read = entry_code(key, usbmon.BULK, False), entry_code(key, usbmon.BULK, True)
        assert [(e[0], e[3], e[4], e[5], e[6]) for e in bulk] == [
            (out, c.EP_MIDI_OUT, 0, 4, NOTE_ON), (read, c.EP_MIDI_IN, 64, 4, NOTE_ON),
            (read, c.EP_MIDI_IN, 64, usbmon.STATUS_CANCELLED, b""),
            (out, c.EP_MIDI_OUT, 0, usbmon.STATUS_STALL, NOTE_ON)]
        times = [t for e in bulk for t in (e[1], e[2])]
        assert start <= times[0] and times == sorted(times) and times[-1] <= end
        assert bulk[2][2] - bulk[2][1] >= 20_000_000, "the timed-out read's time is not its own"
    got = [(p.urb_type, p.endpoint, p.status, p.data_len) for p in read_capture(capture.path)
           if p.endpoint & 0x7F == c.EP_MIDI_OUT & 0x7F and p.transfer_type == usbmon.BULK]
    assert got == [("S", 0x01, usbmon.STATUS_IN_PROGRESS, 4), ("C", 0x01, 0, 0),
                   ("S", 0x81, usbmon.STATUS_IN_PROGRESS, 0), ("C", 0x81, 0, 4),
                   ("S", 0x81, usbmon.STATUS_IN_PROGRESS, 0), ("C", 0x81, usbmon.STATUS_CANCELLED, 0),
                   ("S", 0x01, usbmon.STATUS_IN_PROGRESS, 4), ("C", 0x01, usbmon.STATUS_STALL, 0)]

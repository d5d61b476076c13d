"""USB-MIDI 1.0 event packets on the wire, device-agnostic: the device takes legal packets of every
kind on its MS OUT endpoints, and everything it sends on its MS IN endpoints is legal (section 4);
an MS endpoint's halt holds even while the device has data for it (USB 2.0 9.4.5)."""

from __future__ import annotations

import time

import pytest
import usb.core

from rig.checks.event_packets import EventStreamChecker
from rig.checks.findings import errors

from ..conformance_usb.standard_device import (
    CLEAR_FEATURE,
    SET_FEATURE,
    endpoint_feature,
    get_status,
    read_configuration,
    set_configuration,
    stalled,
)
from .midi_endpoints import MidiEndpoint, legal_packets, midi_endpoints

pytestmark = pytest.mark.needs("usb", "usb-midi")

WRITE_TIMEOUT_MS = 1000
READ_TIMEOUT_MS = 100
READ_WINDOW_S = 2.0
"""The most time spent reading an IN endpoint after sending (a chatty device is cut off here)."""
QUIET_S = 0.3
"""An IN endpoint silent this long has sent all it will: what we provoked does not leak into the
next test (on a busy machine an emulated echo can lag one read timeout)."""
SETTLE_S = 0.2
RECIPIENT_ENDPOINT = 2


def configured_endpoints(dev: usb.core.Device) -> tuple[list[MidiEndpoint], list[MidiEndpoint]]:
    """(OUT, IN) MS endpoints of the first configuration, which is set afresh."""
    cfg = read_configuration(dev)
    set_configuration(dev, cfg.bConfigurationValue)
    eps = midi_endpoints(cfg)
    assert eps, "no MIDIStreaming endpoint with a class-specific MS_GENERAL descriptor"
    return [e for e in eps if not e.endpoint.is_in], [e for e in eps if e.endpoint.is_in]


def read_for(dev: usb.core.Device, ep: MidiEndpoint, seconds: float) -> list[bytes]:
    """Transfers read from `ep` until it stays quiet for QUIET_S, or `seconds` pass."""
    out: list[bytes] = []
    now = time.monotonic()
    deadline, quiet_from = now + seconds, now
    while time.monotonic() < deadline and time.monotonic() - quiet_from < QUIET_S:
        try:
            data = bytes(dev.read(ep.address, 8 * ep.endpoint.wMaxPacketSize, READ_TIMEOUT_MS))
        except usb.core.USBTimeoutError:
            continue
        out.append(data)
        quiet_from = time.monotonic()
    return out


def test_device_takes_legal_packets_and_sends_only_legal_ones(std_device: usb.core.Device) -> None:
    """USB-MIDI 1.0 4 (table 4-1): legal packets of every CIN on every declared cable are accepted;
    each transfer the device sends is whole packets whose CIN matches its bytes, SysEx split legally,
    on cables its IN endpoint declares."""
    outs, ins = configured_endpoints(std_device)
    for ep in outs:
        data = legal_packets(ep.cables)
        assert std_device.write(ep.address, data, WRITE_TIMEOUT_MS) == len(data)
    problems = []
    for ep in ins:
        checker = EventStreamChecker(ep.cables, f"EP 0x{ep.address:02X}")
        for transfer in read_for(std_device, ep, READ_WINDOW_S):
            problems += errors(checker.feed(transfer))
    assert not problems, "\n".join(map(str, problems))


def test_halted_in_endpoint_stays_halted_while_the_device_has_data(std_device: usb.core.Device) -> None:
    """USB 2.0 9.4.5 and 8.4.5: data the device queues for a halted endpoint does not clear the halt;
    reads STALL until CLEAR_FEATURE(ENDPOINT_HALT), after which what arrives is legal USB-MIDI."""
    outs, ins = configured_endpoints(std_device)
    problems: list[str] = []
    for ep in ins:
        endpoint_feature(std_device, SET_FEATURE, ep.address)
    try:
        for ep in outs:  # an echoing or thru device now has data for its IN endpoints
            std_device.write(ep.address, legal_packets(ep.cables), WRITE_TIMEOUT_MS)
        time.sleep(SETTLE_S)
        for ep in ins:
            if get_status(std_device, RECIPIENT_ENDPOINT, ep.address) != 1:
                problems.append(f"0x{ep.address:02X}: not halted after data was queued for it")
            try:
                std_device.read(ep.address, ep.endpoint.wMaxPacketSize, READ_TIMEOUT_MS)
            except usb.core.USBError as exc:
                if not stalled(exc):
                    problems.append(f"0x{ep.address:02X}: read while halted ended with {exc}, not a STALL")
            else:
                problems.append(f"0x{ep.address:02X}: read while halted returned data")
    finally:
        for ep in ins:
            endpoint_feature(std_device, CLEAR_FEATURE, ep.address)
    for ep in ins:
        checker = EventStreamChecker(ep.cables, f"EP 0x{ep.address:02X} after the halt")
        for transfer in read_for(std_device, ep, READ_WINDOW_S):
            problems += map(str, errors(checker.feed(transfer)))
    assert not problems, "\n".join(problems)


def test_halted_out_endpoint_stalls_writes_until_cleared(std_device: usb.core.Device) -> None:
    """USB 2.0 9.4.5 and 8.4.5: a halted MS OUT endpoint STALLs the data it is sent; after
    CLEAR_FEATURE(ENDPOINT_HALT) it takes legal packets again."""
    outs, ins = configured_endpoints(std_device)
    problems: list[str] = []
    for ep in outs:
        data = legal_packets(ep.cables)[:4]  # one note on, cable 0
        endpoint_feature(std_device, SET_FEATURE, ep.address)
        try:
            std_device.write(ep.address, data, WRITE_TIMEOUT_MS)
        except usb.core.USBError as exc:
            if not stalled(exc):
                problems.append(f"0x{ep.address:02X}: write while halted ended with {exc}, not a STALL")
        else:
            problems.append(f"0x{ep.address:02X}: write while halted was taken")
        endpoint_feature(std_device, CLEAR_FEATURE, ep.address)
        note_off = bytes((0x08, 0x80, data[2], 0))
        assert std_device.write(ep.address, data + note_off, WRITE_TIMEOUT_MS) == 8
    for ep in ins:
        read_for(std_device, ep, READ_WINDOW_S)  # leave nothing queued behind
    assert not problems, "\n".join(problems)

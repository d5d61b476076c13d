"""rig.checks.capabilities: what a device declares, from descriptors alone — our board's, a foreign
two-cable device's with 16/32-byte packets and no CDC, and a device without MIDI."""

from __future__ import annotations

import struct

from rig.checks.capabilities import capabilities_of
from rig.checks.model import TT_BULK
from rig.checks.parse import parse_configuration, parse_device
from rig.contract import descriptors

FOREIGN_VID, FOREIGN_PID = 0xCAFE, 0x4002


def device(vid: int = FOREIGN_VID, pid: int = FOREIGN_PID) -> bytes:
    """A device descriptor (USB 2.0 table 9-8) with class defined at interface level."""
    return struct.pack("<BBHBBBBHHHBBBB", 18, 1, 0x0200, 0, 0, 0, 64, vid, pid, 0x0100, 1, 2, 0, 1)


def two_cable_config(out_size: int = 16, in_size: int = 32) -> bytes:
    """A class-compliant USB-MIDI 1.0 configuration (appendix B layout, two cables each way): AC
    interface 0, MS interface 1 with embedded IN jacks 1/2, external IN jacks 3/4, embedded OUT jacks
    5/6 (from 3/4), external OUT jacks 7/8 (from 1/2); bulk OUT 0x02 and IN 0x83."""
    ac = bytes((9, 4, 0, 0, 0, 1, 1, 0, 0)) + bytes((9, 0x24, 1, 0x00, 0x01, 9, 0, 1, 1))
    jacks = b"".join(bytes((6, 0x24, 2, kind, jack, 0)) for kind, jack in ((1, 1), (1, 2), (2, 3), (2, 4)))
    jacks += b"".join(bytes((9, 0x24, 3, kind, jack, 1, source, 1, 0))
                      for kind, jack, source in ((1, 5, 3), (1, 6, 4), (2, 7, 1), (2, 8, 2)))
    ep_out = struct.pack("<BBBBHBBB", 9, 5, 0x02, 2, out_size, 0, 0, 0) + bytes((6, 0x25, 1, 2, 1, 2))
    ep_in = struct.pack("<BBBBHBBB", 9, 5, 0x83, 2, in_size, 0, 0, 0) + bytes((6, 0x25, 1, 2, 5, 6))
    ms_body = jacks + ep_out + ep_in
    ms_header = struct.pack("<BBBHH", 7, 0x24, 1, 0x0100, 7 + len(jacks))
    ms = bytes((9, 4, 1, 0, 2, 1, 3, 0, 0)) + ms_header + ms_body
    body = ac + ms
    return struct.pack("<BBHBBBBB", 9, 2, 9 + len(body), 2, 1, 0, 0x80, 50) + body


def test_our_board_declares_one_cable_each_way_a_cdc_port_and_a_vendor_interface() -> None:
    caps = capabilities_of(parse_device(descriptors.device_descriptor()),
                           parse_configuration(descriptors.config_descriptor()))
    assert caps.is_usb_midi and caps.ids == "1209:0001"
    pair = caps.midi_pair()
    assert pair is not None
    out_ep, in_ep = pair
    assert (out_ep.address, in_ep.address, out_ep.cables, in_ep.cables) == (0x01, 0x81, 1, 1)
    assert (out_ep.max_packet, out_ep.transfer_type) == (64, TT_BULK)
    assert [(p.control_interface, p.data_interface) for p in caps.cdc] == [(3, 4)]
    assert caps.vendor_interfaces == (2,)
    assert caps.midi[0].external_in_jacks == 1 and caps.midi[0].external_out_jacks == 1


def test_a_foreign_device_gets_its_cables_and_packet_sizes_from_its_descriptors() -> None:
    caps = capabilities_of(parse_device(device()), parse_configuration(two_cable_config()))
    assert caps.ids == "cafe:4002"
    endpoints = [(e.address, e.max_packet, e.cables) for e in caps.midi_endpoints()]
    assert endpoints == [(0x02, 16, 2), (0x83, 32, 2)]
    assert caps.cdc == () and caps.vendor_interfaces == () and caps.audio_control_interfaces == (0,)
    assert caps.midi[0].external_in_jacks == 2 and caps.midi[0].external_out_jacks == 2
    assert "OUT 0x02 bulk 16 B, 2 cables" in caps.summary()


def test_a_device_without_midistreaming_is_no_usb_midi_device() -> None:
    vendor_only = bytes((9, 4, 0, 0, 0, 0xFF, 0, 0, 0))
    cfg = struct.pack("<BBHBBBBB", 9, 2, 18, 1, 1, 0, 0x80, 50) + vendor_only
    caps = capabilities_of(parse_device(device()), parse_configuration(cfg))
    assert not caps.is_usb_midi and caps.midi_pair() is None and caps.vendor_interfaces == (0,)
    assert caps.summary() == "vendor interface 0"

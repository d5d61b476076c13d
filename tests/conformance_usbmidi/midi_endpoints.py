"""What a USB-MIDI suite needs of a device's descriptors: its MIDIStreaming endpoints, how many
cables each declares, and a set of legal event packets to send that cover every Code Index Number."""

from __future__ import annotations

from dataclasses import dataclass

from rig.checks.midi_descriptors import cables_by_endpoint, is_midi_streaming
from rig.checks.model import Configuration, Endpoint


@dataclass(frozen=True)
class MidiEndpoint:
    """An MS bulk endpoint and the number of cables (embedded jacks) it declares."""

    endpoint: Endpoint
    cables: int

    @property
    def address(self) -> int:
        """bEndpointAddress."""
        return self.endpoint.bEndpointAddress


def midi_endpoints(cfg: Configuration) -> list[MidiEndpoint]:
    """Every endpoint of every MS interface's alternate setting 0 with an MS_GENERAL descriptor."""
    cables = cables_by_endpoint(cfg)
    return [MidiEndpoint(ep, cables[ep.bEndpointAddress]) for alt in cfg.alt_zero() if is_midi_streaming(alt)
            for ep in alt.endpoints if ep.bEndpointAddress in cables]


def legal_packets(cables: int) -> bytes:
    """One of every kind of event packet (USB-MIDI 1.0 table 4-1) on each declared cable: channel
    messages, system common, real-time and SysEx of every tail length."""
    out = bytearray()
    for cable in range(cables):
        head = cable << 4
        for cin, body in (
            (0x9, (0x90, 60, 100)), (0x8, (0x80, 60, 0)), (0xA, (0xA0, 60, 10)), (0xB, (0xB0, 7, 100)),
            (0xC, (0xC0, 5, 0)), (0xD, (0xD0, 20, 0)), (0xE, (0xE0, 0, 64)), (0x2, (0xF3, 1, 0)),
            (0x3, (0xF2, 0, 0)), (0x5, (0xF6, 0, 0)), (0xF, (0xF8, 0, 0)),
            (0x6, (0xF0, 0xF7, 0)), (0x7, (0xF0, 0x01, 0xF7)),
            (0x4, (0xF0, 0x7D, 0x01)), (0x5, (0xF7, 0, 0)),
            (0x4, (0xF0, 0x7D, 0x01)), (0x6, (0x02, 0xF7, 0)),
            (0x4, (0xF0, 0x7D, 0x01)), (0x4, (0x02, 0x03, 0x04)), (0x7, (0x05, 0x06, 0xF7)),
        ):
            out += bytes((head | cin, *body))
    return bytes(out)

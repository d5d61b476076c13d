"""Raw USB-MIDI on any target's device, chosen from its descriptors: the first MIDIStreaming
interface with an OUT and an IN endpoint, on the target's cable. Only that interface is claimed (an
OS driver detached from it alone and attached again afterwards); our board is first put in MIDI ECHO
by the contract, a device that is not ours gets no vendor request. Used by the `midi` suite and by
`rig latency` / `rig throughput` on devices that echo."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import usb.core

from rig.client.raw_midi import InterfaceClaim, RawUsbMidi
from rig.errors import CapabilityMissing
from rig.targets.probe import read_capabilities
from rig.targets.registry import Feature, Target


def cable_of(target: Target) -> int:
    """The cable to use: the target string's `cable=N` (usb:, emulator:IMAGE), else 0."""
    return target.midi_options.cable


@contextmanager
def raw_midi_port(target: Target) -> Iterator[tuple[RawUsbMidi, int]]:
    """(port, cables its IN endpoint declares) while the MS interface is claimed; CapabilityMissing
    when the device has no MS OUT/IN pair or does not declare the cable."""
    dev = target.usb_device()
    caps = read_capabilities(dev)
    pair = caps.midi_pair()
    if pair is None:
        raise CapabilityMissing(f"target {target.name}: {caps.ids} has no MIDIStreaming interface with both "
                                f"an OUT and an IN endpoint")
    out_ep, in_ep = pair
    cable = cable_of(target)
    if cable >= min(out_ep.cables, in_ep.cables):
        raise CapabilityMissing(f"target {target.name}: cable {cable} is not declared by both endpoints "
                                f"({out_ep}; {in_ep})")
    try:  # pyusb learns the active configuration from the device; an unconfigured one is configured
        dev.get_active_configuration()
    except usb.core.USBError:
        dev.set_configuration(caps.configuration_value)
    if Feature.CONTRACT in target.features:  # ours: the contract's ECHO mode makes it echo
        from rig.client.board import Board
        from rig.contract import MidiMode

        board = Board(dev)
        try:
            board.set_midi_mode(MidiMode.ECHO)
        finally:
            board.close()
    with InterfaceClaim(dev, [out_ep.interface]):
        port = RawUsbMidi(dev, out_ep.interface, out_ep.address, in_ep.address, in_ep.max_packet, cable=cable)
        try:
            yield port, in_ep.cables
        finally:
            port.close()

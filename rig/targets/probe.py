"""What an opened USB device can do, for every target that reaches one through pyusb (usb:, board,
loopback, emulator): its descriptors read by standard GET_DESCRIPTOR requests give the capabilities
(rig.checks.capabilities); the device is our board only when its IDs are the rig's AND it answers
GET_INFO as the contract says. GET_INFO is the only vendor request sent before that decision, and
it is sent only to a device carrying the rig's IDs: a device that is not ours never receives one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import usb.core

from rig import contract as c
from rig.checks.capabilities import DeviceCapabilities, capabilities_of
from rig.checks.errors import DescriptorParseError
from rig.checks.model import DT_CONFIGURATION, DT_DEVICE, Configuration, DeviceDescriptor
from rig.checks.parse import parse_configuration, parse_device
from rig.contract.ch9 import GET_DESCRIPTOR
from rig.errors import TargetError
from rig.targets.discovery import board_ids
from rig.targets.midi_options import NONE_DECLARED, MidiOptions
from rig.targets.registry import Feature

DESCRIPTOR_TIMEOUT_MS = 1000
DESCRIPTOR_READ = 4096
"""wLength for a whole configuration: above what a full-speed MIDI device returns, within usbfs's limit."""


class ProbeError(TargetError):
    """The device's descriptors could not be read or parsed (the message says which and why)."""


def get_descriptor(dev: usb.core.Device, dtype: int, index: int = 0, length: int = DESCRIPTOR_READ,
                   langid: int = 0) -> bytes:
    """GET_DESCRIPTOR (USB 2.0 9.4.3) as a plain standard request; USBError (EPIPE) on STALL."""
    data = dev.ctrl_transfer(0x80, GET_DESCRIPTOR, (dtype << 8) | index, langid, length,
                             DESCRIPTOR_TIMEOUT_MS)
    return bytes(data)


def read_device(dev: usb.core.Device) -> DeviceDescriptor:
    """The device descriptor, fetched now and parsed by rig.checks."""
    return parse_device(get_descriptor(dev, DT_DEVICE, 0, 18))


def read_configuration(dev: usb.core.Device, index: int = 0) -> Configuration:
    """Configuration `index`, fetched whole (the 9-byte header first, then wTotalLength) and parsed."""
    head = get_descriptor(dev, DT_CONFIGURATION, index, 9)
    total = int.from_bytes(head[2:4], "little")
    return parse_configuration(get_descriptor(dev, DT_CONFIGURATION, index, total))


def read_capabilities(dev: usb.core.Device) -> DeviceCapabilities:
    """The capabilities the device's descriptors declare; ProbeError when they cannot be read."""
    try:
        return capabilities_of(read_device(dev), read_configuration(dev, 0))
    except (usb.core.USBError, DescriptorParseError) as exc:
        raise ProbeError(f"reading the descriptors of {dev.idVendor:04x}:{dev.idProduct:04x} failed: "
                         f"{exc}") from None


def carries_rig_ids(vid: int, pid: int) -> bool:
    """True when (vid, pid) is the contract's pair or the one RIG_VID / RIG_PID name."""
    return (vid, pid) in {(c.VID, c.PID), board_ids()}


@dataclass
class DeviceProbe:
    """The result: capabilities, whether the device is our board (and why not), its features and,
    per feature it lacks, why (for suite picking and skip reasons)."""

    capabilities: DeviceCapabilities
    ours: bool
    identity: str
    """"our board (GET_INFO: firmware X, contract N)", or why the device is not ours."""
    features: frozenset[Feature]
    missing: dict[Feature, str] = field(default_factory=dict)

    def why_missing(self, feature: Feature) -> str:
        """Why the device lacks `feature` ("" when it has it)."""
        return "" if feature in self.features else self.missing.get(feature, "not declared")


def _contract_answer(dev: usb.core.Device) -> tuple[bool, str]:
    """Ask GET_INFO (only called for a device with the rig's IDs): (ours, what was learnt)."""
    from rig.client.board import Board

    try:
        board = Board(dev)
        try:
            info = board.info()
        finally:
            board.close()
    except Exception as exc:  # a STALL, a wrong contract version, a short answer: not our contract
        return False, f"carries the rig's IDs but GET_INFO failed ({exc})"
    return True, f"our board (GET_INFO: firmware {info.firmware}, contract {info.contract_version})"


def probe_device(dev: usb.core.Device, declared: MidiOptions = NONE_DECLARED) -> DeviceProbe:
    """Read `dev`'s capabilities and decide whether it is ours. What the target string `declared`
    — `echo` (the device sends back what it receives) or `loop` (a DIN cable joins its MIDI OUT and
    IN) — grants MIDI_ECHO to a USB-MIDI device; our board has it anyway (ECHO mode by the contract)."""
    caps = read_capabilities(dev)
    features = {Feature.USB}
    missing: dict[Feature, str] = {}
    if caps.is_usb_midi:
        features.add(Feature.USB_MIDI)
    else:
        missing[Feature.USB_MIDI] = f"{caps.ids} declares no MIDIStreaming interface"
    if carries_rig_ids(caps.vid, caps.pid):
        ours, identity = _contract_answer(dev)
    else:
        ours, identity = False, f"{caps.ids} is not the rig's VID:PID, so it is not asked any vendor request"
    if ours:
        features |= {Feature.CONTRACT, Feature.FRAMES}
        if caps.midi_pair() is not None:
            features.add(Feature.MIDI_ECHO)
    else:
        missing[Feature.CONTRACT] = f"not our board: {identity}"
        missing[Feature.FRAMES] = "frames are part of our board's contract"
    if Feature.MIDI_ECHO not in features:
        if caps.midi_pair() is None:
            missing[Feature.MIDI_ECHO] = (f"{caps.ids} has no MIDIStreaming interface with both an OUT and "
                                          f"an IN endpoint")
        elif declared.echo or declared.loop:
            features.add(Feature.MIDI_ECHO)
        else:
            missing[Feature.MIDI_ECHO] = ("the device is not declared as echoing: add ',echo' to the "
                                          "target (it sends back what it receives) or ',loop' (a DIN cable "
                                          "joins its MIDI OUT and IN)")
    return DeviceProbe(caps, ours, identity, frozenset(features), missing)

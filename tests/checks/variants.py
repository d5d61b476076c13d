"""Broken variants of our own good descriptors: each changes one field, found through the parser so a
variant names what it breaks rather than a magic offset."""

from __future__ import annotations

import struct

from rig.checks.findings import Finding, Severity
from rig.checks.midi_descriptors import MIDI_OUT_JACK, MS_HEADER, is_midi_streaming
from rig.checks.model import DT_CS_INTERFACE, AltSetting, Configuration, Endpoint, RawDescriptor
from rig.checks.parse import parse_configuration
from rig.contract import descriptors

UNIQUE_ID = bytes(range(1, 9))


def good_config() -> bytes:
    """Our configuration descriptor, as the loopback and the firmware return it."""
    return descriptors.config_descriptor()


def good_device() -> bytes:
    """Our device descriptor."""
    return descriptors.device_descriptor()


def put(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """`data` with the field of struct format `fmt` at `offset` set to `value`."""
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def cfg() -> Configuration:
    """The good configuration, parsed."""
    return parse_configuration(good_config())


def ms_alt(config: Configuration | None = None) -> AltSetting:
    """The MIDIStreaming interface's alternate setting 0."""
    return next(a for a in (config or cfg()).alt_settings if is_midi_streaming(a))


def ms_descriptor(subtype: int, nth: int = 0) -> RawDescriptor:
    """The nth CS_INTERFACE descriptor of `subtype` in the MS interface."""
    found = [d for d in ms_alt().extra if d.dtype == DT_CS_INTERFACE and d.subtype == subtype]
    return found[nth]


def ms_header() -> RawDescriptor:
    """The MS header descriptor."""
    return ms_descriptor(MS_HEADER)


def first_out_jack() -> RawDescriptor:
    """The first MIDI OUT jack descriptor."""
    return ms_descriptor(MIDI_OUT_JACK)


def ms_endpoint(is_in: bool) -> Endpoint:
    """The MS interface's IN or OUT bulk endpoint."""
    return next(ep for ep in ms_alt().endpoints if ep.is_in == is_in)


def endpoint_of(address: int) -> Endpoint:
    """The endpoint with `address` anywhere in the configuration."""
    return next(ep for alt in cfg().alt_settings for ep in alt.endpoints if ep.bEndpointAddress == address)


def flagged(findings: list[Finding], clause: str, *words: str) -> bool:
    """True when an ERROR finding cites `clause` and its message names every one of `words`."""
    return any(f.severity is Severity.ERROR and f.clause == clause and all(w in f.message for w in words)
               for f in findings)


def error_list(findings: list[Finding]) -> list[Finding]:
    """The ERROR findings (a good descriptor set has none)."""
    return [f for f in findings if f.severity is Severity.ERROR]

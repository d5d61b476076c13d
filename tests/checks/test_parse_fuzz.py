"""Random damage to our descriptors never crashes the checks: malformed bytes give findings or a
DescriptorParseError naming the offset, never any other exception."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from rig.checks.chapter9 import check_configuration, check_configuration_bytes, check_device
from rig.checks.errors import DescriptorParseError
from rig.checks.event_packets import check_event_packets
from rig.checks.midi_descriptors import check_midi
from rig.checks.parse import parse_configuration, parse_device
from rig.checks.strings import check_string, check_string0, string_references

from .variants import good_config, good_device

GOOD = good_config()


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """Our configuration with a few bytes overwritten, and maybe cut short or extended."""
    data = bytearray(GOOD)
    for _ in range(draw(st.integers(1, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data) + 8))
    return bytes(data[:cut]) + bytes(max(0, cut - len(data)))


@settings(max_examples=300, deadline=None)
@given(damaged())
def test_damaged_configuration_never_crashes(data: bytes) -> None:
    check_configuration_bytes(data)
    try:
        cfg = parse_configuration(data)
    except DescriptorParseError as exc:
        assert str(exc)
        return
    check_configuration(cfg, parse_device(good_device()))
    check_midi(cfg)
    string_references(parse_device(good_device()), cfg)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    check_configuration_bytes(data)
    with contextlib.suppress(DescriptorParseError):
        check_device(parse_device(data))
    check_string0(data, needed=True)
    check_string(1, data)
    check_event_packets([data], cables=1)

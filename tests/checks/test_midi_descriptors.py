"""USB-MIDI 1.0 section 6 descriptor checks: our good descriptors pass (saying which MS wTotalLength
reading they follow); each broken variant fails the check for the field it changes."""

from __future__ import annotations

import pytest

from rig.checks.findings import Finding, Severity
from rig.checks.midi_descriptors import (
    JACK_EXTERNAL,
    MIDI_IN_JACK,
    cables_by_endpoint,
    check_midi,
    is_audio_control,
)
from rig.checks.parse import parse_configuration

from .variants import (
    cfg,
    error_list,
    first_out_jack,
    flagged,
    good_config,
    ms_alt,
    ms_descriptor,
    ms_endpoint,
    ms_header,
    put,
)


def midi_findings(data: bytes) -> list[Finding]:
    """USB-MIDI findings for configuration bytes."""
    return check_midi(parse_configuration(data))


def test_good_descriptors_pass_and_name_their_reading() -> None:
    findings = midi_findings(good_config())
    assert error_list(findings) == []
    (reading,) = [f for f in findings if f.severity is Severity.INFO]
    assert "appendix B" in reading.message


def test_cables_by_endpoint() -> None:
    assert cables_by_endpoint(cfg()) == {0x01: 1, 0x81: 1}


def ms_total() -> int:
    """Our MS header's wTotalLength."""
    return int.from_bytes(ms_header().data[5:7], "little")


@pytest.mark.parametrize("delta", [1, -1])
def test_ms_header_wtotallength_off_by_one_fails(delta: int) -> None:
    """USB-MIDI 1.0 6.1.2.1: wTotalLength is header + jacks + elements (or, per appendix B, also the
    endpoints); one off from our value matches neither reading."""
    broken = put(good_config(), ms_header().offset + 5, "<H", ms_total() + delta)
    assert flagged(midi_findings(broken), "USB-MIDI 1.0 6.1.2.1", "wTotalLength", str(ms_total() + delta))


def test_ms_header_text_reading_passes() -> None:
    """The field's own text (header + jacks + elements, no endpoints) is accepted and named."""
    jacks_and_header = sum(d.length for d in ms_alt().extra)
    assert jacks_and_header == 7 + 2 * 6 + 2 * 9
    findings = midi_findings(put(good_config(), ms_header().offset + 5, "<H", jacks_and_header))
    assert error_list(findings) == []
    assert any(f.severity is Severity.INFO and "field's text" in f.message for f in findings)


def test_ms_header_wrong_bcdmsc_fails() -> None:
    broken = put(good_config(), ms_header().offset + 3, "<H", 0x0200)
    assert flagged(midi_findings(broken), "USB-MIDI 1.0 6.1.2.1", "bcdMSC", "0x0200")


def test_dangling_source_jack_fails() -> None:
    """USB-MIDI 1.0 6.1.2.3: every baSourceID names an existing jack or element."""
    jack = first_out_jack()
    broken = put(good_config(), jack.offset + 6, "<B", 9)
    assert flagged(midi_findings(broken), "USB-MIDI 1.0 6.1.2.3", "baSourceID 9")


def test_missing_source_pin_fails() -> None:
    """USB-MIDI 1.0 6.1.2.3: BaSourcePin names an output pin the source has (a MIDI IN jack has one)."""
    jack = first_out_jack()
    broken = put(good_config(), jack.offset + 7, "<B", 2)
    assert flagged(midi_findings(broken), "USB-MIDI 1.0 6.1.2.3", "BaSourcePin 2")


def test_duplicate_jack_id_fails() -> None:
    """USB-MIDI 1.0 6.1.2.2: jack IDs are unique within the interface."""
    second_in = ms_descriptor(MIDI_IN_JACK, 1)
    broken = put(good_config(), second_in.offset + 4, "<B", ms_descriptor(MIDI_IN_JACK, 0).data[4])
    assert flagged(midi_findings(broken), "USB-MIDI 1.0 6.1.2.2", "used by both")


def test_bnumembmidijack_disagreeing_fails() -> None:
    """USB-MIDI 1.0 6.2.2: bLength is 4 + bNumEmbMIDIJack."""
    (general,) = ms_endpoint(is_in=False).extra
    broken = put(good_config(), general.offset + 3, "<B", 2)
    assert flagged(midi_findings(broken), "USB-MIDI 1.0 6.2.2", "bNumEmbMIDIJack 2")


@pytest.mark.parametrize("is_in", [False, True], ids=["OUT endpoint", "IN endpoint"])
def test_endpoint_listing_a_jack_of_the_wrong_direction_fails(is_in: bool) -> None:
    """USB-MIDI 1.0 6.2.2: an OUT endpoint lists embedded IN jacks, an IN endpoint embedded OUT jacks."""
    (general,) = ms_endpoint(is_in).extra
    (other,) = ms_endpoint(not is_in).extra
    broken = put(good_config(), general.offset + 4, "<B", other.data[4])
    assert flagged(midi_findings(broken), "USB-MIDI 1.0 6.2.2", f"baAssocJackID {other.data[4]}")


def test_endpoint_listing_an_external_jack_fails() -> None:
    (general,) = ms_endpoint(is_in=False).extra
    external_in = next(d for d in (ms_descriptor(MIDI_IN_JACK, 0), ms_descriptor(MIDI_IN_JACK, 1))
                       if d.data[3] == JACK_EXTERNAL)
    broken = put(good_config(), general.offset + 4, "<B", external_in.data[4])
    assert flagged(midi_findings(broken), "USB-MIDI 1.0 6.2.2", "external MIDI IN jack")


def test_endpoint_listing_a_missing_jack_fails() -> None:
    (general,) = ms_endpoint(is_in=True).extra
    broken = put(good_config(), general.offset + 4, "<B", 42)
    assert flagged(midi_findings(broken), "USB-MIDI 1.0 6.2.2", "baAssocJackID 42", "names no jack")


def test_ac_header_not_listing_the_ms_interface_fails() -> None:
    """Audio 1.0 4.3.2: the AC header's baInterfaceNr lists the MS interfaces it owns."""
    control = next(a for a in cfg().alt_settings if is_audio_control(a))
    (header,) = control.extra
    broken = put(good_config(), header.offset + 8, "<B", 4)
    findings = midi_findings(broken)
    assert flagged(findings, "USB Audio 1.0 4.3.2", "missing from the AC header's baInterfaceNr")
    assert flagged(findings, "USB Audio 1.0 4.3.2", "lists interface 4")

"""USB-MIDI 1.0 section 6 conformance of a device's descriptors, fetched with standard GET_DESCRIPTOR
only and judged by rig.checks.midi_descriptors."""

from __future__ import annotations

import pytest
import usb.core

from rig.checks.findings import Severity, errors
from rig.checks.midi_descriptors import check_midi, midi_streaming
from rig.pytest_plugin.recording import run_record
from rig.targets.registry import Target

from ..conformance_usb.standard_device import read_configuration, read_device

pytestmark = pytest.mark.needs("usb", "usb-midi")


def test_midi_descriptors_conform(std_device: usb.core.Device, rig_target: Target,
                                  request: pytest.FixtureRequest) -> None:
    """USB-MIDI 1.0 6.1.2.1-6.1.2.4, 6.2.1, 6.2.2 and Audio 1.0 4.3.2: the AC header lists the MS
    interfaces; MS header bcdMSC 1.00 and wTotalLength of one of the spec's two readings; jack IDs
    unique; every source pin exists; each MS endpoint lists existing embedded jacks of its direction
    and bNumEmbMIDIJack agrees. Which wTotalLength reading the device follows goes into the run
    record (--rig-report)."""
    for index in range(read_device(std_device).bNumConfigurations):
        cfg = read_configuration(std_device, index)
        assert midi_streaming(cfg), f"configuration {index} has no MIDIStreaming interface"
        findings = check_midi(cfg)
        notes = [str(f) for f in findings if f.severity is Severity.INFO]
        run_record(request.config).extra.setdefault("usb-midi readings", {})[rig_target.name] = notes
        found = errors(findings)
        assert not found, f"configuration {index}:\n" + "\n".join(map(str, found))

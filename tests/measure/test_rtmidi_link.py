"""The OS MIDI latency link on the loopback's JACK ports: answers to readiness probes that arrive
after the first one (several are in flight on a loaded machine) are not measurement answers. A CI
run's `rig latency --path midi-os` failed "unexpected 1" on such a late probe answer."""

from __future__ import annotations

import time

from rig.measure.latency import Arrival, RtMidiLink
from rig.measure.runner import os_midi_api_of
from rig.os_midi.jack import jackd_installed
from rig.os_midi.system import os_midi_api
from rig.pytest_plugin.testing import require
from rig.targets.factory import make_target
from rig.targets.registry import Feature


def test_a_late_probe_answer_is_not_an_unexpected_message() -> None:
    require(jackd_installed() or os_midi_api() is not None,
            "no MIDI system and no jackd (apt-get install jackd2)")
    with make_target("loopback") as target:
        assert Feature.MIDI_OS in target.features
        out_name, in_name = target.midi_port_names()
        link = RtMidiLink(out_name, in_name, api=os_midi_api_of(target))
        try:
            link.wait_ready()
            link.send(RtMidiLink.PROBE)  # as a probe sent just before the first answer came back
            link.send(bytes((0x90, 60, 100)))  # a measurement message after it
            got: list[Arrival] = []
            deadline = time.monotonic() + 10
            while not got and time.monotonic() < deadline:
                got = link.receive(0.1)
            assert [a.payload for a in got] == [bytes((0x90, 60, 100))]
            assert link.late_probe_answers == 1
        finally:
            link.close()

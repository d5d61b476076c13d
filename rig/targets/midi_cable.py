"""Target kind "midi:OUT,IN": any MIDI interface whose output is cabled back to its input.

OUT and IN are python-rtmidi port names (a unique substring is enough) or indexes; MIDI tests and
latency measurements run against it with real timing.
"""

from __future__ import annotations

from collections.abc import Sequence

from rig.errors import TargetError
from rig.os_midi.quiet import quietly
from rig.targets.discovery import rtmidi_port_names
from rig.targets.registry import Feature, Target, TargetSpec, register


class MidiPortNotFound(TargetError, LookupError):
    """A port name or index matches no port (or several); the message lists the ports there are."""


def parse_arg(arg: str | None) -> tuple[str, str]:
    """Split "OUT,IN"; TargetError when either part is missing."""
    out, sep, inp = (arg or "").partition(",")
    if not sep or not out.strip() or not inp.strip():
        raise TargetError(f"midi:{arg or ''}: expected midi:OUT,IN (port names or indexes)")
    return out.strip(), inp.strip()


def resolve_port(wanted: str, names: Sequence[str], direction: str) -> str:
    """`wanted` as an index, an exact name, or a substring of exactly one name."""
    listing = "; ".join(f"{i}: {n}" for i, n in enumerate(names)) or "none"
    if wanted.isdigit():
        index = int(wanted)
        if index < len(names):
            return names[index]
        raise MidiPortNotFound(f"MIDI {direction} port index {index} out of range (available: {listing})")
    if wanted in names:
        return wanted
    hits = [n for n in names if wanted.lower() in n.lower()]
    if len(hits) == 1:
        return hits[0]
    problem = "matches no" if not hits else f"matches {len(hits)}"
    raise MidiPortNotFound(f"MIDI {direction} port {wanted!r} {problem} port (available: {listing})")


class MidiCableTarget(Target):
    """Two OS MIDI ports joined by a cable: only MIDI_OS and REAL_TIMING."""

    expected_features = frozenset({Feature.MIDI_OS, Feature.REAL_TIMING})

    def __init__(self, spec: TargetSpec) -> None:
        super().__init__(spec)
        self._wanted = parse_arg(spec.arg)
        self.features = self.expected_features
        self._names: tuple[str, str] | None = None

    def open(self) -> None:
        """Resolve both ports now, so a typo fails before any test runs."""
        outputs, inputs = quietly(rtmidi_port_names)  # JACK/ALSA probe noise only if listing fails
        self._names = (resolve_port(self._wanted[0], outputs, "output"),
                       resolve_port(self._wanted[1], inputs, "input"))

    def close(self) -> None:
        """Nothing is held between tests."""
        self._names = None

    def midi_port_names(self) -> tuple[str, str]:
        """(output port, input port) as rtmidi lists them."""
        if self._names is None:
            raise TargetError(f"target {self.name} is not open")
        return self._names

    def describe(self) -> dict[str, str]:
        """Target and the two ports."""
        out, inp = self._names or self._wanted
        return {"target": self.name, "transport": f"MIDI cable {out} -> {inp}"}


register("midi", MidiCableTarget)

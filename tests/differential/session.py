"""Two boards open at once through the target factory, and the differential run's top level: find
the first divergence of a seeded sequence, shrink it, and say it as Python pyusb calls."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import usb.core

import rig.targets.emulator
import rig.targets.loopback
from rig.targets.factory import make_target
from rig.targets.registry import Target
from tests.differential.compare import Divergence, first_divergence
from tests.differential.generate import generate
from tests.differential.ops import Op
from tests.differential.shrink import shrink

REGISTERED = (rig.targets.emulator.EmulatorTarget, rig.targets.loopback.LoopbackTarget)
"""Importing the target modules registers them with the factory."""

TARGETS = ("loopback", "emulator")


@dataclass
class Pair:
    """The two pyusb devices a differential run drives, and their target names."""

    devices: tuple[usb.core.Device, usb.core.Device]
    names: tuple[str, str]

    def run(self, ops: list[Op]) -> Divergence | None:
        """The first divergence of `ops` after the prologue, or None."""
        return first_divergence(self.devices, ops)

    def minimal(self, ops: list[Op], found: Divergence) -> tuple[list[Op], Divergence]:
        """`ops` up to the divergence, shrunk to a sequence that diverges the same way (same op kind,
        same answer or counter), with the divergence it shows."""
        def same(candidate: list[Op]) -> bool:
            again = self.run(candidate)
            return (again is not None and again.op.kind == found.op.kind and again.what == found.what
                    and again.index == len(candidate) - 1)
        smallest = shrink(ops[:found.index + 1], same)
        final = self.run(smallest)
        assert final is not None, "the shrunk sequence no longer diverges"
        return smallest, final


@contextlib.contextmanager
def _jack_default_never() -> Iterator[None]:
    """RIG_JACK=never (unless the user chose) while targets are made, and as it was afterwards: the
    setting must not leak into the tests that run after this module."""
    if "RIG_JACK" in os.environ:
        yield
        return
    os.environ["RIG_JACK"] = "never"
    try:
        yield
    finally:
        os.environ.pop("RIG_JACK", None)


@contextlib.contextmanager
def open_pair(names: tuple[str, str] = TARGETS) -> Iterator[Pair]:
    """Both targets open (OS MIDI ports off: nothing but this run touches the MIDI endpoints), the
    emulator's console pty bridge released so EP_CDC_OUT/EP_CDC_IN are this run's alone."""
    with contextlib.ExitStack() as stack:
        targets: list[Target] = []
        for name in names:
            with _jack_default_never():
                target = stack.enter_context(make_target(name))
                target.open()
            release = getattr(target, "release_console", None)
            if release is not None:
                release()
            targets.append(target)
        yield Pair((targets[0].usb_device(), targets[1].usb_device()), names)


def replay(ops: list[Op], divergence: Divergence, names: tuple[str, str]) -> str:
    """The minimal divergent sequence as a script a person runs against either board."""
    lines = ["# prologue(dev): bus reset, SET_CONFIGURATION(1), ECHO modes, 115200 8N1, log off,",
             "# endpoints drained, RESET_STATS",
             "from tests.differential.runs import console, prologue",
             "from tests.endpoint_reads import drain",
             "prologue(dev)"]
    lines += [op.as_python() for op in ops]
    lines.append("# then GET_STATS")
    described = divergence.describe(names).replace("\n", "\n# ")
    lines.append(f"# diverges at the last op:\n# {described}")
    return "\n".join(lines)


def run_seed(pair: Pair, seed: int, count: int, *,
             minimise: bool = True) -> tuple[list[Op], Divergence] | None:
    """Generate `count` ops from `seed` and run them; on a divergence the (shrunk) sequence and it."""
    ops = generate(seed, count)
    found = pair.run(ops)
    if found is None:
        return None
    if not minimise:
        return ops[:found.index + 1], found
    return pair.minimal(ops, found)

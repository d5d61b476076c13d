"""The twin equals the firmware (issue #15): CI_SEEDS seeded sequences run on the loopback and the
emulator with no divergence allowed, every allow-listed open item still shown by its reproducer,
and a deliberately broken twin caught and shrunk to the op that shows it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rig import contract as c
from rig.contract.modes import MidiModeConfig
from rig.errors import TargetError
from rig.links.usb_link import UsbLinkError
from rig.loopback import midi
from rig.pytest_plugin.testing import missing
from tests.differential.known import KNOWN
from tests.differential.ops import Op
from tests.differential.session import Pair, open_pair, replay, run_seed

CI_SEEDS = 10
"""Seeds CI runs (of CI_OPS ops each): chosen so the module takes under 60 s on the 2-core CI machine."""
CI_OPS = 50


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    """The loopback and the emulator, open for the whole module (the emulator takes seconds to boot)."""
    try:
        with open_pair() as opened:
            yield opened
    except (TargetError, UsbLinkError) as exc:
        missing(f"the differential run needs both targets: {exc}")


@pytest.mark.parametrize("seed", range(1, CI_SEEDS + 1))
def test_seed_runs_alike_on_both_boards(pair: Pair, seed: int) -> None:
    result = run_seed(pair, seed, CI_OPS)
    if result is not None:
        ops, divergence = result
        pytest.fail(f"seed {seed} diverges; minimal sequence:\n{replay(ops, divergence, pair.names)}",
                    pytrace=False)


FOUND: dict[str, tuple[Op, ...]] = {
    # seed 101 at 10^4 ops: the twin sent each console reply as its own transfer; the firmware
    # sends its byte queue in packets, so a reply queued behind a prompt left unread rides along.
    "console replies packed as the firmware packs them": (
        Op("ctrl_out", (0x21, 0x22, 3, 3, b"")),
        Op("console", (b"stats\r",)),
        Op("console", (b"x\x01y\r",)),
    ),
    # seed 202 at 10^4 ops: with interval 0 the firmware queues every due SOURCE frame while the ring
    # has room before the host reads one (ring_high_water 3); the twin queued one at a time (2).
    "frame SOURCE fills the ring at once": (
        Op("source", (c.Request.SET_FRAME_MODE, c.FRAME_MODE_CONFIG.pack(
            mode=int(c.FrameMode.SOURCE), payload_len=0x4000, count=3, interval_us=0), c.EP_FRAME_IN,
            0x4E20)),
    ),
}
"""Divergences long runs found and fixed, each as its shrunk sequence: they must stay fixed."""


@pytest.mark.parametrize("name", sorted(FOUND))
def test_found_divergences_stay_fixed(pair: Pair, name: str) -> None:
    ops = list(FOUND[name])
    divergence = pair.run(ops)
    assert divergence is None, f"{name}:\n{replay(ops, divergence, pair.names)}"


def test_known_still_diverge(pair: Pair) -> None:
    """An allow-listed item whose reproducer no longer diverges is fixed: delete it from KNOWN. (One
    test over the list, not one per item, so an empty list is a pass, not a skip.)"""
    fixed = [known.item for known in KNOWN if pair.run(list(known.reproducer)) is None]
    assert not fixed, f"items {fixed} no longer diverge: remove them from tests/differential/known.py"


def test_a_broken_twin_is_caught_and_shrunk(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """Break one behaviour of the twin (ECHO sends note 60 back as note 61) and see the run find it and
    the shrinker reduce it to the one write that shows it."""
    honest = midi.respond

    def broken(config: MidiModeConfig, packet: bytes) -> bytes | None:
        reply = honest(config, packet)
        if reply is not None and reply[2] == 60:
            return reply[:2] + b"\x3d" + reply[3:]
        return reply

    monkeypatch.setattr(midi, "respond", broken)
    note_60 = bytes((0x09, 0x90, 60, 100))
    ops = [Op("ctrl_in", (0xC0, 0x08, 0, 0, 72)), Op("write", (0x01, bytes((0x09, 0x90, 61, 1)), 100)),
           Op("drain", (0x81, 64, 100)), Op("bus_reset"), Op("ctrl_out", (0x00, 0x09, 1, 0, b"")),
           Op("write", (0x01, note_60 * 3, 100)), Op("ctrl_in", (0x80, 0x08, 0, 0, 1)),
           Op("read", (0x81, 512, 100))]
    found = pair.run(ops)
    assert found is not None and found.op == ops[-1] and found.what == "answer"
    smallest, divergence = pair.minimal(ops, found)
    assert smallest == [ops[5], ops[7]], replay(smallest, divergence, pair.names)

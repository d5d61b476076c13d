"""The strict-skip rule and the `needs` / `hardware` markers: a test whose target lacks a feature
skips, unless --rig-strict (or CI) is on and the target should have it, which makes it a failure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from rig.pytest_plugin.state import state_of
from rig.pytest_plugin.testing import in_ci
from rig.targets.registry import Feature, Target

EXPECTED_FEATURES: dict[str, frozenset[Feature]] = {
    "loopback": frozenset({Feature.USB, Feature.FRAMES, Feature.MIDI_OS, Feature.CONSOLE, Feature.USB_MIDI,
                           Feature.CONTRACT, Feature.MIDI_ECHO}),
    "emulator": frozenset({Feature.USB, Feature.FRAMES, Feature.MIDI_OS, Feature.CONSOLE, Feature.USB_MIDI,
                           Feature.CONTRACT, Feature.MIDI_ECHO}),
    "board": frozenset(Feature),
    "midi": frozenset({Feature.MIDI_OS, Feature.REAL_TIMING}),
}
"""What each kind of target should have on a complete machine (see the strict rule above)."""

STRICT_FAILURE = pytest.StashKey[str]()
"""A test's pending strict failure: the call phase fails with this message."""


def expected_features(target: Target) -> frozenset[Feature]:
    """The features `target` should have: its own `expected_features`, else the kind's table entry."""
    own = getattr(target, "expected_features", None)
    if own is not None:
        return frozenset(own)
    return EXPECTED_FEATURES.get(target.spec.kind, frozenset())


def strict_from_env(environ: Mapping[str, str]) -> bool:
    """True when the environment says this is CI: rig.pytest_plugin.testing.in_ci, the rig's one rule."""
    return in_ci(environ)


def missing_features(target: Target, needed: list[Feature]) -> list[Feature]:
    """The needed features the target lacks, in the order asked."""
    return [f for f in needed if f not in target.features]


def parse_features(args: tuple[Any, ...], where: str) -> list[Feature]:
    """Marker arguments -> Feature values; an unknown name is a UsageError naming the test."""
    out: list[Feature] = []
    for arg in args:
        try:
            out.append(Feature(arg))
        except ValueError:
            raise pytest.UsageError(f"{where}: @pytest.mark.needs({arg!r}): unknown feature; "
                                    f"expected one of {', '.join(f.value for f in Feature)}") from None
    return out


def register_markers(config: pytest.Config) -> None:
    """Declare the rig's markers."""
    config.addinivalue_line("markers", "needs(*features): the rig.targets.registry.Feature values a test "
                                       "needs; skips (or fails under --rig-strict) when the target lacks one")
    config.addinivalue_line("markers", "hardware: needs an attached board (skips with a reason when none)")
    config.addinivalue_line("markers", "books_unchecked: do not compare device and host counters after "
                                       "the test")


def capability_missing(item: pytest.Item, target: Target, features: list[Feature], why: str) -> bool:
    """Skip the test for missing `features`; under strict mode, for expected ones, record a failure
    instead and return True (the caller then yields a placeholder and the call phase fails)."""
    names = ", ".join(f.value for f in features)
    reason = f"target {target.name} lacks {names} ({why})"
    details = [detail for f in features if (detail := target.lacks(f)) and names not in detail]
    if details:  # what the target knows: e.g. a usb: device's descriptors declare no MIDIStreaming
        reason += ": " + "; ".join(details)
    state = state_of(item.config)
    should_have = [f for f in features if f in expected_features(target)]
    if state.strict and should_have:
        item.stash[STRICT_FAILURE] = (f"--rig-strict: {reason}; target {target.name} should have "
                                      f"{', '.join(f.value for f in should_have)}, so this is a failure "
                                      f"rather than a skip")
        return True
    pytest.skip(reason)


def pending_failure(request: pytest.FixtureRequest) -> bool:
    """True when the test already has a strict failure waiting for its call phase."""
    return STRICT_FAILURE in request.node.stash


def require(request: pytest.FixtureRequest, target: Target, feature: Feature) -> bool:
    """True when the fixture can go ahead; False when a strict failure is pending."""
    if pending_failure(request):
        return False
    if feature not in target.features:
        capability_missing(request.node, target, [feature], f"the {request.fixturename} fixture needs it")
        return False
    return True


def fail_if_pending(item: pytest.Item) -> None:
    """Fail the call phase of a test with a pending strict failure."""
    if STRICT_FAILURE in item.stash:
        pytest.fail(item.stash[STRICT_FAILURE], pytrace=False)


@pytest.fixture(autouse=True)
def _rig_markers(request: pytest.FixtureRequest) -> None:
    """Apply @needs and @hardware before any other function-scoped fixture opens anything."""
    item = request.node
    if item.get_closest_marker("hardware") is not None:
        try:
            from rig.targets.discovery import find_boards
        except ImportError as exc:
            pytest.skip(f"needs an attached board; board support is unavailable ({exc})")
        if not find_boards():
            pytest.skip("needs an attached board; none is attached")
    needed: list[Feature] = []
    for marker in item.iter_markers("needs"):
        needed += parse_features(marker.args, item.nodeid)
    if not needed:
        return
    if "rig_target" not in request.fixturenames:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.needs without a target: use the rig_target, "
                                f"board, midi_ports or console fixture")
    target: Target = request.getfixturevalue("rig_target")
    missing = missing_features(target, needed)
    if missing:
        capability_missing(item, target, missing, "the test is marked needs("
                           + ", ".join(repr(f.value) for f in needed) + ")")

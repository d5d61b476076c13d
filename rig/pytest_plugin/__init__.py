"""pytest plugin: choose targets with --rig, hand tests a Board, MIDI ports or a console, and skip
(or, under --rig-strict, fail) tests whose target lacks a capability.

Register with `-p rig.pytest_plugin`. Options live in the "rig" group:

- `--rig=SPEC` (repeatable): every target-using test runs once per target, the spec in its id.
  Default: `rig.targets.discovery.default_target()` (an attached board, else loopback). A test that
  parametrizes `rig_target` itself (indirect) keeps its own values: param > option > default.
- `--rig-strict` (also on when the environment has CI=true): the strict rule. A capability skip
  becomes a failure when the missing feature is one the target SHOULD have — it is in the target's
  `expected_features` (its class attribute if it has one, else `EXPECTED_FEATURES[kind]`). So a
  loopback without a MIDI system fails in CI (the machine is incomplete), while loopback lacking
  real-timing, or a MIDI-cable target lacking usb, stays a skip (no setup could give them that).
  `@pytest.mark.hardware` skips stay skips: CI has no board, so a board is not a target CI can run.
- `--rig-report=DIR`: write DIR/record.json and DIR/report.md (rig.pytest_plugin.run_report) at the end.

Fixtures: `rig_target` (opened once per target per session, closed at session end), `board`
(rig.client.board.Board, stats reset at start, books checked at the end), `midi_ports`, `console`, and the
streams: `midi_stream` (a started rig.miniport UsbMidiMiniport on the board) and `frame_stream` (a
connected, running FrameMiniport), both closed with their books checked at teardown.
Markers: `needs(*features)`, `hardware`, `books_unchecked`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from rig.client.board import Board
from rig.client.books import host_counters_dict
from rig.contract import Capability, FrameMode
from rig.errors import CapabilityMissing, TargetError, UnknownTargetError
from rig.os_midi.quiet import quietly
from rig.pytest_plugin.run_report import RunRecord, write_report
from rig.pytest_plugin.testing import in_ci
from rig.targets.discovery import default_target
from rig.targets.factory import make_target
from rig.targets.registry import KINDS, Feature, Target, TargetSpec

if TYPE_CHECKING:
    import rtmidi
    import serial

    from rig.miniport.frame_pins import FrameMiniport
    from rig.miniport.usb_midi import UsbMidiMiniport

EXPECTED_FEATURES: dict[str, frozenset[Feature]] = {
    "loopback": frozenset({Feature.USB, Feature.FRAMES, Feature.MIDI_OS, Feature.CONSOLE}),
    "emulator": frozenset({Feature.USB, Feature.FRAMES, Feature.MIDI_OS, Feature.CONSOLE}),
    "board": frozenset(Feature),
    "midi": frozenset({Feature.MIDI_OS, Feature.REAL_TIMING}),
}
"""What each kind of target should have on a complete machine (see the strict rule above)."""

CONSOLE_BAUD = 115200
BOOKS_DRAIN_MS = 20
"""The books check reads what a test left queued for this long; leftovers are a failure."""
MIDI_PORT_TIMEOUT_S = 5.0


# --- library-level helpers (pure; the fixtures below are thin) -------------------------------


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


class TargetPool:
    """Targets of one session: built and opened on first use, closed together at the end.

    An open that fails is remembered, so every test of that target reports the same error quickly.
    """

    def __init__(self) -> None:
        self._targets: dict[str, Target] = {}
        self._failures: dict[str, str] = {}

    def get(self, spec: str) -> Target:
        """The opened target for `spec`."""
        if spec in self._failures:
            raise TargetError(self._failures[spec])
        target = self._targets.get(spec)
        if target is None:
            try:
                target = make_target(spec)
                target.open()
            except Exception as exc:
                message = f"target {spec}: could not open: {exc}"
                self._failures[spec] = message
                raise TargetError(message) from None  # the message carries the cause, once
            self._targets[spec] = target
        return target

    def opened(self) -> dict[str, Target]:
        """Specs and targets opened so far."""
        return dict(self._targets)

    def close(self) -> None:
        """Close every opened target (errors are collected and raised together)."""
        errors: list[str] = []
        for spec, target in reversed(list(self._targets.items())):
            try:
                target.close()
            except Exception as exc:
                errors.append(f"target {spec}: close failed: {exc}")
        self._targets.clear()
        if errors:
            raise TargetError("; ".join(errors))


@dataclass
class RigState:
    """Per-session plugin state, kept in config.stash."""

    specs: list[str]
    strict: bool
    report_dir: Path | None
    pool: TargetPool
    record: RunRecord


STATE = pytest.StashKey[RigState]()
STRICT_FAILURE = pytest.StashKey[str]()
TEST_TARGET = pytest.StashKey[str]()


def _state(config: pytest.Config) -> RigState:
    return config.stash[STATE]


# --- hooks -------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rig", "USB-MIDI test rig")
    group.addoption("--rig", action="append", dest="rig_specs", metavar="SPEC", default=None,
                    help="target to run on: loopback, emulator, board, board:SERIAL, midi:OUT,IN "
                         "(repeat for several; default: an attached board, else loopback)")
    group.addoption("--rig-strict", action="store_true", dest="rig_strict", default=False,
                    help="a skip for a capability the target should have fails instead "
                         "(also on when CI=true)")
    group.addoption("--rig-report", dest="rig_report", metavar="DIR", default=None,
                    help="write record.json and report.md into DIR")


def default_spec() -> str:
    """`default_target()`, or loopback when this installation has no board support."""
    try:
        return default_target()
    except ModuleNotFoundError as exc:  # board support absent: the loopback is the default
        if exc.name and exc.name.startswith("rig.targets"):
            return "loopback"
        raise


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*features): the rig.targets.registry.Feature values a test "
                                       "needs; skips (or fails under --rig-strict) when the target lacks one")
    config.addinivalue_line("markers", "hardware: needs an attached board (skips with a reason when none)")
    config.addinivalue_line("markers", "books_unchecked: do not compare device and host counters after "
                                       "the test")
    specs = list(dict.fromkeys(check_spec(spec) for spec in config.getoption("rig_specs") or []))
    report = config.getoption("rig_report")
    record = RunRecord()
    strict = bool(config.getoption("rig_strict")) or strict_from_env(os.environ)
    record.settings.update({"strict": str(strict), "targets": ", ".join(specs) or "(default)",
                            "pytest arguments": " ".join(config.invocation_params.args),
                            "CI": os.environ.get("CI", "(unset)")})
    config.stash[STATE] = RigState(specs=specs, strict=strict, report_dir=Path(report) if report else None,
                                   pool=TargetPool(), record=record)


def check_spec(text: str) -> str:
    """The normalised spec; a UsageError naming the value when it names no kind of target."""
    try:
        spec = TargetSpec.parse(text)
    except UnknownTargetError as exc:
        raise pytest.UsageError(f"--rig: {exc}") from None
    if spec.kind not in KINDS:
        raise pytest.UsageError(f"--rig: unknown target {text!r}; expected one of {', '.join(KINDS)}")
    return str(spec)


def run_record(config: pytest.Config) -> RunRecord:
    """The session's RunRecord (what --rig-report writes): tests may add to `record.extra`."""
    return _state(config).record


def pytest_report_header(config: pytest.Config) -> str:
    state = _state(config)
    return (f"rig: targets {', '.join(state.specs) or '(default)'}; strict {'on' if state.strict else 'off'}"
            + (f"; report {state.report_dir}" if state.report_dir else ""))


def _user_parametrizes_target(metafunc: pytest.Metafunc) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if "rig_target" in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rig_target" not in metafunc.fixturenames or _user_parametrizes_target(metafunc):
        return
    state = _state(metafunc.config)
    if not state.specs:
        state.specs = [default_spec()]
        state.record.settings["targets"] = f"{state.specs[0]} (default)"
    metafunc.parametrize("rig_target", state.specs, indirect=True, ids=list(state.specs), scope="session")


def _capability_missing(item: pytest.Item, target: Target, features: list[Feature], why: str) -> bool:
    """Skip the test for missing `features`; under strict mode, for expected ones, record a failure
    instead and return True (the caller then yields a placeholder and the call phase fails)."""
    names = ", ".join(f.value for f in features)
    reason = f"target {target.name} lacks {names} ({why})"
    state = _state(item.config)
    should_have = [f for f in features if f in expected_features(target)]
    if state.strict and should_have:
        item.stash[STRICT_FAILURE] = (f"--rig-strict: {reason}; target {target.name} should have "
                                      f"{', '.join(f.value for f in should_have)}, so this is a failure "
                                      f"rather than a skip")
        return True
    pytest.skip(reason)


def _pending_failure(request: pytest.FixtureRequest) -> bool:
    return STRICT_FAILURE in request.node.stash


def _require(request: pytest.FixtureRequest, target: Target, feature: Feature) -> bool:
    """True when the fixture can go ahead; False when a strict failure is pending."""
    if _pending_failure(request):
        return False
    if feature not in target.features:
        _capability_missing(request.node, target, [feature], f"the {request.fixturename} fixture needs it")
        return False
    return True


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
        _capability_missing(item, target, missing, "the test is marked needs("
                            + ", ".join(repr(f.value) for f in needed) + ")")


@pytest.fixture(scope="session")
def rig_target(request: pytest.FixtureRequest) -> Target:
    """The opened target: param (indirect parametrize) > --rig > default_target()."""
    state = _state(request.config)
    spec = getattr(request, "param", None)
    if spec is None:
        spec = state.specs[0] if state.specs else default_spec()
    spec = str(TargetSpec.parse(str(spec)))
    target = state.pool.get(spec)
    facts = state.record.targets.setdefault(spec, {})
    try:
        facts.update(target.describe())
    except Exception as exc:
        facts["describe"] = f"failed: {exc}"
    return target


@pytest.fixture
def board(request: pytest.FixtureRequest, rig_target: Target) -> Iterator[Board]:
    """A rig.client.board.Board on the target's USB device: frame ECHO mode with nothing queued, counters
    reset; after the test the books are checked (device counters against the Board's host counters)."""
    if not _require(request, rig_target, Feature.USB):
        yield None  # type: ignore[misc]  # the call phase fails with the strict message
        return
    dev = Board(rig_target.usb_device())
    info = dev.info()
    facts = _state(request.config).record.targets.setdefault(rig_target.name, {})
    facts.update({"firmware": info.firmware, "contract": str(info.contract_version),
                  "serial": dev.serial_number, "max_payload": str(info.max_payload)})
    if Capability.FRAMES in info.capabilities:
        # Start from frame ECHO with nothing queued, whatever an earlier test left behind.
        dev.set_frame_mode(FrameMode.ECHO)
        dev.drain_frames(BOOKS_DRAIN_MS)
        dev.frames_used = False
    dev.reset_stats()
    request.node.stash[_BOARD] = dev
    yield dev
    try:
        stats = dev.stats()
        _state(request.config).record.counters[request.node.nodeid] = {
            "device": dict(stats), "host": host_counters_dict(dev.host)}
    finally:
        dev.close()


_BOARD = pytest.StashKey[Board]()


class MidiPorts(NamedTuple):
    """Opened python-rtmidi ports on the target: send on `out`, receive on `inp`."""

    out: rtmidi.MidiOut
    inp: rtmidi.MidiIn
    out_name: str
    in_name: str


def _open_rtmidi(kind: str, wanted: str) -> Any:
    import rtmidi

    last_error = ""
    for api in rtmidi.get_compiled_api():
        try:  # JACK's "Cannot connect to server socket" probe noise is shown only if this fails
            port = quietly(functools.partial(rtmidi.MidiOut if kind == "out" else rtmidi.MidiIn, api))
        except rtmidi.SystemError as exc:
            last_error = str(exc)
            continue
        names = port.get_ports()
        for index, name in enumerate(names):
            if name == wanted or name.startswith(wanted) or wanted in name:
                port.open_port(index)
                return port
        port.delete()
    detail = f" ({last_error})" if last_error else ""
    raise TargetError(f"MIDI {kind}put port {wanted!r} not found{detail}")


@pytest.fixture
def midi_ports(request: pytest.FixtureRequest, rig_target: Target) -> Iterator[MidiPorts]:
    """python-rtmidi output and input opened on the target's OS MIDI ports; closed and deleted afterwards
    (an idle JACK client left behind lengthens every later cycle)."""
    if not _require(request, rig_target, Feature.MIDI_OS):
        yield None  # type: ignore[misc]
        return
    out_name, in_name = rig_target.midi_port_names()
    out = _open_rtmidi("out", out_name)
    try:
        inp = _open_rtmidi("in", in_name)
    except BaseException:
        _delete_rtmidi(out)
        raise
    inp.ignore_types(sysex=False, timing=False, active_sense=False)
    try:
        yield MidiPorts(out, inp, out_name, in_name)
    finally:
        try:
            _delete_rtmidi(inp)
        finally:
            _delete_rtmidi(out)


def _delete_rtmidi(port: Any) -> None:
    """Close an rtmidi port and delete its client."""
    try:
        port.close_port()
    finally:
        port.delete()


@pytest.fixture
def midi_stream(request: pytest.FixtureRequest, board: Board) -> Iterator[UsbMidiMiniport]:
    """A started rig.miniport UsbMidiMiniport on the board's raw USB-MIDI endpoints, the board in MIDI
    ECHO with the interface claimed from the OS driver and nothing pending; closed afterwards, and the
    MXF books must balance."""
    if _pending_failure(request):
        yield None  # type: ignore[misc]  # the call phase fails with the strict message
        return
    from rig.contract import MidiMode
    from rig.miniport.usb_midi import UsbMidiMiniport

    board.drain_midi(BOOKS_DRAIN_MS)  # claims the interface first: the OS driver must not take echoes
    board.set_midi_mode(MidiMode.ECHO)
    miniport = UsbMidiMiniport(board)
    miniport.start()
    try:
        yield miniport
    finally:
        miniport.close()
    problems = miniport.books()
    if problems:
        pytest.fail(f"midi_stream books not balanced on {board.name}: " + "; ".join(problems), pytrace=False)


@pytest.fixture
def frame_stream(request: pytest.FixtureRequest, rig_target: Target, board: Board) -> Iterator[FrameMiniport]:
    """A rig.miniport FrameMiniport connected to the board (frame ECHO, nothing queued) and running;
    stopped and closed afterwards, and both pins' allocator pools must be full again."""
    if not _require(request, rig_target, Feature.FRAMES):
        yield None  # type: ignore[misc]
        return
    from rig.miniport import MiniportError
    from rig.miniport.frame_pins import FrameMiniport

    miniport = FrameMiniport(board)
    miniport.connect()
    try:
        miniport.run()
        yield miniport
    finally:
        problems: list[str] = []
        try:
            miniport.stop()
            problems = miniport.books()
        finally:
            try:
                miniport.close()
            except MiniportError as exc:  # close refuses unbalanced books: report them the same way
                problems = problems or [str(exc)]
    if problems:
        pytest.fail(f"frame_stream books not balanced on {board.name}: " + "; ".join(problems), pytrace=False)


@pytest.fixture
def console(request: pytest.FixtureRequest, rig_target: Target) -> Iterator[serial.Serial]:
    """The target's serial console opened with pyserial (1 s read timeout); closed afterwards."""
    if not _require(request, rig_target, Feature.CONSOLE):
        yield None  # the call phase fails with the strict message
        return
    import serial

    port = serial.serial_for_url(rig_target.console_port(), baudrate=CONSOLE_BAUD, timeout=1.0,
                                 write_timeout=1.0)
    try:
        yield port
    finally:
        port.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Fail tests with a pending strict failure; check the books of tests that used `board`."""
    if STRICT_FAILURE in item.stash:
        pytest.fail(item.stash[STRICT_FAILURE], pytrace=False)
    result = yield
    board_used = item.stash.get(_BOARD, None)
    if board_used is not None and item.get_closest_marker("books_unchecked") is None:
        problems = board_used.unbalanced(drain_ms=BOOKS_DRAIN_MS)
        if problems:
            pytest.fail(f"books not balanced on {board_used.name}: " + "; ".join(problems), pytrace=False)
    return result


def _target_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "rig_target" in callspec.params:
        return str(callspec.params["rig_target"])
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _record_phase(item.config, report, _target_of(item))
    return report


def _record_phase(config: pytest.Config, report: pytest.TestReport, target: str | None = None) -> None:
    record = _state(config).record
    result = record.result(report.nodeid, target)
    result.duration_s += report.duration
    if report.when == "call" and hasattr(report, "wasxfail"):
        result.outcome = "xfailed" if report.skipped else "xpassed"
        result.message = str(report.wasxfail)
        return
    if report.failed:
        result.outcome = "failed" if report.when == "call" else "error"
        text = report.longreprtext.strip().splitlines()
        errors = [line for line in text if line.startswith("E ")]
        result.message = (errors[0][1:].strip() if errors else (text[-1] if text else "")) or report.when
    elif report.skipped and result.outcome == "passed":
        result.outcome = "skipped"
        longrepr = report.longrepr
        result.message = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
        result.message = result.message.removeprefix("Skipped: ")


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector
                               ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A file that cannot be collected is an error in the run record (it would otherwise vanish)."""
    report = yield
    if report.failed and STATE in collector.config.stash:
        result = _state(collector.config).record.result(report.nodeid or "(collection)", None)
        result.outcome = "error"
        lines = report.longreprtext.strip().splitlines()
        errors = [line for line in lines if line.startswith("E ")]
        last = errors[-1][1:].strip() if errors else (lines[-1] if lines else "")
        result.message = f"collection failed: {last}"
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _state(session.config)
    try:
        state.pool.close()
    finally:
        if state.report_dir is not None:
            from datetime import UTC, datetime

            state.record.finished_utc = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            write_report(state.record, state.report_dir)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = _state(config)
    if state.report_dir is not None:
        terminalreporter.write_line(f"rig: report written to {state.report_dir / 'report.md'}")


__all__ = ["EXPECTED_FEATURES", "CapabilityMissing", "MidiPorts", "TargetPool",
           "check_spec", "expected_features", "missing_features", "run_record", "strict_from_env"]

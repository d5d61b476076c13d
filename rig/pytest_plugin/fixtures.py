"""The fixtures tests use: `rig_target`, `board` (books checked after the test), `midi_ports`,
`console`, `midi_stream` and `frame_stream`; and the call hook that fails pending strict failures
and checks the books of tests that used `board`."""

from __future__ import annotations

import functools
from collections.abc import Collection, Generator, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from rig.client.board import Board
from rig.client.books import host_counters_dict
from rig.contract import Capability, FrameMode, MidiMode
from rig.errors import TargetError
from rig.os_midi import jack_ports
from rig.os_midi.input_queue import INPUT_QUEUE_LIMIT
from rig.os_midi.jack import server_complaints, wait_for_connection
from rig.os_midi.quiet import quietly
from rig.os_midi.system import client_name
from rig.pytest_plugin.options import default_spec
from rig.pytest_plugin.pool import MATRIX, is_pool_param
from rig.pytest_plugin.skip_rule import fail_if_pending, pending_failure, require
from rig.pytest_plugin.state import state_of
from rig.targets.registry import Feature, Target, TargetSpec

if TYPE_CHECKING:
    import rtmidi
    import serial

    from rig.miniport.frame_pins import FrameMiniport
    from rig.miniport.usb_midi import UsbMidiMiniport

CONSOLE_BAUD = 115200
BOOKS_DRAIN_MS = 20
"""The books check reads what a test left queued for this long; leftovers are a failure."""
MIDI_PORT_TIMEOUT_S = 5.0

_BOARD = pytest.StashKey[Board]()


@pytest.fixture(scope="session")
def rig_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The opened target: param (indirect parametrize) > --rig > default_target()."""
    state = state_of(request.config)
    spec = getattr(request, "param", None)
    if spec is None:
        spec = state.specs[0] if state.specs else default_spec()
    matrix = state.plan is not None and state.plan.mode == MATRIX
    try:
        if state.plan is not None and is_pool_param(str(spec)):  # split mode: the target this worker leased
            spec = state.plan.lease_for_split(state.pool.get)
        else:
            spec = str(TargetSpec.parse(str(spec)))
            if state.plan is not None:  # matrix mode: this worker was handed all of this target's tests
                state.plan.lease(spec)
        target = state.pool.get(spec)
    except TargetError as exc:  # the message names target and cause: no traceback through the plugin
        pytest.fail(str(exc), pytrace=False)
    facts = state.record.targets.setdefault(spec, {})
    try:
        facts.update(target.describe())
    except Exception as exc:
        facts["describe"] = f"failed: {exc}"
    yield target
    if matrix:  # finalized when this worker moves on to another target (rig.pytest_plugin.pool_matrix)
        assert state.plan is not None
        try:  # or at the session's end, after the pool was closed: then both are no-ops
            state.pool.close_one(spec)
        finally:
            state.plan.release(spec)


def pytest_collection_finish(session: pytest.Session) -> None:
    """With --rig-open-early (what `rig test` passes): open every target the collected tests use now,
    and end the session in one line naming the cause when one cannot open."""
    if not session.config.getoption("rig_open_early"):
        return
    if not any("rig_target" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    state = state_of(session.config)
    try:
        if state.plan is not None:  # a pool: this process's split-mode lease (matrix leases per test)
            if state.plan.mode != MATRIX:
                state.plan.lease_for_split(state.pool.get)
            return
        for spec in state.specs or [default_spec()]:
            state.pool.get(str(TargetSpec.parse(spec)))
    except TargetError as exc:
        pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture
def board(request: pytest.FixtureRequest, rig_target: Target) -> Iterator[Board]:
    """A rig.client.board.Board on the target's USB device: frame ECHO mode with nothing queued, counters
    reset; after the test the books are checked (device counters against the Board's host counters).
    Only our board (Feature.CONTRACT): no other device is ever sent GET_INFO."""
    if not require(request, rig_target, Feature.CONTRACT):
        yield None  # type: ignore[misc]  # the call phase fails with the strict message
        return
    dev = Board(rig_target.usb_device())
    info = dev.info()
    facts = state_of(request.config).record.targets.setdefault(rig_target.name, {})
    facts.update({"firmware": info.firmware, "contract": str(info.contract_version),
                  "serial": dev.serial_number, "max_payload": str(info.max_payload)})
    if Capability.FRAMES in info.capabilities:
        # Start from frame ECHO with nothing queued, whatever an earlier test left behind: SET_FRAME_MODE
        # empties the ring, a frame half sent included (docs/protocol.md; tests/conformance/
        # test_chapter9.py::test_set_frame_mode_empties_the_ring holds every target to it).
        dev.set_frame_mode(FrameMode.ECHO)
        dev.frames_used = False
    if Capability.MIDI in info.capabilities:
        # Likewise MIDI ECHO with the IN queue empty (SET_MIDI_MODE empties it): a test that ended in
        # SINK or SOURCE (tests/conformance/test_midi_os.py's mode tests) left the next file's tests a
        # device that does not echo, whenever xdist happened to run them after it.
        dev.set_midi_mode(MidiMode.ECHO)
        dev.midi_used = False
    dev.reset_stats()
    request.node.stash[_BOARD] = dev
    yield dev
    try:
        stats = dev.stats()
        state_of(request.config).record.counters[request.node.nodeid] = {
            "device": dict(stats), "host": host_counters_dict(dev.host)}
    finally:
        dev.close()


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
        client = client_name(f"rig test {kind}")  # unique: see there
        make = rtmidi.MidiOut if kind == "out" else rtmidi.MidiIn
        try:  # JACK's "Cannot connect to server socket" probe noise is shown only if this fails
            limit = {} if kind == "out" else {"queue_size_limit": INPUT_QUEUE_LIMIT}  # see there
            opened = functools.partial(quietly, functools.partial(make, api, name=client, **limit))
            port = jack_ports.open_client(opened)
        except rtmidi.SystemError as exc:
            last_error = str(exc)
            continue
        names = port.get_ports()
        for index, name in enumerate(names):
            if name == wanted or name.startswith(wanted) or wanted in name:
                jack_ports.call(port, "open_port", index)
                if api == rtmidi.API_UNIX_JACK:  # routed only from a later cycle: wait until it is
                    wait_for_connection(client, name)
                return port
        jack_ports.close(port)
    detail = f" ({last_error}){server_complaints()}" if last_error else ""
    raise TargetError(f"MIDI {kind}put port {wanted!r} not found{detail}")


@pytest.fixture
def midi_ports(request: pytest.FixtureRequest, rig_target: Target) -> Iterator[MidiPorts]:
    """python-rtmidi output and input opened on the target's OS MIDI ports; closed and deleted afterwards
    (an idle JACK client left behind lengthens every later cycle). With `board` in the same test the
    OS driver keeps the MIDI interface (board.leave_midi_to_os()) and the ports count what is sent
    and taken into the Board's books (rig.miniport.counted_ports), so the books check holds."""
    if not require(request, rig_target, Feature.MIDI_OS):
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
    ports = MidiPorts(out, inp, out_name, in_name)
    if "board" in request.fixturenames:  # compose: the OS driver keeps the interface, the ports count
        board: Board = request.getfixturevalue("board")
        if board is not None:
            from rig.miniport.counted_ports import CountedIn, CountedOut

            board.leave_midi_to_os()
            ports = MidiPorts(CountedOut(out, board), CountedIn(inp, board), out_name, in_name)
    try:
        yield ports
    finally:
        try:
            _delete_rtmidi(inp)
        finally:
            _delete_rtmidi(out)


def _delete_rtmidi(port: Any) -> None:
    """Close an rtmidi port and delete its client (rig.os_midi.jack_ports: safely on JACK)."""
    jack_ports.close(port)


@pytest.fixture
def midi_stream(request: pytest.FixtureRequest, board: Board) -> Iterator[UsbMidiMiniport]:
    """A started rig.miniport UsbMidiMiniport on the board's raw USB-MIDI endpoints, the board in MIDI
    ECHO with the interface claimed from the OS driver and nothing pending; closed afterwards, and the
    MXF books must balance."""
    if pending_failure(request):
        yield None  # type: ignore[misc]  # the call phase fails with the strict message
        return
    from rig.contract import MidiMode
    from rig.miniport.usb_midi import UsbMidiMiniport

    board.claim_midi()  # first: the OS driver must not take echoes
    board.set_midi_mode(MidiMode.ECHO)  # empties the IN queue (docs/protocol.md): nothing to drain
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
    if not require(request, rig_target, Feature.FRAMES):
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
    """The target's serial console: an open pyserial port (1 s read timeout) that also has
    `console.command(text)` (the reply, echo and prompt removed) and `console.expect(regex, timeout)`
    (the re.Match; a ConsoleTimeout shows what arrived instead). Closed afterwards."""
    if not require(request, rig_target, Feature.CONSOLE):
        yield None  # the call phase fails with the strict message
        return
    from rig.client.console import open_console_port

    port = open_console_port(rig_target.console_port(), baudrate=CONSOLE_BAUD, timeout_s=1.0)
    try:
        yield port
    finally:
        port.close()


OS_MIDI_BOOKS_HINT = (" (this test used midi_ports beside board: the ports count every message sent "
                      "with send_message and taken with get_message or a callback, so a difference is MIDI "
                      "the test did not read back, or sent or read around midi_ports; mark the test "
                      "@pytest.mark.books_unchecked if that is intended)")


def books_hint(problems: list[str], fixturenames: Collection[str]) -> str:
    """What to do when MIDI counters disagree in a test that used midi_ports with board."""
    midi = any("midi_packets" in problem for problem in problems)
    return OS_MIDI_BOOKS_HINT if midi and "midi_ports" in fixturenames else ""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Fail tests with a pending strict failure; check the books of tests that used `board`."""
    fail_if_pending(item)
    result = yield
    board_used = item.stash.get(_BOARD, None)
    if board_used is not None and item.get_closest_marker("books_unchecked") is None:
        problems = board_used.unbalanced(drain_ms=BOOKS_DRAIN_MS)
        if problems:
            pytest.fail(f"books not balanced on {board_used.name}: " + "; ".join(problems)
                        + books_hint(problems, getattr(item, "fixturenames", ())), pytrace=False)
    return result

"""The plugin's device fixtures on the loopback target: books check, counters in the report, console."""

from __future__ import annotations

import pytest

from rig.pytest_plugin.run_report import RunRecord
from rig.targets.factory import make_target
from rig.targets.registry import Feature

from .conftest import run_expecting, run_plugin

pytest_plugins = ["pytester"]


def test_books_check_fails_a_test_that_leaves_frames_behind(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_x="""
        import pytest

        def test_unread(board):
            board.send_frame(b"x")

        def test_balanced(board):
            board.send_frame(b"x")
            board.receive_frame()

        @pytest.mark.books_unchecked
        def test_opted_out(board):
            board.send_frame(b"x")

        def test_after_the_opt_out_starts_clean(board):
            board.send_frame(b"y")
            assert bytes(board.receive_frame().payload) == b"y"
    """)
    run_expecting(tester, "--rig=loopback", failed=1, passed=3,
                  lines=["*books not balanced on board 4C4F4F504241434B: 1 frame(s) still queued on "
                         "EP_FRAME_IN at the end (seq 0..0)*"])


def test_books_check_catches_counter_disagreement(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_x="""
        def test_lies(board):
            board.send_frame(b"abc")
            board.receive_frame()
            board.host.frames_tx += 1  # the host claims one more frame than the device saw
    """)
    run_expecting(tester, "--rig=loopback", failed=1,
                  lines=["*device frames_rx=1 but host frames_tx=2*"])


def test_device_counters_and_firmware_reach_the_report(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_x="""
        def test_one_frame(board):
            board.send_frame(b"abcd")
            board.receive_frame()
    """)
    out = tester.path / "rep"
    run_plugin(tester, "--rig=loopback", f"--rig-report={out}").assert_outcomes(passed=1)
    record = RunRecord.load(out)
    (books,) = record.counters.values()
    assert books["device"]["frames_rx"] == 1 and books["device"]["frame_bytes_tx"] == 4
    assert books["host"]["frames_tx"] == 1
    assert record.targets["loopback"]["firmware"] == "0.1.0"
    assert "frames_rx=1" in (out / "report.md").read_text()


def test_console_fixture_is_an_open_serial_port(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_x="""
        from rig.client.console import Console

        def test_version(console):
            assert Console(console).command("version").startswith("firmware ")
    """)
    run_plugin(tester, "--rig=loopback").assert_outcomes(passed=1)


def test_midi_ports_fixture_opens_or_skips_with_the_reason(tester: pytest.Pytester) -> None:
    target = make_target("loopback")
    has_midi = Feature.MIDI_OS in target.features
    tester.makepyfile(test_x="""
        def test_ports(midi_ports):
            assert midi_ports.out.is_port_open() and midi_ports.inp.is_port_open()
    """)
    result = run_plugin(tester, "--rig=loopback", "-rs")
    if has_midi:
        result.assert_outcomes(passed=1)
    else:
        result.assert_outcomes(skipped=1)
        result.stdout.fnmatch_lines(["*target loopback lacks midi-os (the midi_ports fixture needs it)*"])
        # loopback should have a MIDI system, so CI (strict) turns this skip into a failure
        run_plugin(tester, "--rig=loopback", "--rig-strict").assert_outcomes(failed=1)


def test_board_and_midi_ports_compose(tester: pytest.Pytester) -> None:
    """The obvious combination for a device maker: a note through the OS ports beside `board`. The
    ports count into the Board's books and the OS driver keeps the interface, so the books balance
    (this failed with "device midi_rx_packets=1 but host midi_packets_tx=0" before); MIDI the test
    leaves unread still fails them, and the message says what that means."""
    from rig.os_midi.jack import jackd_installed
    from rig.os_midi.system import os_midi_api
    from rig.pytest_plugin.testing import require

    require(jackd_installed() or os_midi_api() is not None, "no MIDI system and no jackd")
    tester.makepyfile(test_x="""
        import time

        def read_one(midi_ports):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                event = midi_ports.inp.get_message()
                if event is not None:
                    return event[0]
                time.sleep(0.01)
            return None

        def test_note_through_the_os(board, midi_ports):
            midi_ports.out.send_message([0x90, 60, 100])
            assert read_one(midi_ports) == [0x90, 60, 100]
            midi_ports.out.send_message([0xF0, 1, 2, 3, 4, 0xF7])
            assert read_one(midi_ports) == [0xF0, 1, 2, 3, 4, 0xF7]
            assert board.host.midi_packets_tx == 3 and board.host.midi_packets_rx == 3

        def test_echo_left_unread(board, midi_ports):
            midi_ports.out.send_message([0x90, 61, 100])
            deadline = time.monotonic() + 5
            while board.stats()["midi_tx_packets"] < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
    """)
    run_expecting(tester, "--rig=loopback", passed=1, failed=1,
                  lines=["*books not balanced*device midi_tx_packets=1 but host midi_packets_rx=0*"
                         "the ports count every message*did not read back*books_unchecked*"])

"""The plugin's stream fixtures (`midi_stream`, `frame_stream`) and port hygiene, run with pytester on
the loopback: streams work, their books are checked at teardown, strict mode follows
rig.pytest_plugin.testing."""

from __future__ import annotations

import pytest

from rig.pytest_plugin.skip_rule import strict_from_env

from .conftest import run_plugin

pytest_plugins = ["pytester"]


def test_midi_stream_round_trips_and_checks_its_books(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_x="""
        def test_echo(midi_stream):
            midi_stream.send([b"\\x90\\x3c\\x40", b"\\xb0\\x07\\x10"])
            assert [g.data for g in midi_stream.receive(2)] == [b"\\x90\\x3c\\x40", b"\\xb0\\x07\\x10"]

        def test_leaves_a_message_untaken(midi_stream):
            midi_stream.send([b"\\x90\\x3c\\x40"])
            import time
            deadline = time.monotonic() + 5
            while midi_stream.reader_counters.packets == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
    """)
    result = run_plugin(tester, "--rig=loopback")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*midi_stream books not balanced on board *"])


def test_frame_stream_round_trips_and_checks_its_books(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_x="""
        def test_echo(frame_stream):
            frame_stream.send(b"abc")
            with frame_stream.receive() as got:
                assert bytes(got.payload) == b"abc"

        def test_holds_a_frame(frame_stream):
            frame_stream.send(b"abc")
            frame_stream.receive()  # taken but never released: a frame out of its pool
    """)
    result = run_plugin(tester, "--rig=loopback")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*frame_stream books not balanced on board *"])


@pytest.mark.parametrize(("environ", "strict"), [({"CI": " Yes "}, True), ({"CI": "1"}, True),
                                                 ({"CI": "false"}, False), ({}, False)])
def test_strict_from_env_is_the_rigs_one_ci_rule(environ: dict[str, str], strict: bool) -> None:
    assert strict_from_env(environ) is strict

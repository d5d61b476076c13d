"""pytest plugin: choose targets with --rig, hand tests a Board, MIDI ports or a console, and skip
(or, under --rig-strict, fail) tests whose target lacks a capability.

Register with `-p rig.pytest_plugin` (also its pytest11 entry point). This module only re-exports
the hooks and fixtures pytest must see; the plugin lives in:

- options.py: the "rig" option group (`--rig=SPEC` repeatable, `--rig-strict`, `--rig-report=DIR`),
  the session state it sets up, and one parametrization of `rig_target` per spec
  (param > option > default: an attached board, else loopback).
- skip_rule.py: the `needs(*features)` / `hardware` markers and the strict rule — a capability skip
  becomes a failure under --rig-strict (or CI=true) when the target should have the feature (its
  `expected_features`, else `EXPECTED_FEATURES[kind]`). `hardware` skips stay skips.
- fixtures.py: `rig_target`, `board` (books checked after the test), `midi_ports`, `console` (a
  pyserial port with `expect` and `command`), `midi_stream`, `frame_stream`.
- midi_fixture.py: `midi`, expect-style MIDI verbs (`send`, `expect`, `receive`) on the OS ports.
- recording.py: the run record and, with --rig-report, DIR/record.json and DIR/report.md.
- state.py: the per-session state and the pool of opened targets.
- crash_dumps.py: faulthandler on for the session, its subprocesses and interpreter shutdown.
- applicability.py: a target that is not our board (`emulator:IMAGE` of other firmware) runs only
  the tests marked `device_agnostic` (the conformance_usb / conformance_usbmidi suites); the rest are
  deselected for it and recorded as not applicable, with the reason.
- pool.py: `--rig-pool` (a pool of targets for pytest-xdist workers, each leasing one exclusively
  through rig.targets.lease) in `split` or `matrix` mode; the controller merges what workers record
  (recording.py: each test report carries what its worker gathered since the one before).
- pool_matrix.py: matrix mode's xdist scheduler (each target's tests whole to one worker).
- pool_routing.py: a mixed split pool's xdist scheduler (tests needing our board only to workers
  leasing our boards).
- history_store.py: `--rig-history` (outcomes per target into the run history) and `--rig-baseline`
  (the outcome gate per target, rig.measure.suite_gate).
- capture.py: USB captures (pcapng) — `--rig-capture DIR` keeps each failing test's, linked from
  report.md (`--rig-capture-all`: every test's); `--rig-capture-file FILE` the whole session's.
"""

from __future__ import annotations

from rig.pytest_plugin.applicability import pytest_collection_modifyitems
from rig.pytest_plugin.capture import _rig_capture
from rig.pytest_plugin.crash_dumps import pytest_sessionstart, pytest_unconfigure
from rig.pytest_plugin.fixtures import (
    board,
    console,
    frame_stream,
    midi_ports,
    midi_stream,
    pytest_collection_finish,
    pytest_runtest_call,
    rig_target,
)
from rig.pytest_plugin.midi_fixture import midi
from rig.pytest_plugin.options import (
    pytest_addoption,
    pytest_configure,
    pytest_configure_node,
    pytest_generate_tests,
    pytest_report_header,
    pytest_xdist_auto_num_workers,
)
from rig.pytest_plugin.recording import (
    pytest_make_collect_report,
    pytest_runtest_makereport,
    pytest_sessionfinish,
    pytest_terminal_summary,
)
from rig.pytest_plugin.skip_rule import _rig_markers

__all__ = ["_rig_capture", "_rig_markers", "board", "console", "frame_stream", "midi", "midi_ports",
           "midi_stream", "pytest_addoption", "pytest_collection_finish",
           "pytest_collection_modifyitems", "pytest_configure", "pytest_configure_node",
           "pytest_generate_tests", "pytest_make_collect_report", "pytest_report_header",
           "pytest_runtest_call", "pytest_runtest_makereport", "pytest_sessionfinish", "pytest_sessionstart",
           "pytest_terminal_summary", "pytest_unconfigure", "pytest_xdist_auto_num_workers", "rig_target"]

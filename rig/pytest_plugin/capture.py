"""USB captures from pytest: `--rig-capture DIR` records each target-using test into
DIR/<test>.pcapng and keeps the file only when the test failed (`--rig-capture-all`: every test's);
`--rig-capture-file FILE` records the whole session into one file, a comment naming each test on its
first packet. Kept captures of failing tests are listed (linked) in report.md.

Nothing is installed when neither option is given, so capture off costs nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rig.errors import CapabilityMissing, RigError
from rig.pytest_plugin.run_report import RunRecord, register_section
from rig.pytest_plugin.state import state_of
from rig.targets.registry import Feature, Target

if TYPE_CHECKING:  # imported where a capture starts: the capture stack (numpy) costs every session 0.1 s
    from rig.links.capture import UsbCapture

CAPTURES = "captures"
"""RunRecord.extra key: {nodeid: capture path, relative to the report directory when inside it}."""
_FILE = pytest.StashKey[Path]()
_FAILED = pytest.StashKey[bool]()
_SESSION: pytest.StashKey[dict[str, UsbCapture]] = pytest.StashKey()


def add_options(group: pytest.OptionGroup) -> None:
    """The capture options, in the plugin's "rig" group."""
    group.addoption("--rig-capture", dest="rig_capture", metavar="DIR", default=None,
                    help="record each test's USB traffic as DIR/<test>.pcapng (Wireshark); kept for "
                         "failing tests only")
    group.addoption("--rig-capture-all", action="store_true", dest="rig_capture_all", default=False,
                    help="with --rig-capture: keep the captures of passing tests too")
    group.addoption("--rig-capture-file", dest="rig_capture_file", metavar="FILE", default=None,
                    help="record the whole session's USB traffic into one pcapng FILE")
    group.addoption("--rig-capture-ring", dest="rig_capture_ring", metavar="MB", type=float, default=None,
                    help="keep only the last MB megabytes of each capture (the descriptors always)")


def file_name(nodeid: str) -> str:
    """A capture file name for a test id: path separators and odd characters become '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid).strip("_")[:180] + ".pcapng"


def _ring_bytes(config: pytest.Config) -> int | None:
    from rig.targets.usb_capture import MB

    ring_mb = config.getoption("rig_capture_ring")
    return None if ring_mb is None else max(1, int(ring_mb * MB))


def _session_capture(config: pytest.Config, target: Target) -> UsbCapture | None:
    """The session file's capture, recording `target` from its first test on."""
    path = config.getoption("rig_capture_file")
    if not path:
        return None
    if _SESSION not in config.stash:
        config.stash[_SESSION] = {}
    recorded = config.stash[_SESSION]
    if target.name not in recorded:
        from rig.links.capture import UsbCapture
        from rig.targets.usb_capture import attach_device_view, section_for

        shared = next(iter(recorded.values()), None)
        if shared is None:
            shared = UsbCapture(path, section_for(target), ring_bytes=_ring_bytes(config))
            config.add_cleanup(shared.close)
        from rig.links.recording_backend import record_device

        record_device(target.usb_device(), shared)
        attach_device_view(target, shared)
        recorded[target.name] = shared
    return recorded[target.name]


@pytest.fixture(autouse=True)
def _rig_capture(request: pytest.FixtureRequest) -> Iterator[None]:
    """Record a target-using test when a capture option asks for it (before its other fixtures, so
    the board's setup and teardown traffic are in it too)."""
    config = request.config
    directory = config.getoption("rig_capture", None)
    wanted = directory or config.getoption("rig_capture_file", None)
    if not wanted or "rig_target" not in request.fixturenames:
        yield
        return
    try:
        target: Target = request.getfixturevalue("rig_target")
    except (RigError, pytest.skip.Exception, pytest.fail.Exception):
        yield  # the target did not open: the test reports that itself
        return
    if Feature.USB not in target.features:
        yield
        return
    from rig.targets.usb_capture import start_capture, stop_capture

    nodeid = request.node.nodeid
    session = _session_capture(config, target)
    if session is not None:
        session.mark(f"test {nodeid}")
    capture = None
    if directory:
        path = Path(directory) / file_name(nodeid)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            capture = start_capture(target, path, ring_mb=config.getoption("rig_capture_ring"))
        except CapabilityMissing:
            capture = None
        else:
            capture.mark(f"test {nodeid}")
            request.node.stash[_FILE] = path
    try:
        yield
    finally:
        if capture is not None:
            stop_capture(target, capture)


def after_phase(item: pytest.Item, report: pytest.TestReport) -> None:
    """Called for each report of a test: after teardown, keep its capture if it failed (or all are
    kept) and note it in the run record; otherwise delete it."""
    if report.failed:
        item.stash[_FAILED] = True
    if report.when != "teardown" or _FILE not in item.stash:
        return
    path = item.stash[_FILE]
    failed = item.stash.get(_FAILED, False)
    if not failed and not item.config.getoption("rig_capture_all"):
        path.unlink(missing_ok=True)
        return
    if failed and path.exists():
        report_dir = state_of(item.config).report_dir
        shown = Path(os.path.relpath(path, report_dir)) if report_dir is not None else path.resolve()
        captures = state_of(item.config).record.extra.setdefault(CAPTURES, {})
        captures[item.nodeid] = str(shown)


def _captures_section(record: RunRecord) -> str | None:
    captures: dict[str, str] = record.extra.get(CAPTURES) or {}
    if not captures:
        return None
    lines = ["## USB captures of failing tests", "",
             "Open with Wireshark, or `tshark -r FILE -Y usbaudio` (see README, Capturing USB traffic).", ""]
    lines += [f"- `{nodeid}`: [{Path(path).name}]({path})" for nodeid, path in captures.items()]
    return "\n".join(lines)


register_section(CAPTURES, _captures_section)

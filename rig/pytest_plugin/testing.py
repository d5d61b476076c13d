"""The honest-skip rule in one place: a test that needs something CI can provide (JACK, the emulator,
the firmware build, node) FAILS when it is missing under CI (CI=true, 1 or yes) and skips with the
reason elsewhere. Hardware-only tests (@pytest.mark.hardware) are not for this helper: CI has no
board, so the rig pytest plugin keeps those as skips.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

from rig.os_midi import jack_ports
from rig.os_midi.input_queue import INPUT_QUEUE_LIMIT
from rig.os_midi.jack import wait_for_connection
from rig.os_midi.quiet import quietly
from rig.os_midi.system import client_name

CI_VALUES = frozenset({"true", "1", "yes"})


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True when the environment (default: os.environ) says this is CI: CI=true, 1 or yes."""
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() in CI_VALUES


def missing(reason: str) -> NoReturn:
    """Something the test needs is absent: pytest.fail under CI, pytest.skip with `reason` elsewhere
    (also at module level, where it skips or fails the whole module)."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: CI must provide this, so a missing one is a failure, not a skip)",
                    pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require(condition: object, reason: str) -> None:
    """Go on when `condition` is true; else `missing(reason)` (fail in CI, skip elsewhere)."""
    if not condition:
        missing(reason)


def require_program(name: str, hint: str) -> str:
    """The path of executable `name`, or missing() naming it and how to install it."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed ({hint})")
    return path


def require_module(name: str, hint: str) -> ModuleType:
    """Import module `name` (what pytest.importorskip does), or missing() naming it and `hint`."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"Python module {name} cannot be imported ({exc}; {hint})")


__all__ = ["every_mxf_allocator_checked", "in_ci", "load_module", "missing", "open_rtmidi_port",
           "receive_messages", "require", "require_module", "require_program"]


# --- rtmidi clients in tests (OS-MIDI ports of the loopback and emulator targets) ---


def close_rtmidi_port(port: Any) -> None:
    """Close an rtmidi port and delete its client, as rig.os_midi.jack_ports makes it safe on JACK."""
    jack_ports.close(port)


def open_rtmidi_port(api: int, kind: str, wanted: str) -> Any:
    """An rtmidi client port of `kind` ("out"/"in") opened on the port whose name contains `wanted`, and
    (on JACK) connected in the graph the server runs, so a message sent next is routed."""
    import rtmidi

    name = client_name(f"rig test {kind}")  # unique per client: see rig.os_midi.system.client_name
    port = jack_ports.open_client(lambda: quietly(lambda: (
        rtmidi.MidiOut(rtapi=api, name=name) if kind == "out"
        else rtmidi.MidiIn(rtapi=api, name=name, queue_size_limit=INPUT_QUEUE_LIMIT))))
    names = port.get_ports()
    matches = [i for i, name in enumerate(names) if wanted in name]
    if not matches:
        jack_ports.close(port)
        raise AssertionError(f"{wanted!r} not among {names}")
    jack_ports.call(port, "open_port", matches[0])
    if api == rtmidi.API_UNIX_JACK:  # the connection works from a later cycle: wait until it does
        wait_for_connection(name, names[matches[0]])
    if kind == "in":
        port.ignore_types(sysex=False, timing=False, active_sense=False)
    return port


def receive_messages(port: Any, count: int, timeout_s: float = 10.0) -> list[list[int]]:
    """Up to `count` messages from an rtmidi input, polling until `timeout_s` passes."""
    got: list[list[int]] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        event = port.get_message()
        if event is None:
            time.sleep(0.002)
        else:
            got.append(event[0])
    return got


def every_mxf_allocator_checked() -> Iterator[None]:
    """Body of an autouse fixture: every AllocatorMXF built during the test (a miniport's too) runs
    checked, and the test fails when any still has an event or buffer out at the end, naming where
    each was taken."""
    from host.mxf.allocator import tracking

    with tracking() as created:
        yield
    leaks = [str(leak) for allocator in created for leak in allocator.leaks()]
    if leaks:
        pytest.fail(f"{len(leaks)} MXF event(s)/buffer(s) leaked:\n" + "\n".join(leaks[:20]), pytrace=False)


def load_module(path: Path, name: str) -> ModuleType:
    """The Python file at `path` loaded as module `name` (a script or a test module that is not on
    sys.path, e.g. fixtures/regenerate.py or firmware/tools/boot2_pad.py)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

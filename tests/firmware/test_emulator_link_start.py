"""EmulatorLink start-up: the bridge's ready message may be handled by the reader thread before the
starting thread looks for it (a loaded machine deschedules the starter); the link must still start."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from rig.links import emulator
from rig.links.emulator import EmulatorLink

from .conftest import need_bridge


def test_start_survives_the_reader_handling_ready_first(firmware_image: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the order a loaded machine can produce: the reader pops and signals the ready message
    before __init__ goes on (it used to look it up again then, and died with KeyError 0)."""
    need_bridge()
    made: list[Any] = []
    real_pending = emulator._Pending

    def recording_pending() -> Any:
        made.append(real_pending())
        return made[-1]

    real_start = threading.Thread.start

    def start_then_wait_for_ready(thread: threading.Thread) -> None:
        real_start(thread)
        if thread.name == "emulator-link reader":
            assert made[0].event.wait(60), "the bridge sent no ready message"

    monkeypatch.setattr(emulator, "_Pending", recording_pending)
    monkeypatch.setattr(threading.Thread, "start", start_then_wait_for_ready)
    link = EmulatorLink(firmware_image)
    try:
        assert link.boot_info
    finally:
        link.close()

"""Workers that all find our firmware image stale build it once, one after the other under a lock,
not at the same time (rig.targets.emulator.build_if_stale)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from rig.targets import emulator


def test_concurrent_openers_build_a_stale_image_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = tmp_path / "rig_firmware.bin"
    monkeypatch.setattr(emulator, "BUILD_LOCK", tmp_path / ".build.lock")
    monkeypatch.setattr(emulator, "image_is_stale", lambda p: not p.is_file())
    builds: list[float] = []
    running = threading.Event()
    overlapped: list[bool] = []

    def build() -> Path:
        overlapped.append(running.is_set())
        running.set()
        time.sleep(0.2)  # a build takes a while: long enough for the others to arrive meanwhile
        image.write_bytes(b"built")
        builds.append(time.monotonic())
        running.clear()
        return image

    monkeypatch.setattr(emulator, "build_firmware", build)
    workers = [threading.Thread(target=emulator.build_if_stale, args=(image,)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(builds) == 1 and overlapped == [False]

"""Transfer timeouts scaled by the emulation speed the bridge measures (issue #8 section 2): a firmware
that sleeps in wfi keeps up with wall time (3x, the floor), a busy-polling one runs at the emulator's
raw speed and gets its timeouts stretched by that speed; a number given to --timeout-scale fixes it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rig.links.emulator import EmulatorLink

from .conftest import T, need_bridge

WFI, NOP = b"\x30\xbf", b"\x00\xbf"
SAMPLES = 6
"""Speed samples (one per 250 ms of wall time) to wait for before judging."""
LIMIT_S = 30.0


def settled_info(image: Path, **kwargs: Any) -> dict[str, Any]:
    """INFO once the bridge has taken SAMPLES speed samples after boot."""
    with EmulatorLink(image, **kwargs) as link:
        assert isinstance(link.control(0x80, 6, 0x100, 0, 18, T), bytes)
        first = int(link.info()["emulation_speed_samples"])
        deadline = time.monotonic() + LIMIT_S
        while True:
            info: dict[str, Any] = link.info()
            if info["emulation_speed_samples"] >= first + SAMPLES:
                return info
            assert time.monotonic() < deadline, f"fewer than {SAMPLES} speed samples in {LIMIT_S} s"
            time.sleep(0.05)


def expected_scale(speed: float) -> float:
    return min(30.0, max(3.0, 1.2 / max(speed, 1e-3)))


def test_timeouts_follow_the_measured_speed(firmware_build: Path, tmp_path: Path) -> None:
    need_bridge()
    idle = settled_info(firmware_build / "plain.bin")
    flat = (firmware_build / "plain.bin").read_bytes()
    assert flat.count(WFI) >= 1
    busy_image = tmp_path / "busy.bin"
    busy_image.write_bytes(flat.replace(WFI, NOP))  # the idle loop now spins: never asleep
    busy = settled_info(busy_image)
    assert idle["timeout_scale_mode"] == busy["timeout_scale_mode"] == "auto"
    assert idle["emulation_speed"] > 0.6 and idle["timeout_scale"] == 3
    assert busy["emulation_speed"] < 0.6 and busy["emulation_speed"] < idle["emulation_speed"]
    assert abs(busy["timeout_scale"] - expected_scale(busy["emulation_speed"])) < 0.05 * busy["timeout_scale"]


def test_a_fixed_scale_is_kept(firmware_build: Path) -> None:
    need_bridge()
    info = settled_info(firmware_build / "plain.bin", timeout_scale=5.0)
    assert info["timeout_scale_mode"] == "fixed" and info["timeout_scale"] == 5

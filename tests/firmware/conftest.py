"""Fixtures for the firmware tests: tool checks (rig.pytest_plugin.testing: fail under CI, skip elsewhere),
one clean firmware build per run (image and model boot ROM; xdist workers share it), an emulated board
per module, and a helper that assembles small Thumb programs for images made to fail."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import usb.core
import usb.util

from rig import contract as c
from rig.links.emulator import BRIDGE_DIR, EmulatorLink, bridge_installed, node_executable
from rig.links.pyusb_backend import LinkBackend
from rig.pytest_plugin.testing import missing, require_program

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
BUILD_TIMEOUT_S = 240
T = 2000
"""Control-transfer timeout (ms) the emulator tests use."""


def need_program(name: str, hint: str) -> str:
    """Path of `name`, or fail (CI) / skip naming it and how to get it (rig.pytest_plugin.testing's rule)."""
    return require_program(name, hint)


@pytest.fixture(scope="session")
def firmware_build(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    """A build directory made from clean by `make -C firmware BUILD=...` (the checked-in sources), once
    per run: xdist workers share it (a clean build costs ~10 s CPU), the first to ask builds it while
    holding a lock and the others wait on that lock, then find its make.log (written last). The tests
    only read it."""
    need_program("arm-none-eabi-gcc", "apt-get install gcc-arm-none-eabi")
    need_program("make", "apt-get install make")
    run_dir = tmp_path_factory.getbasetemp()
    if hasattr(pytestconfig, "workerinput"):  # an xdist worker's basetemp is popen-gwN in the run's
        run_dir = run_dir.parent
    build = run_dir / "firmware-build"
    with open(run_dir / "firmware-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also on failure
        if not (build / "make.log").is_file():
            shutil.rmtree(build, ignore_errors=True)  # what a failed build left
            cmd = ["make", "-C", str(FIRMWARE), f"BUILD={build}", f"PYTHON={sys.executable}", "-j2"]
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
            if result.returncode != 0:
                pytest.fail(f"firmware build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
            (build / "make.log").write_text(result.stdout)
    return build


@pytest.fixture(scope="session")
def firmware_image(firmware_build: Path) -> Path:
    """The flash image (.bin from 0x10000000) of the session's clean build."""
    return firmware_build / "rig_firmware.bin"


@pytest.fixture(scope="session")
def firmware_rom(firmware_build: Path) -> Path:
    """The emulator's model boot ROM from the session's clean build."""
    return firmware_build / "rom_model.bin"


def assemble(source: str, address: int, workdir: Path, name: str = "prog") -> tuple[bytes, dict[str, int]]:
    """Assemble and link Thumb `source` at `address` with the firmware's toolchain: the raw bytes and
    the symbol table (name -> address)."""
    gcc = need_program("arm-none-eabi-gcc", "apt-get install gcc-arm-none-eabi")
    objcopy, nm = (str(Path(gcc).with_name(f"arm-none-eabi-{tool}")) for tool in ("objcopy", "nm"))
    src, elf, raw = workdir / f"{name}.S", workdir / f"{name}.elf", workdir / f"{name}.bin"
    src.write_text(source)
    for cmd in ([gcc, "-mcpu=cortex-m0plus", "-mthumb", "-nostdlib", f"-Wl,-Ttext=0x{address:x}",
                 "-Wl,--entry=0", str(src), "-o", str(elf)],
                [objcopy, "-O", "binary", str(elf), str(raw)]):
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
    listing = subprocess.run([nm, str(elf)], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    rows = [line.split() for line in listing.splitlines()]
    symbols = {row[2]: int(row[0], 16) for row in rows if len(row) == 3}
    return raw.read_bytes(), symbols


def need_bridge() -> None:
    """Node and the bridge's rp2040js must be there."""
    if node_executable() is None:
        missing("node is not installed (the emulator bridge needs Node.js 18+)")
    if not bridge_installed():
        missing(f"rp2040js is not installed: run `npm ci` in {BRIDGE_DIR}")


def run_probe(probe: Path, *args: str) -> dict[str, Any]:
    """Run a Node probe script (tests/firmware/*_probe.js) against the bridge's modules: the JSON it
    prints (the test fails with its stderr when it exits non-zero)."""
    need_bridge()
    node = node_executable()
    assert node is not None
    result = subprocess.run([node, str(probe), str(BRIDGE_DIR), *args], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


@pytest.fixture(scope="module")
def link(firmware_image: Path) -> Iterator[EmulatorLink]:
    """One emulated board for the module's tests, closed at the end."""
    need_bridge()
    emulated = EmulatorLink(firmware_image)
    try:
        yield emulated
    finally:
        emulated.close()


@pytest.fixture(scope="module")
def dev(link: EmulatorLink) -> Iterator[usb.core.Device]:
    """The module's emulated board as a pyusb device (the only one on its backend), configured."""
    found = list(usb.core.find(find_all=True, backend=LinkBackend([link])))
    assert len(found) == 1
    device = found[0]
    device.set_configuration()
    yield device
    usb.util.dispose_resources(device)


def stats(dev: usb.core.Device) -> dict[str, int]:
    """Every STATS counter of the device (GET_STATS)."""
    raw = dev.ctrl_transfer(c.VENDOR_REQUEST_TYPE_IN, c.Request.GET_STATS, 0, 0, c.STATS.size, T)
    return {k: int(v) for k, v in c.STATS.unpack(bytes(raw)).items() if isinstance(v, int)}

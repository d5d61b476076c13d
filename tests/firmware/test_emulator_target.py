"""The "emulator" target: opened by its --rig string, a pyusb device, describe(), and the console
through the pty that pyserial opens."""

from __future__ import annotations

import time
from pathlib import Path

import serial

from rig import contract as c
from rig.targets.emulator import EmulatorTarget
from rig.targets.factory import make_target
from rig.targets.registry import Feature

from .conftest import need_bridge


def read_until(port: serial.Serial, end: bytes, limit_s: float = 20.0) -> bytes:
    data = b""
    deadline = time.monotonic() + limit_s
    while not data.endswith(end) and time.monotonic() < deadline:
        data += port.read(256)
    return data


def test_emulator_target_serves_usb_and_console(firmware_image: Path) -> None:
    need_bridge()
    with make_target(f"emulator:{firmware_image}") as target:
        assert isinstance(target, EmulatorTarget)
        assert Feature.USB in target.features and Feature.REAL_TIMING not in target.features
        facts = target.describe()
        major, minor, patch = c.FIRMWARE_VERSION
        assert target.link is not None
        assert facts["firmware"] == f"{major}.{minor}.{patch}"
        assert facts["serial"] == target.link.info()["flash"]["uid"]  # read through the model ROM
        dev = target.usb_device()
        dev.set_configuration()
        with serial.Serial(target.console_port(), timeout=0.2) as port:
            port.write(b"version\r\n")
            reply = read_until(port, c.CONSOLE_PROMPT.encode())
        assert reply == f"firmware {major}.{minor}.{patch} contract {c.CONTRACT_VERSION}\r\n> ".encode()

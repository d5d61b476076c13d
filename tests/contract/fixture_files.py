"""Access to fixtures/: paths, the golden-frame manifest, SysEx files split into messages, and the
regenerator module (fixtures/regenerate.py) loaded by path."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

from rig.pytest_plugin.testing import load_module

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def regenerator() -> ModuleType:
    """fixtures/regenerate.py as a module."""
    return load_module(FIXTURES / "regenerate.py", "fixtures_regenerate")


def frame_manifest() -> dict[str, dict[str, int | str]]:
    """fixtures/frames/frames.json: file name -> verdict and header fields."""
    data: dict[str, dict[str, int | str]] = json.loads((FIXTURES / "frames" / "frames.json").read_text())
    return data


def sysex_files() -> list[Path]:
    """Every fixtures/midi/*.syx."""
    return sorted((FIXTURES / "midi").glob("*.syx"))


def sysex_messages(path: Path) -> list[bytes]:
    """The SysEx messages of a .syx file (F0 ... F7 each, back to back); ValueError names a bad file."""
    data = path.read_bytes()
    messages = []
    start = 0
    while start < len(data):
        end = data.find(b"\xF7", start)
        if data[start] != 0xF0 or end < 0:
            raise ValueError(f"{path.name}: byte {start} does not start a whole SysEx message")
        messages.append(data[start:end + 1])
        start = end + 1
    return messages

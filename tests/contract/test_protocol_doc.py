"""docs/protocol.md is generated from the contract: the checked-in file is not stale and covers
every request, mode, layout and console command."""

from __future__ import annotations

from pathlib import Path

from rig import contract as c
from rig.contract.protocol_doc import DOC_PATH, FRAME_MODES, MIDI_MODES, REQUESTS, generate

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_doc_is_not_stale() -> None:
    assert (ROOT / DOC_PATH).read_text() == generate(), (
        f"{DOC_PATH} is stale: run `.venv/bin/python -m rig.contract.protocol_doc > {DOC_PATH}`")


def test_every_request_and_mode_is_described() -> None:
    assert set(REQUESTS) == set(c.Request)
    assert set(MIDI_MODES) == set(c.MidiMode) and set(FRAME_MODES) == set(c.FrameMode)
    text = generate()
    for request in c.Request:
        assert f"| {request.name} | 0x{0xC0 if request.name.startswith('GET') else 0x40:02X} | " \
               f"0x{int(request):02X} |" in text
    for layout in c.LAYOUTS:
        assert f"### `{layout.name}` ({layout.size} bytes)" in text
        for name in layout.names:
            assert f"`{name}`" in text
    for command in c.CONSOLE_COMMANDS:
        assert f"| {command} |" in text

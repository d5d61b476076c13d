"""Conformance, the console's words (issue #15 item 17): words are separated by spaces and tabs only,
no byte edits the line, and an unknown command is shown with every byte outside 0x21..0x7E (and the
backslash and quote) as \\xNN, so a reply never carries control or high bytes.

Clauses checked (each test's docstring names its own): docs/protocol.md, Console."""

from __future__ import annotations

import pytest
import serial

from rig import contract as c

pytestmark = [pytest.mark.needs("console"), pytest.mark.books_unchecked]


def _reply(console: serial.Serial, line: bytes) -> bytes:
    console.reset_input_buffer()
    console.write(b"\r" + line + b"\r")
    reply: bytes = console.read_until(c.CONSOLE_PROMPT.encode())
    return reply


@pytest.mark.parametrize(("line", "name"), [
    (b"ab\x08c", rb"ab\x08c"), (b"x\x01y", rb"x\x01y"), (b"\xffz", rb"\xffz"), (b"it's", rb"it\x27s"),
    (b"a\\b", rb"a\x5cb"), (b"ver\x0bsion", rb"ver\x0bsion"), (b"  bogus\tnow", b"bogus"),
], ids=["backspace", "control", "high", "quote", "backslash", "vertical tab", "spaces and tab"])
def test_unknown_command_is_shown_escaped(console: serial.Serial, line: bytes, name: bytes) -> None:
    """docs/protocol.md, Console: words are separated by spaces and tabs only, no byte edits the line, and an
    unknown command's name shows bytes 0x21..0x7E other than the backslash and quote as they are and every
    other byte as \\xNN (lower-case hex)."""
    assert _reply(console, line) == b"error: unknown command '" + name + b"' (try help)\r\n> "


def test_tab_separates_words(console: serial.Serial) -> None:
    """docs/protocol.md, Console: a tab separates words as a space does (`\\tlog\\toff` is the log command
    with the word off)."""
    assert _reply(console, b"\tlog\toff") == b"log off dropped=0\r\n> "

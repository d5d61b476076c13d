"""Exceptions of the MIDI codecs; each also inherits the built-in a caller would naturally catch."""

from __future__ import annotations


class MidiError(Exception):
    """Base of every error raised by host.midi."""


class MidiValueError(MidiError, ValueError):
    """An argument or a message is out of range or malformed; the message names which and the value."""


class UsbMidiPacketError(MidiError, ValueError):
    """A USB-MIDI event packet (or a transfer of them) is malformed; the message says how and where."""


def check_range(name: str, value: object, low: int, high: int) -> int:
    """Return `value` if it is an int in low..high, else raise MidiValueError naming `name` and the value."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MidiValueError(f"{name} must be an int in {low}..{high}, got {value!r}")
    return int(value)

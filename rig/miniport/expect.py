"""Expect-style MIDI verbs for tests: `send`, `expect` and `receive` on any started MIDI miniport.

What a device maker reaches for instead of polling loops (pytest-embedded's `dut.expect`, pexpect):
messages are bytes, lists of ints or mido messages; what arrives comes back as mido messages; every
wait blocks on the miniport's message queue (a condition variable) until a message or the deadline,
and a failure says what arrived instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import mido

from rig.miniport.capture import CapturedMessage
from rig.miniport.errors import MiniportError, MiniportTimeout
from rig.miniport.graph import Deadline, MxfMiniport

DEFAULT_TIMEOUT_S = 5.0
SHOWN = 8
"""Messages a failure lists (the first ones; the count says how many more)."""

MidiLike = bytes | bytearray | memoryview | Sequence[int] | Any
"""One MIDI message: bytes, a sequence of ints, or anything with mido's `.bytes()`."""


class MidiExpectTimeout(MiniportTimeout, AssertionError):
    """What was expected did not arrive in time; the message lists what arrived instead. Also an
    AssertionError, so pytest reports it as the test's failed expectation."""


class BadMidiMessage(MiniportError, ValueError):
    """A message to send (or one that arrived) that is not MIDI; the message shows it."""


def midi_bytes(message: MidiLike) -> bytes:
    """The wire bytes of `message` (bytes, ints, or a mido message); BadMidiMessage otherwise."""
    if isinstance(message, bytes | bytearray | memoryview):
        data = bytes(message)
    elif hasattr(message, "bytes") and callable(message.bytes):
        data = bytes(message.bytes())
    elif isinstance(message, Sequence) and not isinstance(message, str):
        try:
            data = bytes(message)
        except (TypeError, ValueError) as exc:
            raise BadMidiMessage(f"not MIDI bytes: {message!r} ({exc})") from None
    else:
        raise BadMidiMessage(f"not a MIDI message: {message!r} (give bytes, ints or a mido.Message)")
    if not data or data[0] < 0x80:
        raise BadMidiMessage(f"not a MIDI message: {data.hex(' ')!r} (must start with a status byte)")
    return data


def as_mido(data: bytes) -> Any:
    """`data` as a mido.Message; BadMidiMessage naming the bytes when mido cannot read them."""
    try:
        return mido.Message.from_bytes(data)
    except (ValueError, TypeError) as exc:
        raise BadMidiMessage(f"received bytes that are not one MIDI message: {data.hex(' ')} ({exc})"
                             ) from None


def describe(messages: Sequence[bytes]) -> str:
    """A short list for failure messages: the first SHOWN messages as hex, and how many more."""
    if not messages:
        return "nothing"
    shown = ", ".join(data.hex(" ") for data in messages[:SHOWN])
    more = len(messages) - SHOWN
    return f"{len(messages)} message(s): {shown}" + (f" and {more} more" if more > 0 else "")


Expected = MidiLike | Callable[[Any], bool]


class MidiVerbs:
    """send / expect / receive over a started MxfMiniport (the OS-MIDI or raw USB-MIDI one).

    `expect` skips messages that do not match (kept in `before` until the next expect, as pexpect
    does) and returns the first that does; `receive` returns the next `count` messages, whatever they are.
    """

    def __init__(self, miniport: MxfMiniport, *, name: str | None = None) -> None:
        self.miniport = miniport
        self.name = name or miniport.where
        self.before: list[Any] = []
        """Messages `expect` skipped on its way to the one it returned (mido messages)."""

    def send(self, *messages: MidiLike) -> None:
        """Send each message in order (bytes, lists of ints or mido messages)."""
        self.miniport.send([midi_bytes(message) for message in messages])

    def _next(self, deadline: Deadline) -> CapturedMessage | None:
        got = self.miniport._wait_for_messages(1, deadline)
        return got[0] if got else None

    def receive(self, count: int = 1, timeout: float = DEFAULT_TIMEOUT_S) -> list[Any]:
        """The next `count` messages as mido messages; MidiExpectTimeout listing those that arrived."""
        if count < 0:
            raise ValueError(f"receive: count must be >= 0, not {count}")
        got = self.miniport._wait_for_messages(count, Deadline(timeout))
        if len(got) < count:
            raise MidiExpectTimeout(f"{self.name}: expected {count} message(s) within {timeout:g} s; "
                                    f"arrived {describe([m.data for m in got])}")
        return [as_mido(m.data) for m in got]

    def expect(self, expected: Expected, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        """The first message that equals `expected` (bytes, ints or mido message, compared as wire
        bytes) or satisfies it (a callable taking a mido message); MidiExpectTimeout listing what
        arrived instead when none does within `timeout` seconds."""
        if callable(expected):
            matches: Callable[[bytes], bool] = lambda data: bool(expected(as_mido(data)))  # noqa: E731
            wanted = getattr(expected, "__name__", repr(expected))
        else:
            want = midi_bytes(expected)
            matches = want.__eq__
            wanted = want.hex(" ")
        deadline = Deadline(timeout)
        skipped: list[bytes] = []
        while True:
            message = self._next(deadline)
            if message is None:
                self.before = [as_mido(data) for data in skipped]
                raise MidiExpectTimeout(f"{self.name}: expected {wanted} within {timeout:g} s; arrived "
                                        f"instead {describe(skipped)}")
            if matches(message.data):
                self.before = [as_mido(data) for data in skipped]
                return as_mido(message.data)
            skipped.append(message.data)

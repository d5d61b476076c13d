"""How many messages an RtMidi input holds until our reader takes them, and how to tell it was full.

RtMidi queues what a polled input receives in a ring of `queue_size_limit` slots (one kept free) and
drops what arrives while it is full, with only a line on stderr. python-rtmidi's default, 1024, was
the loss under load in issue #9: a 2,000-note flood reached the host's input while the test's
reader thread was not scheduled, and the notes past the ring's capacity were gone, counted as lost on
the device's path. Every input the rig reads by polling is opened with INPUT_QUEUE_LIMIT (64 Ki
messages, about 2 MiB), larger than any flood the suites send, and its reader keeps a QueueWatch, so
a reader that still falls that far behind is reported as the host's loss, not the device's."""

from __future__ import annotations

INPUT_QUEUE_LIMIT = 1 << 16
"""queue_size_limit for every polled RtMidi input the rig opens."""


class QueueWatch:
    """Counts the times a reader found its RtMidi input's queue full: a run of messages taken without
    the queue ever running empty that is as long as the queue's capacity means the ring was full when
    the run began, and RtMidi drops what arrives then."""

    def __init__(self, limit: int = INPUT_QUEUE_LIMIT) -> None:
        self.capacity = limit - 1  # RtMidi keeps one slot free
        self.run = 0
        self.full = 0
        """Runs that reached the capacity (each a time messages may have been dropped)."""

    def took(self) -> None:
        """A message was taken."""
        self.run += 1
        if self.run == self.capacity:
            self.full += 1

    def empty(self) -> None:
        """The queue was found empty."""
        self.run = 0

    def describe(self) -> str:
        """'' when the queue was never full; otherwise a sentence saying whose loss it is."""
        if not self.full:
            return ""
        return (f"; the host's RtMidi input queue ({self.capacity} messages) was full {self.full} time(s): "
                "the rig's reader fell behind, so messages lost then are the host's loss, not the device's")

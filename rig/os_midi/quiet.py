"""Open python-rtmidi clients without the noise JACK's client library prints on fd 2 while it probes
for a server ("Cannot connect to server socket ..."): the text is kept and shown only on failure."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

_T = TypeVar("_T")
_lock = threading.RLock()
"""Re-entrant: a quiet probe may run inside another quiet call (each restores the fd it replaced)."""


@contextmanager
def captured_stderr() -> Iterator[Callable[[], str]]:
    """Point fd 2 at a temporary file for the block; yields a function returning what was written.

    fd 2 is process-wide, so a lock serialises captures; other threads' stderr text inside the window
    is captured too (and shown when the guarded call fails)."""
    with _lock, tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)

        kept: list[str] = []

        def text() -> str:
            if kept:
                return kept[0]
            tmp.seek(0)
            return tmp.read().decode(errors="replace")

        try:
            yield text
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            kept.append(text())


def quietly(open_client: Callable[[], _T]) -> _T:
    """Call `open_client` (an rtmidi client constructor, a JACK probe) with fd 2 captured; when it raises,
    write the captured text to stderr and re-raise, else drop the text."""
    noise = ""
    try:
        with captured_stderr() as text:
            try:
                return open_client()
            except BaseException:
                noise = text()
                raise
    finally:
        if noise:
            sys.stderr.write(noise)
            sys.stderr.flush()

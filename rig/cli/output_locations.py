"""Checking every place a command will write before it starts work, so an unwritable report or
history directory is one line naming it instead of an OSError after minutes of measuring."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rig.errors import RigError
from rig.file_modes import make_dirs


class OutputUnwritable(RigError, OSError):
    """A directory the command must write into cannot be created or written."""


def writable_dir(path: Path, what: str) -> Path:
    """Create `path` if needed (0755 at most) and prove a file can be written in it; else
    OutputUnwritable naming `what`, the directory and the reason."""
    try:
        make_dirs(path)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".rig-write-check-"):
            pass
    except OSError as exc:
        raise OutputUnwritable(f"{what} {path}: cannot write there ({exc.strerror or exc})") from None
    return path

"""Creating the rig's files and directories with explicit modes, so a permissive umask (000) never
makes a report world-writable: directories 0755, files 0644, private files (the history) 0600."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o755
FILE_MODE = 0o644
PRIVATE_MODE = 0o600


def make_dirs(path: Path, mode: int = DIR_MODE) -> Path:
    """mkdir -p with `mode` on every directory it creates (Path.mkdir(parents=True) gives missing
    parents the umask's default instead)."""
    missing: list[Path] = []
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=mode)
        except FileExistsError:
            continue
        os.chmod(directory, mode)  # the umask may have taken bits away; never adds any beyond `mode`
    return path


def create(path: Path, mode: int = FILE_MODE) -> int:
    """Open `path` for writing, truncated, created with `mode` at most; an existing file keeps no more
    than `mode` either. Returns the file descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, os.fstat(fd).st_mode & mode & 0o777)
    return fd


def write_bytes(path: Path, data: bytes, mode: int = FILE_MODE) -> Path:
    """Write `data` to `path` (created with `mode` at most)."""
    with os.fdopen(create(path, mode), "wb") as f:
        f.write(data)
    return path


def write_text(path: Path, text: str, mode: int = FILE_MODE) -> Path:
    """Write UTF-8 `text` to `path` (created with `mode` at most)."""
    return write_bytes(path, text.encode("utf-8"), mode)


def touch_private(path: Path) -> Path:
    """Create `path` empty with PRIVATE_MODE unless it exists (the history database before SQLite
    opens it, so it is never readable by others)."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))
    return path

"""Where something happened, for the checked allocators of host.mxf and host.avstream: the caller's
innermost frames, captured cheaply at the time (a few attribute reads) and formatted only when a
leak or misuse is reported."""

from __future__ import annotations

import linecache
import sys
from types import CodeType, FrameType

_STACK_LIMIT = 8


class Where:
    """Where something happened: the caller's innermost frames, captured cheaply, formatted on demand."""

    __slots__ = ("_frames",)

    def __init__(self, skip: int = 2) -> None:
        frames: list[tuple[CodeType, int]] = []
        frame: FrameType | None = sys._getframe(skip)
        while frame is not None and len(frames) < _STACK_LIMIT:
            frames.append((frame.f_code, frame.f_lasti))  # f_lineno costs a table walk: done in __str__
            frame = frame.f_back
        frames.reverse()
        self._frames = frames

    def __str__(self) -> str:
        lines = []
        for code, lasti in self._frames:
            lineno = _line_of(code, lasti)
            lines.append(f'  File "{code.co_filename}", line {lineno}, in {code.co_name}')
            source = linecache.getline(code.co_filename, lineno).strip() if lineno else ""
            if source:
                lines.append(f"    {source}")
        return "\n".join(lines)


def _line_of(code: CodeType, lasti: int) -> int:
    """The source line of the instruction at byte offset `lasti` (what frame.f_lineno would say)."""
    for start, end, line in code.co_lines():
        if start <= lasti < end and line is not None:
            return line
    return code.co_firstlineno


__all__ = ["Where"]

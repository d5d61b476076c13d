"""The one exception the checks raise: descriptor bytes too malformed to walk at all."""

from __future__ import annotations

from rig.errors import RigError


class DescriptorParseError(RigError, ValueError):
    """Descriptor bytes that cannot be walked (too short, a bLength below 2 or past the end, a
    standard descriptor shorter than its fixed fields); the message names the offset and field."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset

"""Releasable: the `with` protocol of what the rig hands out until `release()` (a frame stream claim,
a received frame), written once."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Releasable(ABC):
    """Held until `release()`; a `with` block releases it at its end, also after an error."""

    __slots__ = ()

    @abstractmethod
    def release(self) -> None:
        """Give it back; safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

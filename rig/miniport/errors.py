"""Exceptions of the rig's miniports; each names the board and endpoint and inherits the built-in a
caller would naturally catch (as python-rtmidi's errors do)."""

from __future__ import annotations

from host.ks.errors import PoolExhausted as KsPoolExhausted
from rig.errors import RigError


class MiniportError(RigError, RuntimeError):
    """Base of every miniport error; the message names the board, pin or endpoint and what happened."""


class MiniportTimeout(MiniportError, TimeoutError):
    """A transfer did not complete in time; the data it carried is still accounted for (queued)."""


class PoolExhausted(MiniportError, KsPoolExhausted):
    """No free frame or event in a pool (the caller still holds them, or the device stalled): the
    kernel-streaming models' PoolExhausted, named for the miniport's board and pin."""


class DeviceGarbage(MiniportError, ValueError):
    """The device answered with bytes that break the contract (bad header, CRC, length, packets)."""


class PinStateError(MiniportError, ValueError):
    """A pin was used in a state that does not allow it (e.g. receive while stopped)."""

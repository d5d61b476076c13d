"""The rig's miniports: they connect the host-side models (host.mxf graph, host.avstream pins and
allocators) to the transports (pyusb endpoints, python-rtmidi ports)."""

from rig.miniport.errors import (
    DeviceGarbage,
    MiniportError,
    MiniportTimeout,
    PinStateError,
    PoolExhausted,
)

__all__ = ["DeviceGarbage", "MiniportError", "MiniportTimeout", "PinStateError", "PoolExhausted"]

"""IMXF: the interface every MXF filter and the allocator implement, and its naming convention
(the filters' common base, MxfFilter, is in host.mxf.filter).

Convention: the primary names are snake case (`set_state`, `put_message`, `connect_output`,
`disconnect_output`, and on the allocator `get_message`, `get_buffer`, `get_buffer_size`,
`put_buffer`). The interface's own names (`SetState`, `PutMessage`, `ConnectOutput`,
`DisconnectOutput`, `GetMessage`, `GetBuffer`, `GetBufferSize`, `PutBuffer`) are aliases bound at
class creation to whatever the class defines, so an override is reached by either name at no cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from host.ks.state import KsState
from host.ks.status import NtStatus

if TYPE_CHECKING:
    from host.mxf.event import KernelEvent

CAMEL_ALIASES: dict[str, str] = {
    "SetState": "set_state",
    "PutMessage": "put_message",
    "ConnectOutput": "connect_output",
    "DisconnectOutput": "disconnect_output",
    "GetMessage": "get_message",
    "GetBuffer": "get_buffer",
    "GetBufferSize": "get_buffer_size",
    "PutBuffer": "put_buffer",
}
"""Interface name -> Python name; `bind_camel_aliases` makes each an alias of the other."""


def bind_camel_aliases(cls: type) -> None:
    """Point every interface-named method of `cls` at its snake-case implementation."""
    for camel, snake in CAMEL_ALIASES.items():
        impl = getattr(cls, snake, None)
        if impl is not None and camel not in cls.__dict__:
            setattr(cls, camel, impl)


@runtime_checkable
class IMXF(Protocol):
    """What a sink must offer: the IMXF methods (snake-case names; camelCase aliases exist too)."""

    def set_state(self, state: KsState) -> NtStatus:
        """IMXF::SetState."""
        ...

    def put_message(self, evt: KernelEvent | None) -> NtStatus:
        """IMXF::PutMessage."""
        ...

    def connect_output(self, sink: IMXF | None) -> NtStatus:
        """IMXF::ConnectOutput."""
        ...

    def disconnect_output(self, sink: IMXF | None) -> NtStatus:
        """IMXF::DisconnectOutput."""
        ...

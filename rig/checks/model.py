"""The descriptor model the checks read: device, configuration, interface alternate settings, IADs and
endpoints with their fields, and class-specific descriptors kept raw with the descriptor that owns them.

Every descriptor remembers its byte offset in what the device returned, so a finding (and a test
that mutates one field) can name exactly where it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Descriptor types: USB 2.0 table 9-5, the IAD ECN and USB Audio 1.0 table A-4, from one place.
from rig.contract.ch9 import DT_CONFIGURATION as DT_CONFIGURATION
from rig.contract.ch9 import DT_CS_ENDPOINT as DT_CS_ENDPOINT
from rig.contract.ch9 import DT_CS_INTERFACE as DT_CS_INTERFACE
from rig.contract.ch9 import DT_DEVICE as DT_DEVICE
from rig.contract.ch9 import DT_DEVICE_QUALIFIER as DT_DEVICE_QUALIFIER
from rig.contract.ch9 import DT_ENDPOINT as DT_ENDPOINT
from rig.contract.ch9 import DT_INTERFACE as DT_INTERFACE
from rig.contract.ch9 import DT_INTERFACE_ASSOCIATION as DT_INTERFACE_ASSOCIATION
from rig.contract.ch9 import DT_OTHER_SPEED_CONFIGURATION as DT_OTHER_SPEED_CONFIGURATION
from rig.contract.ch9 import DT_STRING as DT_STRING
from rig.contract.ch9 import ConfigurationFields, DeviceFields, EndpointFields, InterfaceFields

# Endpoint transfer types (bmAttributes bits 1..0, USB 2.0 table 9-13).
TT_CONTROL, TT_ISOCHRONOUS, TT_BULK, TT_INTERRUPT = 0, 1, 2, 3
TRANSFER_TYPE_NAMES = {TT_CONTROL: "control", TT_ISOCHRONOUS: "isochronous", TT_BULK: "bulk",
                       TT_INTERRUPT: "interrupt"}


@dataclass(frozen=True)
class RawDescriptor:
    """A descriptor as bytes (bLength of them) at `offset` in the returned data."""

    offset: int
    data: bytes

    @property
    def length(self) -> int:
        """bLength."""
        return self.data[0]

    @property
    def dtype(self) -> int:
        """bDescriptorType."""
        return self.data[1]

    @property
    def subtype(self) -> int | None:
        """bDescriptorSubtype of a class-specific descriptor (None when it has no third byte)."""
        return self.data[2] if len(self.data) > 2 else None


@dataclass
class _Raw:
    """The bytes a descriptor was parsed from (a first field: it comes before the standard ones)."""

    raw: bytes


@dataclass
class _Offset:
    """Where a descriptor stood in its configuration (a first field, as _Raw)."""

    offset: int


@dataclass
class DeviceDescriptor(DeviceFields, _Raw):
    """The standard device descriptor (USB 2.0 table 9-8) and the bytes it came from (`raw`, the first
    field; the standard fields follow in table order)."""


@dataclass
class Endpoint(EndpointFields, _Offset):
    """A standard endpoint descriptor (7 bytes, or the 9-byte audio-class form), where it stood in the
    configuration (`offset`, the first field), and the class-specific descriptors that follow it
    (`extra`)."""

    extra: list[RawDescriptor] = field(default_factory=list)

    @property
    def is_in(self) -> bool:
        """Direction bit 7 of bEndpointAddress: IN (device to host)."""
        return bool(self.bEndpointAddress & 0x80)

    @property
    def transfer_type(self) -> int:
        """bmAttributes bits 1..0."""
        return self.bmAttributes & 0x03

    @property
    def type_name(self) -> str:
        """The transfer type as a word, for messages."""
        return TRANSFER_TYPE_NAMES[self.transfer_type]


@dataclass
class AltSetting(InterfaceFields, _Offset):
    """One interface descriptor (an alternate setting), where it stood (`offset`, the first field),
    its endpoints and its class-specific descriptors (`extra`, those between it and its first
    endpoint)."""

    endpoints: list[Endpoint] = field(default_factory=list)
    extra: list[RawDescriptor] = field(default_factory=list)

    @property
    def name(self) -> str:
        """"interface N alt A", for messages."""
        return f"interface {self.bInterfaceNumber} alt {self.bAlternateSetting}"


@dataclass(frozen=True)
class InterfaceAssociation:
    """An interface association descriptor (IAD ECN table 9-Z)."""

    offset: int
    bLength: int
    bFirstInterface: int
    bInterfaceCount: int
    bFunctionClass: int
    bFunctionSubClass: int
    bFunctionProtocol: int
    iFunction: int


@dataclass
class Configuration(ConfigurationFields, _Raw):
    """A configuration descriptor with everything wTotalLength covers, in the order returned.

    `returned` is how many bytes the device sent (the checks compare it with wTotalLength);
    `extra` holds descriptors before the first interface other than IADs; `stray` holds standard
    descriptors found where none belongs (an endpoint before any interface)."""

    alt_settings: list[AltSetting] = field(default_factory=list)
    iads: list[InterfaceAssociation] = field(default_factory=list)
    extra: list[RawDescriptor] = field(default_factory=list)
    stray: list[RawDescriptor] = field(default_factory=list)
    order: list[RawDescriptor] = field(default_factory=list)
    """Every descriptor after the configuration header, in order (for placement checks)."""

    @property
    def returned(self) -> int:
        """Bytes the device returned."""
        return len(self.raw)

    def interface_numbers(self) -> list[int]:
        """The distinct bInterfaceNumber values, sorted."""
        return sorted({alt.bInterfaceNumber for alt in self.alt_settings})

    def alt_zero(self) -> list[AltSetting]:
        """The first alternate setting 0 of each interface (what is active after SET_CONFIGURATION)."""
        seen: dict[int, AltSetting] = {}
        for alt in self.alt_settings:
            if alt.bAlternateSetting == 0 and alt.bInterfaceNumber not in seen:
                seen[alt.bInterfaceNumber] = alt
        return list(seen.values())

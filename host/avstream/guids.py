"""Memory-type and bus-type GUIDs that KS_FRAMING_ITEM.MemoryType / .BusType carry.

Memory types are as cited in kernel-streaming.md B1 (ks.h, learn.microsoft.com
ns-ks-ks_framing_item). Bus types are the wdmguid.h GUID_BUS_TYPE_* values: the KS_FRAMING_ITEM
page lists GUID_BUS_TYPE_PCI/USB/1394/AVC by name only; the values below were taken from public
listings generated from the Windows SDK metadata (win32metadata-derived bindings of wdmguid.h) and
agree with at least two independent public tables each (a bus-type name map in a device tool and a
VB constant table). They were not checked against the SDK header itself.
"""

from __future__ import annotations

import uuid

GUID_NULL = uuid.UUID(int=0)

KSMEMORY_TYPE_WILDCARD = GUID_NULL
"""Any memory type (also KSMEMORY_TYPE_DONT_CARE / KSTYPE_DONT_CARE)."""
KSMEMORY_TYPE_DONT_CARE = GUID_NULL
KSMEMORY_TYPE_SYSTEM = uuid.UUID("091bb638-603f-11d1-b067-00a0c9062802")
KSMEMORY_TYPE_USER = uuid.UUID("8cb0fc28-7893-11d1-b069-00a0c9062802")
KSMEMORY_TYPE_KERNEL_PAGED = uuid.UUID("d833f8f8-7894-11d1-b069-00a0c9062802")
KSMEMORY_TYPE_KERNEL_NONPAGED = uuid.UUID("4a6d5fc4-7895-11d1-b069-00a0c9062802")
KSMEMORY_TYPE_DEVICE_UNKNOWN = uuid.UUID("091bb639-603f-11d1-b067-00a0c9062802")

MEMORY_TYPE_NAMES: dict[uuid.UUID, str] = {
    KSMEMORY_TYPE_WILDCARD: "WILDCARD",
    KSMEMORY_TYPE_SYSTEM: "SYSTEM",
    KSMEMORY_TYPE_USER: "USER",
    KSMEMORY_TYPE_KERNEL_PAGED: "KERNEL_PAGED",
    KSMEMORY_TYPE_KERNEL_NONPAGED: "KERNEL_NONPAGED",
    KSMEMORY_TYPE_DEVICE_UNKNOWN: "DEVICE_UNKNOWN",
}
"""Readable names for the memory types (for reasons and error messages)."""

SYSTEM_MEMORY_TYPES = frozenset(
    {KSMEMORY_TYPE_SYSTEM, KSMEMORY_TYPE_KERNEL_PAGED, KSMEMORY_TYPE_KERNEL_NONPAGED})
"""Memory types that are system memory (REQUIREMENTF_SYSTEM_MEMORY is satisfied by these)."""
KERNEL_MEMORY_TYPES = frozenset({KSMEMORY_TYPE_KERNEL_PAGED, KSMEMORY_TYPE_KERNEL_NONPAGED})
"""Kernel memory: "cannot be passed to a user-mode filter" (B2)."""

# wdmguid.h (see the module docstring for provenance).
GUID_BUS_TYPE_PCI = uuid.UUID("c8ebdfb0-b510-11d0-80e5-00a0c92542e3")
GUID_BUS_TYPE_USB = uuid.UUID("9d7debbc-c85d-11d1-9eb4-006008c3a19a")
GUID_BUS_TYPE_1394 = uuid.UUID("f74e73eb-9ac5-45eb-be4d-772cc71ddfb3")
GUID_BUS_TYPE_AVC = uuid.UUID("c06ff265-ae09-48f0-812c-16753d7cba83")
GUID_61883_CLASS = uuid.UUID("7ebefbc0-3200-11d2-b4c2-00a0c9697d07")
"""The 61883 protocol bus: the KS_FRAMING_ITEM page lists it among the BusType values. Its value is
the device interface class GUID of the public "GUID_61883_CLASS" page, as the SDK-metadata bindings
(DEFINE_GUID in the public headers) give it."""

BUS_TYPE_NAMES: dict[uuid.UUID, str] = {
    GUID_NULL: "ANY",
    GUID_BUS_TYPE_PCI: "PCI",
    GUID_BUS_TYPE_USB: "USB",
    GUID_BUS_TYPE_1394: "1394",
    GUID_BUS_TYPE_AVC: "AVC",
    GUID_61883_CLASS: "61883",
}
"""Readable names for the bus types; GUID_NULL means no bus requirement."""


def memory_type_name(guid: uuid.UUID) -> str:
    """A readable name for a memory-type GUID (the GUID itself when unknown)."""
    return MEMORY_TYPE_NAMES.get(guid, str(guid))


def bus_type_name(guid: uuid.UUID) -> str:
    """A readable name for a bus-type GUID (the GUID itself when unknown)."""
    return BUS_TYPE_NAMES.get(guid, str(guid))

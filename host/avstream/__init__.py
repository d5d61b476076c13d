"""host.avstream: a model of Windows AVStream framing, allocators, allocator selection and stream
pointers (semantics: kernel-streaming.md Part B). Pure Python, no I/O, clocks injected."""

from host.avstream.errors import (
    AllocatorError,
    AllocatorInitError,
    AllocatorMisuse,
    AvStreamError,
    FrameLeak,
    FramingError,
    ProcessingStalled,
    SelectionError,
    StateTransitionError,
    StreamPointerError,
)
from host.avstream.framing import (
    DONT_CARE_RANGE,
    HEADER_SIZE,
    ITEM_SIZE,
    AllocatorFlag,
    AllocatorFramingEx,
    AllocatorOption,
    AllocatorRequirement,
    Compression,
    FileAlignment,
    FramingItem,
    FramingRange,
    FramingRangeWeighted,
    is_alignment_mask,
    simple_framing,
)
from host.avstream.framing_property import PropertyResult, get_allocator_framing_ex
from host.avstream.guids import (
    GUID_BUS_TYPE_1394,
    GUID_BUS_TYPE_AVC,
    GUID_BUS_TYPE_PCI,
    GUID_BUS_TYPE_USB,
    GUID_NULL,
    KSMEMORY_TYPE_DEVICE_UNKNOWN,
    KSMEMORY_TYPE_DONT_CARE,
    KSMEMORY_TYPE_KERNEL_NONPAGED,
    KSMEMORY_TYPE_KERNEL_PAGED,
    KSMEMORY_TYPE_SYSTEM,
    KSMEMORY_TYPE_USER,
    KSMEMORY_TYPE_WILDCARD,
    bus_type_name,
    memory_type_name,
)
from host.avstream.status import Status

__all__ = [
    "DONT_CARE_RANGE", "GUID_BUS_TYPE_1394", "GUID_BUS_TYPE_AVC", "GUID_BUS_TYPE_PCI", "GUID_BUS_TYPE_USB",
    "GUID_NULL", "HEADER_SIZE", "ITEM_SIZE", "KSMEMORY_TYPE_DEVICE_UNKNOWN", "KSMEMORY_TYPE_DONT_CARE",
    "KSMEMORY_TYPE_KERNEL_NONPAGED", "KSMEMORY_TYPE_KERNEL_PAGED", "KSMEMORY_TYPE_SYSTEM",
    "KSMEMORY_TYPE_USER", "KSMEMORY_TYPE_WILDCARD", "AllocatorError", "AllocatorFlag", "AllocatorFramingEx",
    "AllocatorInitError", "AllocatorMisuse", "AllocatorOption", "AllocatorRequirement", "AvStreamError",
    "Compression", "FileAlignment", "FrameLeak", "FramingError", "FramingItem", "FramingRange",
    "FramingRangeWeighted", "ProcessingStalled", "PropertyResult", "SelectionError", "StateTransitionError",
    "Status", "StreamPointerError", "bus_type_name", "get_allocator_framing_ex", "is_alignment_mask",
    "memory_type_name", "simple_framing",
]

"""new_allocator(): the one place that chooses which IAllocatorMXF class to build.

The classes never import each other downwards (AllocatorMXF knows nothing of CheckedAllocatorMXF);
as pyserial's serial_for_url picks a Serial class, this function picks CheckedAllocatorMXF when
asked for `checked=True` or inside a `tracking()` block, and the fast AllocatorMXF otherwise.
"""

from __future__ import annotations

from host.mxf.allocator import (
    DEFAULT_BUFFER_COUNT,
    DEFAULT_BUFFER_SIZE,
    DEFAULT_POOL_SIZE,
    AllocatorMXF,
    OnExhaustion,
    PackageRule,
    tracking_active,
)
from host.mxf.allocator_checked import CheckedAllocatorMXF


def new_allocator(
    pool_size: int = DEFAULT_POOL_SIZE,
    *,
    buffer_size: int = DEFAULT_BUFFER_SIZE,
    buffer_count: int = DEFAULT_BUFFER_COUNT,
    pointer_size: int = 8,
    checked: bool = False,
    on_exhaustion: OnExhaustion = "status",
    name: str = "allocator",
    package_rule: PackageRule = "flag",
) -> AllocatorMXF:
    """An allocator with AllocatorMXF's arguments: checked (CheckedAllocatorMXF) when `checked` is
    true or a tracking() block is open, so allocators built deep inside a miniport are checked too."""
    cls = CheckedAllocatorMXF if checked or tracking_active() else AllocatorMXF
    return cls(pool_size, buffer_size=buffer_size, buffer_count=buffer_count, pointer_size=pointer_size,
               on_exhaustion=on_exhaustion, name=name, package_rule=package_rule)


__all__ = ["new_allocator"]

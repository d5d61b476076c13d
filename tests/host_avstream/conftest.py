"""Every test runs its allocators in checked mode and fails when any of them leaked a frame."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from host.avstream.allocators import AllocatorDispatch, tracking


@pytest.fixture(autouse=True)
def checked_allocators() -> Iterator[list[AllocatorDispatch]]:
    """Allocators created during the test are checked; at the end none may hold outstanding frames."""
    with tracking() as created:
        yield created
    leaks = {a.name: [f.index for f in a.leaked_frames()] for a in created if a.leaked_frames()}
    assert not leaks, f"frames leaked (allocator: frame indices): {leaks}"

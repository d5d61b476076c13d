"""Device-agnostic conformance checks, judged by USB 2.0 chapter 9 and USB-MIDI 1.0 alone.

Pure: parsers and check functions over bytes, no I/O and nothing of our board's (no vendor requests,
no contract constants), so the same checks judge any USB-MIDI device. Every check returns
`Finding`s that cite the spec clause they enforce; an empty list of errors means conformant.
"""

from __future__ import annotations

from rig.checks.errors import DescriptorParseError
from rig.checks.findings import Finding, Severity, errors

__all__ = ["DescriptorParseError", "Finding", "Severity", "errors"]

"""Build the target a --rig string names: import the module of its kind (only when asked for, so a
machine without libusb or JACK can still use the others) and call the factory it registered, as
pyserial's serial_for_url() picks a class by URL scheme."""

from __future__ import annotations

import importlib

from rig.errors import UnknownTargetError
from rig.targets.registry import KINDS, Target, TargetSpec, registered


def make_target(text: str) -> Target:
    """Build (not open) the target a --rig string names."""
    spec = TargetSpec.parse(text)
    module = KINDS.get(spec.kind)
    if module is None:
        raise UnknownTargetError(f"unknown target {text!r}; expected one of {', '.join(KINDS)}")
    importlib.import_module(module)
    factory = registered(spec.kind)
    if factory is None:
        raise UnknownTargetError(f"module {module} registered no target of kind {spec.kind!r}")
    return factory(spec)

"""The honest-skip rule in one place: a test that needs something CI can provide (JACK, the emulator,
the firmware build, node) FAILS when it is missing under CI (CI=true, 1 or yes) and skips with the
reason elsewhere. Hardware-only tests (@pytest.mark.hardware) are not for this helper: CI has no
board, so the rig pytest plugin keeps those as skips.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Mapping
from types import ModuleType
from typing import NoReturn

import pytest

CI_VALUES = frozenset({"true", "1", "yes"})


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True when the environment (default: os.environ) says this is CI: CI=true, 1 or yes."""
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() in CI_VALUES


def missing(reason: str) -> NoReturn:
    """Something the test needs is absent: pytest.fail under CI, pytest.skip with `reason` elsewhere
    (also at module level, where it skips or fails the whole module)."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: CI must provide this, so a missing one is a failure, not a skip)",
                    pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require(condition: object, reason: str) -> None:
    """Go on when `condition` is true; else `missing(reason)` (fail in CI, skip elsewhere)."""
    if not condition:
        missing(reason)


def require_program(name: str, hint: str) -> str:
    """The path of executable `name`, or missing() naming it and how to install it."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed ({hint})")
    return path


def require_module(name: str, hint: str) -> ModuleType:
    """Import module `name` (what pytest.importorskip does), or missing() naming it and `hint`."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"Python module {name} cannot be imported ({exc}; {hint})")


__all__ = ["in_ci", "missing", "require", "require_module", "require_program"]

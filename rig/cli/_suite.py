"""Where the conformance suite lives and how a nested pytest run loads the rig plugin."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from rig.errors import RigError, UnknownTargetError
from rig.targets.registry import KINDS, TargetSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
SUITE_DIR = REPO_ROOT / "tests" / "conformance"
PLUGIN = "rig.pytest_plugin"


class SuiteMissing(RigError, FileNotFoundError):
    """The conformance suite is not where this checkout keeps it."""


def suite_dir(override: str | None = None) -> Path:
    """The test directory to run: `override`, else the checkout's tests/conformance."""
    path = Path(override) if override else SUITE_DIR
    if not path.exists():
        raise SuiteMissing(f"test suite {path} not found (rig test/run need a source checkout: "
                           f"pip install -e . from the repository)")
    return path


def suite_args(override: str | None = None) -> list[str]:
    """The suite directory and `--confcutdir` on it: a user's run loads the suite's conftest files only,
    not tests/conftest.py (which points HOME and the history at a temporary directory for the rig's
    own test session)."""
    path = str(suite_dir(override))
    return [path, "--confcutdir", path]


def valid_spec(text: str) -> str:
    """The normalised --rig value; UnknownTargetError (one line) when it names no kind of target."""
    spec = TargetSpec.parse(text)
    if spec.kind not in KINDS:
        raise UnknownTargetError(f"unknown target {text!r}; expected one of {', '.join(KINDS)}")
    return str(spec)


def plugin_args() -> list[str]:
    """`-p rig.pytest_plugin`, unless an installed pytest11 entry point already loads it."""
    for entry in metadata.entry_points(group="pytest11"):
        if entry.value == PLUGIN:
            return []
    return ["-p", PLUGIN]

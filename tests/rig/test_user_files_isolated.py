"""Tests never touch the user's files: the whole session (and every subprocess it starts) sees HOME,
the XDG directories and RIG_HISTORY inside one temporary directory (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_history_and_home_resolve_inside_the_session_tmp_dir(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.getbasetemp().resolve()
    code = ("import pathlib; from rig.measure.history import default_path; "
            "print(default_path()); print(pathlib.Path.home())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          timeout=60)
    history, home = (Path(line).resolve() for line in done.stdout.split())
    for path in (history, home):
        assert path.is_relative_to(base), f"{path} is outside the session's temporary directory {base}"
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        assert Path(os.environ[name]).resolve().is_relative_to(base), name


def test_a_users_suite_run_does_not_load_the_test_sessions_isolation() -> None:
    """`rig run` / `rig test` stop conftest discovery at the suite directory (--confcutdir)."""
    from rig.cli._suite import suite_args

    path, option, cut = suite_args()
    assert option == "--confcutdir" and cut == path and Path(path).name == "conformance"

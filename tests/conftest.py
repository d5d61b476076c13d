"""Session-wide: tests never touch the user's files. HOME, the XDG directories and RIG_HISTORY point
into one temporary directory for the whole session, and subprocesses inherit them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

USER_DIRS = {"XDG_DATA_HOME": ".local/share", "XDG_CONFIG_HOME": ".config", "XDG_CACHE_HOME": ".cache",
             "XDG_STATE_HOME": ".local/state"}


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point HOME, XDG_*_HOME and RIG_HISTORY at a fresh session directory (restored afterwards)."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        for name, relative in USER_DIRS.items():
            (home / relative).mkdir(parents=True, exist_ok=True)
            patch.setenv(name, str(home / relative))
        patch.setenv("RIG_HISTORY", str(home / ".local/share/rig/history.sqlite"))
        yield

"""Session-wide: tests never touch the user's files. HOME, the XDG directories and RIG_HISTORY point
into one temporary directory for the whole session, and subprocesses inherit them."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

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


# --- where the wall time goes -------------------------------------------------------------------
# Per test (setup + call + teardown): wall time and this process's CPU time (every thread). Wall
# far above CPU means the test waits (timeouts, sleeps, another process). The terminal summary
# prints the totals and the files that wait longest, so a slow-down shows in every CI log;
# --wall-json FILE keeps every test's figures for before/after comparisons.

_WALL_CPU: dict[str, tuple[float, float]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--wall-json", metavar="FILE", default=None,
                     help="write each test's wall and CPU seconds (setup+call+teardown) to FILE as JSON")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Time one test's whole protocol, wall and process CPU."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    _WALL_CPU[item.nodeid] = (time.perf_counter() - wall, time.process_time() - cpu)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print total wall vs CPU and the ten files with the most wall time; write --wall-json."""
    if not _WALL_CPU:
        return
    path = config.getoption("--wall-json")
    if path:
        Path(path).write_text(json.dumps(_WALL_CPU, indent=0, sort_keys=True))
    per_file: dict[str, list[float]] = {}
    for nodeid, (wall, cpu) in _WALL_CPU.items():
        sums = per_file.setdefault(nodeid.split("::")[0], [0.0, 0.0, 0])
        sums[0] += wall
        sums[1] += cpu
        sums[2] += 1
    wall_total = sum(w for w, _ in _WALL_CPU.values())
    cpu_total = sum(c for _, c in _WALL_CPU.values())
    terminalreporter.section("wall time vs CPU (setup+call+teardown)")
    terminalreporter.write_line(f"{len(_WALL_CPU)} tests: {wall_total:.1f} s wall, {cpu_total:.1f} s CPU "
                                f"in this process ({100 * (1 - cpu_total / wall_total):.0f} % waiting)")
    for name, (wall, cpu, count) in sorted(per_file.items(), key=lambda kv: -kv[1][0])[:10]:
        terminalreporter.write_line(f"{wall:8.1f} s wall {cpu:7.1f} s CPU {int(count):5d} tests  {name}")


OUTER_SESSION = "RIG_OUTER_PYTEST"
"""The pid of the outermost pytest session; sessions the tests start inherit it and are not judged
by the no-skip rule below (some of them skip on purpose, e.g. a board suite on a foreign device)."""


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault(OUTER_SESSION, str(os.getpid()))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI nothing CI can run may be skipped: a skip fails the outermost session, naming the count
    (the skip reasons are in the -ra summary)."""
    if os.environ.get("CI") != "true" or os.environ.get(OUTER_SESSION) != str(os.getpid()):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = len(reporter.stats.get("skipped", []))
    if skipped and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter.write_line("")
        reporter.write_line(f"CI: {skipped} test(s) skipped, and in CI nothing may be skipped "
                            f"(see the SKIPPED lines)", red=True, bold=True)

"""Session-wide: Ctrl-C reaches the processes tests start, and tests never touch the user's files:
HOME, the XDG directories, RIG_HISTORY and RIG_LOCK_DIR point into one temporary directory for the
whole session (one per xdist worker), and subprocesses inherit them; they do not inherit an xdist
worker's identity (PYTEST_XDIST_*), so a pytest a test starts is a session of its own."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import resource
import signal
import sys
import time
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from rig.os_midi.system import MidiSystem

USER_DIRS = {"XDG_DATA_HOME": ".local/share", "XDG_CONFIG_HOME": ".config", "XDG_CACHE_HOME": ".cache",
             "XDG_STATE_HOME": ".local/state"}
XDIST_WORKER_ENV = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")
"""What pytest-xdist exports in a worker: a pytest run inside a test must not look like that worker."""


def _ctrl_c_reaches_subprocesses() -> None:
    """SIGINT handled as a terminal's Ctrl-C: a session started with it ignored (a background job of
    a non-interactive shell) would pass that on to every process it starts, and Python then installs
    no KeyboardInterrupt handler, so the tests that press Ctrl-C on a `rig` subprocess waited forever
    (seen: a fresh-clone run started with `... &` sat in tests/cli/test_latency_interrupt.py)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point HOME, XDG_*_HOME, RIG_HISTORY and (unless set) RIG_LOCK_DIR at a fresh session directory
    and drop PYTEST_XDIST_* (restored afterwards)."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        for name, relative in USER_DIRS.items():
            (home / relative).mkdir(parents=True, exist_ok=True)
            patch.setenv(name, str(home / relative))
        patch.setenv("RIG_HISTORY", str(home / ".local/share/rig/history.sqlite"))
        if "RIG_LOCK_DIR" not in os.environ:  # target leases: this session's own, unless a pytest
            patch.setenv("RIG_LOCK_DIR", str(home / "rig-locks"))  # that started this one chose them
        for name in XDIST_WORKER_ENV:
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session", autouse=True)
def process_midi_system(pytestconfig: pytest.Config, _isolated_user_files: None) -> MidiSystem | None:
    """This test process's MIDI system, opened before any test: where a target would start a JACK
    server, it is started now and stopped at unconfigure (after the plugin closes its targets at
    session finish). Every target and in-process pytest session of the process shares it. None when
    there is no MIDI system (a target then says why when a test needs it).

    libjack talks to one server per process, and a server started after another one stopped confuses
    it (ports "do not exist", segfaults closing clients). A serial run happened to keep one server from
    its first target to the end; an xdist worker may start with a file whose in-process sessions open
    and close targets of their own, so each process now holds its server from start to end."""
    from rig.os_midi.jack import JackError, jack_mode, jack_period
    from rig.os_midi.system import OsMidiUnavailable, open_midi_system

    try:
        system = open_midi_system(jack_mode(), jack_period())
    except (OsMidiUnavailable, JackError, ValueError):
        return None
    pytestconfig.add_cleanup(system.close)
    return system


# --- hypothesis on a loaded machine ---------------------------------------------------------------
# Property tests judge what the code does, not how fast: hypothesis's 200 ms deadline per example and
# its too-slow health check turned a loaded 2-core machine (xdist workers beside other jobs) into
# failures ("test_decode_never_crashes_on_garbage" seen so). Several tests already said so one by one.
# The profile is loaded the moment hypothesis is first imported, before any module's `@settings(...)`
# (which copies the profile active when it is made); importing hypothesis here cost every pytest
# session the tests start 0.13 s CPU, and most of them never use it.


def _load_rig_profile(hypothesis: ModuleType) -> None:
    hypothesis.settings.register_profile("rig", deadline=None,
                                         suppress_health_check=[hypothesis.HealthCheck.too_slow])
    hypothesis.settings.load_profile("rig")


class _ThenLoadProfile(importlib.abc.Loader):
    """hypothesis's own loader, loading the "rig" profile once hypothesis has executed."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:  # get_source, get_resource_reader...: hypothesis's loader's
        return getattr(self._loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _load_rig_profile(module)


class _ProfileOnImport(importlib.abc.MetaPathFinder):
    """Finds hypothesis (once) through the other finders and wraps its loader in _ThenLoadProfile."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "hypothesis":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenLoadProfile(spec.loader)
        return spec


if "hypothesis" in sys.modules:  # imported already (by a plugin): load the profile now
    _load_rig_profile(sys.modules["hypothesis"])
else:
    sys.meta_path.insert(0, _ProfileOnImport())


def _drop_idle_hypothesis_plugin(session: pytest.Session) -> None:
    """A session that never imported hypothesis ran no hypothesis test: hypothesis's pytest plugin has
    nothing to say, and its terminal summary would import hypothesis only to find that out."""
    if "hypothesis" not in sys.modules:
        plugin = session.config.pluginmanager.get_plugin("hypothesispytest")
        if plugin is not None:
            session.config.pluginmanager.unregister(plugin)


# --- the longest files first ----------------------------------------------------------------------
SLOW_FILES = ("tests/pool/test_labgrid", "tests/pool/test_pool_xdist.py", "tests/cli/test_main.py",
              "tests/differential/", "tests/rig/test_foreign_device_suites.py", "tests/cli/test_suites.py",
              "tests/measure/test_cli.py", "tests/plugin/test_plugin_capture.py")
"""Files whose tests wait longest (the top of the wall-time summary below). They run first, so that
under xdist (`make test`: whole files per worker) they overlap the many short files
instead of ending the run alone; the order within a file, and of every other file, stays as collected."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the SLOW_FILES' tests to the front, in SLOW_FILES' order (the same on every xdist worker)."""
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return next((i for i, slow in enumerate(SLOW_FILES) if path.startswith(slow)), len(SLOW_FILES))
    items.sort(key=rank)


# --- where the wall time goes -------------------------------------------------------------------
# Per test (setup + call + teardown): wall time and the CPU time of the process that ran it (every
# thread). Wall far above CPU means the test waits (timeouts, sleeps, another process). The figures
# ride on the teardown report (reports carry extra attributes, and pytest-xdist sends them to its
# controller), so the controller's terminal summary covers every worker's tests: the totals and the
# files that wait longest, so a slow-down shows in every CI log; --wall-json FILE keeps every test's
# figures for before/after comparisons.

WALL_CPU = "rig_wall_cpu"
"""The teardown report's attribute holding [wall s, CPU s, children's CPU s] of the test's protocol."""
_STARTED = pytest.StashKey[tuple[float, float, float]]()
_WALL_CPU: dict[str, tuple[float, float, float]] = {}
_ReportWrapper = Generator[None, pytest.TestReport, pytest.TestReport]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--wall-json", metavar="FILE", default=None,
                     help="write each test's wall and CPU seconds (setup+call+teardown) to FILE as JSON")


def _children_cpu() -> float:
    """CPU seconds of this process's ended and reaped subprocesses so far (pytest runs, jackd, the
    emulator's Node bridge): a test is charged for the subprocesses it reaps."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Note when one test's protocol starts, wall and process CPU."""
    item.stash[_STARTED] = (time.perf_counter(), time.process_time(), _children_cpu())
    yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> _ReportWrapper:
    """Put the test's wall and CPU seconds so far on its teardown report (the protocol's last)."""
    report = yield
    started = item.stash.get(_STARTED, None)
    if call.when == "teardown" and started is not None:
        setattr(report, WALL_CPU, [time.perf_counter() - started[0], time.process_time() - started[1],
                                   _children_cpu() - started[2]])
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect the figures of every test this process reports (a worker's too, at the controller)."""
    figures = getattr(report, WALL_CPU, None)
    if report.when == "teardown" and figures is not None:
        _WALL_CPU[report.nodeid] = (float(figures[0]), float(figures[1]), float(figures[2]))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print total wall vs CPU and the ten files with the most wall time; write --wall-json."""
    if not _WALL_CPU or hasattr(config, "workerinput"):
        return
    path = config.getoption("--wall-json")
    if path:
        Path(path).write_text(json.dumps(_WALL_CPU, indent=0, sort_keys=True))
    per_file: dict[str, list[float]] = {}
    for nodeid, figures in _WALL_CPU.items():
        sums = per_file.setdefault(nodeid.split("::")[0], [0.0, 0.0, 0.0, 0])
        for index, value in enumerate((*figures, 1)):
            sums[index] += value
    wall_total, cpu_total, children_total = (sum(f[i] for f in _WALL_CPU.values()) for i in range(3))
    workers = getattr(config.option, "numprocesses", None) if getattr(config.option, "dist", "no") != "no" \
        else None
    where = f"the {workers} xdist workers" if workers else "this process"
    terminalreporter.section("wall time vs CPU (setup+call+teardown)")
    terminalreporter.write_line(f"{len(_WALL_CPU)} tests: {wall_total:.1f} s wall (summed over tests), "
                                f"{cpu_total:.1f} s CPU in {where} "
                                f"({100 * (1 - cpu_total / wall_total):.0f} % waiting), "
                                f"{children_total:.1f} s CPU in the subprocesses they reaped")
    for name, (wall, cpu, children, count) in sorted(per_file.items(), key=lambda kv: -kv[1][0])[:10]:
        terminalreporter.write_line(f"{wall:8.1f} s wall {cpu:7.1f} s CPU {children:7.1f} s sub-CPU "
                                    f"{int(count):5d} tests  {name}")


OUTER_SESSION = "RIG_OUTER_PYTEST"
"""The pid of the outermost pytest session; sessions the tests start inherit it and are not judged
by the no-skip rule below (some of them skip on purpose, e.g. a board suite on a foreign device)."""


TEST_JACK_PERIOD = "256"
"""RIG_JACK_PERIOD for the JACK servers of this suite's sessions and the processes they start, unless
the environment sets one: at the rig's default (32 frames) each server and its clients cost about a
sixth of a core per test worker while idle, at 256 about a thirtieth (rig.os_midi.jack.DEFAULT_PERIOD).
What the 32-frame period itself must hold (floods lose nothing) is proven at 32 frames by
tests/rig/test_default_jack_period.py."""


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault(OUTER_SESSION, str(os.getpid()))
    os.environ.setdefault("RIG_JACK_PERIOD", TEST_JACK_PERIOD)
    _ctrl_c_reaches_subprocesses()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI nothing CI can run may be skipped: a skip fails the outermost session, naming the count
    (the skip reasons are in the -ra summary)."""
    _drop_idle_hypothesis_plugin(session)
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

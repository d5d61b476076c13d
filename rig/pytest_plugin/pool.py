"""A pool of targets for one suite (`--rig-pool`), run by pytest-xdist workers: each worker leases a
target exclusively (rig.targets.lease) and either takes a share of the suite (`split`) or the whole
suite runs on every target (`matrix`: the controller hands each target's tests to one worker as one
unit, rig.pytest_plugin.pool_matrix). Without xdist the same pool runs serially in this process.

`-n auto` starts one worker per healthy target: a target is healthy when it can be leased and opened
now. Results carry the target as a user property (`rig_target`, JUnit <property>), and the controller
merges what workers recorded (outcomes, target facts, counters) into one report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rig.errors import TargetError, UnknownTargetError
from rig.targets.factory import make_target
from rig.targets.lease import Lease, LeaseBusy, lease_one
from rig.targets.registry import KINDS, Feature, Target, TargetSpec

SPLIT = "split"
MATRIX = "matrix"
MODES = (SPLIT, MATRIX)
POOL_PARAM = "pool"
"""The rig_target parameter of split mode: each worker resolves it to the target it leased."""
POOL_OURS_PARAM = "pool:ours"
"""In a mixed split pool, the parameter of the tests that need our board (the others keep POOL_PARAM):
the nodeid tells xdist's controller, which does not collect, where each test may go."""
DEFAULT_LEASE_WAIT_S = 600.0
WORKER_OUTPUT = "rig_record"
CANDIDATES_KEY = "rig_pool_candidates"
"""workerinput: the targets a split-mode worker may lease (PoolPlan.worker_candidates)."""


class PoolError(TargetError):
    """The pool file or spec is unusable, or no target of it could be leased and opened."""


def read_pool(text: str) -> list[str]:
    """The target specs of a pool: `text` is a file (one spec per line, `#` comments) or specs
    separated by `;`. Each spec must name a known kind; duplicates are refused."""
    path = Path(text)
    if path.is_file():
        try:
            lines = path.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise PoolError(f"--rig-pool {text}: cannot read it ({exc})") from None
        where = str(path)
    else:
        if text.endswith((".txt", ".pool")):  # meant as a file
            raise PoolError(f"--rig-pool {text}: no such file")
        lines = text.split(";")
        where = "--rig-pool"
    specs: list[str] = []
    for number, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            spec = TargetSpec.parse(line)
        except UnknownTargetError as exc:
            raise PoolError(f"{where}:{number}: {exc}") from None
        if spec.kind not in KINDS:
            raise PoolError(f"{where}:{number}: unknown target {line!r}; expected one of {', '.join(KINDS)}")
        if str(spec) in specs:
            raise PoolError(f"{where}:{number}: {spec} is in the pool twice (give each its own serial "
                            f"or unique ID, e.g. loopback:SERIAL16HEX, emulator:uid=HEX16)")
        specs.append(str(spec))
    if not specs:
        raise PoolError(f"{where}: the pool lists no target")
    return specs


def may_be_foreign(spec: str) -> bool:
    """True when `spec` may name a device that is not our board: an emulator running an image of its
    own or a `usb:` device (only opening them tells), or a `midi:` cable (never ours). The other kinds
    are our board by their spec."""
    parsed = TargetSpec.parse(spec)
    if parsed.kind == "emulator":
        from rig.targets.emulator import parse_emulator_arg  # the emulator's stack, only for its specs

        return parse_emulator_arg(parsed.arg).image is not None
    return parsed.kind in ("usb", "midi")


def what_it_is(target: Target) -> str | None:
    """None when the opened `target` is our board (it has our contract), else what its device is:
    VID:PID, or its kind when it has no USB device of its own (a MIDI cable)."""
    if getattr(target, "is_our_board", True) is not False and Feature.CONTRACT in target.features:
        return None
    if Feature.USB not in target.features:
        return f"{target.spec.kind} target"
    device = target.usb_device()
    return f"{device.idVendor:04x}:{device.idProduct:04x}"


def probe(spec: str, wait_s: float = 0.0) -> tuple[str | None, str | None]:
    """(None when `spec` can be leased and opened now, else why not; what its device is when that is
    not our board, else None). The target is closed and its lease released again."""
    lease = Lease(spec)
    if not lease.try_acquire():
        return f"leased by {lease.holder() or 'another process'}", None
    foreign: str | None = None
    try:
        target = make_target(spec)
        try:
            target.open()
            foreign = what_it_is(target)
        finally:
            target.close()
    except Exception as exc:
        return f"cannot open: {exc}", None
    finally:
        lease.release()
    return None, foreign


@dataclass
class PoolPlan:
    """One session's pool: the specs, the mode, what probing found, and this process's leases."""

    specs: list[str]
    mode: str
    wait_s: float = DEFAULT_LEASE_WAIT_S
    unhealthy: dict[str, str] = field(default_factory=dict)
    """Spec -> why it was left out (probed by the controller for -n auto)."""
    leases: dict[str, Lease] = field(default_factory=dict)
    split_spec: str | None = None
    """The target this process leased for split mode."""
    candidates: list[str] | None = None
    """The targets this process may lease in split mode (None: any healthy one; a mixed pool's worker
    gets our boards or the others from the controller, rig.pytest_plugin.options)."""
    notes: list[str] = field(default_factory=list)
    foreign: dict[str, str] = field(default_factory=dict)
    """Spec -> its device (VID:PID) for targets that are not our board (found by probing)."""
    probed: bool = False

    @property
    def healthy(self) -> list[str]:
        return [s for s in self.specs if s not in self.unhealthy]

    def probe_all(self) -> None:
        """Probe every spec, remembering the unhealthy ones with their reason and the ones that are
        not our board with their device."""
        for spec in self.specs:
            why, foreign = probe(spec)
            if why is not None:
                self.unhealthy[spec] = why
            if foreign is not None:
                self.foreign[spec] = foreign
        self.probed = True

    @property
    def ours(self) -> list[str]:
        """The healthy targets that are our board (they run every test)."""
        return [s for s in self.healthy if s not in self.foreign]

    @property
    def mixed(self) -> bool:
        """True for a split pool holding our boards and devices that are not ours: each test is routed
        to a worker whose target can run it (rig.pytest_plugin.pool_routing)."""
        return self.mode == SPLIT and bool(self.ours) and len(self.ours) < len(self.healthy)

    def classify(self) -> None:
        """Find which targets are not our board (probing those only opening tells, unless -n auto
        probed them all already)."""
        if not self.probed:  # a target that does not open here is not left out: its tests say why
            for spec in filter(may_be_foreign, self.specs):
                _, foreign = probe(spec)
                if foreign is not None:
                    self.foreign[spec] = foreign
            self.probed = True

    def routing(self) -> str | None:
        """How a mixed split pool routes tests (None when the pool is not mixed)."""
        if not self.mixed:
            return None
        theirs = ", ".join(f"{s} ({device})" for s, device in self.foreign.items() if s in self.healthy)
        return (f"tests of our board's contract run only on our boards ({', '.join(self.ours)}); "
                f"device-agnostic tests on any target, {theirs} included")

    def worker_candidates(self, index: int) -> list[str]:
        """The targets xdist worker `index` may lease in split mode. In a mixed pool a worker takes
        either our boards or the others: worker 0 ours (so one worker alone still runs every test),
        worker 1 the others, then one per remaining target in pool order."""
        if not self.mixed:
            return self.healthy
        ours = self.ours
        theirs = [s for s in self.healthy if s not in ours]
        order = [ours[0], theirs[0], *(s for s in self.healthy if s not in (ours[0], theirs[0]))]
        return ours if order[index % len(order)] in ours else theirs

    def lease(self, spec: str) -> None:
        """Lease `spec` for the rest of the session (waiting up to wait_s for its holder)."""
        if spec in self.leases:
            return
        lease = lease_one([spec], self.wait_s, on_wait=self.notes.append)
        self.notes += lease.notes
        self.leases[spec] = lease

    def lease_for_split(self, opener: Callable[[str], object]) -> str:
        """This worker's target in split mode: the first healthy spec it can lease and open (`opener`
        opens it; a target that fails to open is released and the next one tried)."""
        if self.split_spec is not None:
            return self.split_spec
        candidates = self.candidates if self.candidates is not None else self.worker_candidates(0)
        failures: list[str] = []
        while candidates:
            try:
                lease = lease_one(candidates, self.wait_s, on_wait=self.notes.append)
            except LeaseBusy as exc:
                failures.append(str(exc))
                break
            self.notes += lease.notes
            try:
                opener(lease.spec)
            except TargetError as exc:
                lease.release()
                failures.append(str(exc))
                self.notes.append(f"split mode: {lease.spec} did not open, so this worker took another "
                                  f"target: {exc}")  # not silently: a board that fails must show
                candidates = [s for s in candidates if s != lease.spec]
                continue
            self.leases[lease.spec] = lease
            self.split_spec = lease.spec
            return lease.spec
        raise PoolError("no target of the pool could be leased and opened: " + "; ".join(failures))

    def release(self, spec: str) -> None:
        """Give back the lease on `spec` (matrix mode: this worker is done with that target)."""
        lease = self.leases.pop(spec, None)
        if lease is not None:
            lease.release()

    def release_all(self) -> None:
        for lease in self.leases.values():
            lease.release()
        self.leases.clear()


def is_pool_param(spec: str) -> bool:
    """True for split mode's parameters (resolved to the target this process leased)."""
    return spec in (POOL_PARAM, POOL_OURS_PARAM)


def has_param_id(nodeid: str, param_id: str) -> bool:
    """True when `param_id` is one of `nodeid`'s parameter ids (between `[`, `-` and `]`): how the
    xdist controller, which does not collect, tells which target a test names."""
    params = nodeid.partition("[")[2]
    return params.endswith("]") and f"-{param_id}-" in f"-{params[:-1]}-"


def target_in_nodeid(nodeid: str, specs: list[str]) -> str | None:
    """The spec of `specs` that `nodeid` is parametrised with (the longest one, should one spec be
    another's prefix), or None for a test that names no target of the pool."""
    return max((spec for spec in specs if has_param_id(nodeid, spec)), key=len, default=None)


def split_params(plan: PoolPlan) -> list[str]:
    """Split mode's rig_target parameters: a mixed pool's test is collected with both and keeps the
    one that says whether it needs our board (rig.pytest_plugin.applicability); those needing our
    board come first in the collection, so the first shares xdist hands out include them."""
    return [POOL_OURS_PARAM, POOL_PARAM] if plan.mixed else [POOL_PARAM]


def add_options(group: pytest.OptionGroup) -> None:
    group.addoption("--rig-pool", dest="rig_pool", metavar="POOL", default=None,
                    help="run on a pool of targets: a file with one spec per line, or specs separated "
                         "by ';' (use with pytest-xdist -n N or -n auto: one worker per healthy target)")
    group.addoption("--rig-pool-mode", dest="rig_pool_mode", choices=MODES, default=SPLIT,
                    help="split: the suite is shared out across the pool; matrix: the whole suite runs "
                         "on every target (default: %(default)s)")
    group.addoption("--rig-lease-wait", dest="rig_lease_wait", type=float, default=DEFAULT_LEASE_WAIT_S,
                    metavar="SECONDS", help="how long to wait for a leased target to come free "
                                            "(default: %(default)s)")


def plan_from(config: pytest.Config) -> PoolPlan | None:
    """The session's PoolPlan from its options (None without --rig-pool); UsageError when bad."""
    text = config.getoption("rig_pool")
    if not text:
        return None
    if config.getoption("rig_specs"):
        raise pytest.UsageError("--rig and --rig-pool exclude each other: list every target in the pool")
    try:
        specs = read_pool(str(text))
    except PoolError as exc:
        raise pytest.UsageError(str(exc)) from None
    plan = PoolPlan(specs, str(config.getoption("rig_pool_mode")), float(config.getoption("rig_lease_wait")))
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        plan.unhealthy = dict(workerinput.get("rig_pool_unhealthy", {}))
        plan.foreign = dict(workerinput.get("rig_pool_foreign", {}))
        plan.probed = True
        if CANDIDATES_KEY in workerinput:
            plan.candidates = [str(s) for s in workerinput[CANDIDATES_KEY]]
    return plan


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """True in the xdist process that hands out tests (it runs none itself)."""
    return not is_worker(config) and bool(getattr(config.option, "tx", None)) \
        and getattr(config.option, "dist", "no") != "no"


def auto_workers(plan: PoolPlan) -> int:
    """`-n auto` under a pool: one worker per healthy target (probed now); UsageError when none is."""
    plan.probe_all()
    if not plan.healthy:
        reasons = "; ".join(f"{s}: {why}" for s, why in plan.unhealthy.items())
        raise pytest.UsageError(f"--rig-pool: no healthy target ({reasons})")
    return len(plan.healthy)

"""The pool proof (issue #13): one suite across a pool of 4 emulator boards (distinct flash unique
IDs) and 2 loopbacks with pytest-xdist, in split and matrix mode, against the serial run of the same
tests; -n auto counting healthy targets; a worker whose bridge is killed fails alone, naming why.

Each case runs pytest in a subprocess (the real xdist controller and workers) with its own lock
directory, and reads the merged JUnit file: the target of every test is its `rig_target` property.
The suite is tests/conformance_usb/test_descriptors.py (16 tests a target, chapter 9 and USB-MIDI
descriptor checks): big enough to spread over 4 workers, small enough for CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from rig.links.emulator import bridge_installed, node_executable
from rig.output.markdown_text import escape
from rig.pytest_plugin.testing import missing, require_program

REPO = Path(__file__).resolve().parents[2]
SUITE = "tests/conformance_usb/test_descriptors.py"
EMULATORS = [f"emulator:uid=E00000000000000{n}" for n in range(1, 5)]
LOOPBACKS = ["loopback:0000000000000101", "loopback:0000000000000102"]
POOL = EMULATORS + LOOPBACKS

Outcomes = dict[tuple[str, str], str]
"""(test name without its target, target spec) -> passed / failed / error / skipped."""


def run_pytest(tmp_path: Path, name: str, *args: str, **env_vars: str
               ) -> tuple[subprocess.CompletedProcess[str], Outcomes]:
    """pytest in a subprocess (its own lock directory, no cache, `env_vars` added to its environment),
    and the outcome of every test."""
    junit = tmp_path / f"{name}.xml"
    env = dict(os.environ, RIG_LOCK_DIR=str(tmp_path / "locks"), **env_vars)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--junitxml", str(junit), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert junit.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    outcomes: Outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        target = str(props.get("rig_target"))
        test = f"{case.get('classname')}::{case.get('name')}".replace(target, "T")
        test = test.replace("[pool:ours", "[T").replace("[pool", "[T")  # split mode's parameters
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}.get(kinds[0] if kinds else "",
                                                                                   "passed")
        assert (test, target) not in outcomes, f"{test} ran twice on {target}"
        outcomes[(test, target)] = outcome
    return proc, outcomes


def workers_of(junit: Path) -> dict[str, set[str]]:
    """Target -> the xdist workers that ran its tests (their `rig_worker` property in `junit`)."""
    workers: dict[str, set[str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        workers.setdefault(str(props.get("rig_target")), set()).add(str(props.get("rig_worker")))
    return workers


def pool_args(mode: str, *specs: str) -> list[str]:
    return ["--rig-pool", ";".join(specs), "--rig-pool-mode", mode]


@pytest.fixture(scope="module", autouse=True)
def _emulator_present() -> None:
    """The pool needs the emulator (Node and rp2040js) and JACK for the loopbacks' OS MIDI ports."""
    if node_executable() is None or not bridge_installed():
        missing("the emulator bridge is not installed (Node.js 18+ and `npm ci` in firmware/emulator)")
    require_program("arm-none-eabi-gcc", "apt-get install gcc-arm-none-eabi (builds the firmware image)")


def test_split_mode_shares_the_suite_and_equals_the_serial_run(tmp_path: Path) -> None:
    _, serial = run_pytest(tmp_path, "serial", SUITE, "--rig=loopback")
    proc, split = run_pytest(tmp_path, "split", SUITE, "-n", "4", *pool_args("split", *POOL))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sorted(t for t, _ in split) == sorted(t for t, _ in serial)  # every test once
    assert set(split.values()) == set(serial.values()) == {"passed"}
    used = Counter(target for _, target in split)
    assert set(used) <= set(POOL) and len(used) >= 2, used  # shared out, each on a leased pool target
    assert "gw" not in "".join(used)


def test_matrix_mode_runs_everything_on_every_target_as_the_serial_run_does(tmp_path: Path) -> None:
    _, serial = run_pytest(tmp_path, "serial", SUITE, *(f"--rig={spec}" for spec in POOL))
    report = tmp_path / "report"
    proc, matrix = run_pytest(tmp_path, "matrix", SUITE, "-n", "4", "--rig-report", str(report),
                              *pool_args("matrix", *POOL))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert matrix == serial
    assert {target for _, target in matrix} == set(POOL)
    workers = workers_of(tmp_path / "matrix.xml")  # each target whole on one worker, all 4 workers used
    assert all(len(ran) == 1 for ran in workers.values()), workers
    assert len(set().union(*workers.values())) == 4, workers
    assert "waiting up to" not in proc.stdout  # no worker waited for a lease another worker held
    text = (report / "report.md").read_text()
    assert "**Verdict: PASS**" in text and f"{16 * len(POOL)} passed" in text
    targets = text.split("## Targets", 1)[1].split("\n## ", 1)[0]
    for n in range(1, 5):  # every board's serial number (its flash unique ID) is in the merged report
        assert f"| E00000000000000{n} |" in targets, targets
    per_target = text.split("## Per target", 1)[1].split("\n## ", 1)[0]
    assert all(f"| {escape(spec)} | 16 passed | 0 |" in per_target for spec in POOL), per_target


def test_a_worker_that_dies_after_its_last_report_loses_no_target_and_fails_the_session(
        tmp_path: Path) -> None:
    """The worker that ran LOOPBACKS[1] dies at its session's end (tests/pool/late/conftest.py), before
    xdist hands its workeroutput to the controller: its target's facts came with its test reports, so
    the merged report and JUnit still list both targets with their tests, and the lost worker is an
    error that fails the session (once, a merged report listed 2 of 6 targets, every test passed)."""
    report = tmp_path / "report"
    proc, outcomes = run_pytest(tmp_path, "late", "tests/pool/late", "-o", "python_files=check_*.py",
                                "-n", "2", "--rig-report", str(report), *pool_args("matrix", *LOOPBACKS),
                                RIG_TEST_DIE_AT_END=LOOPBACKS[1])
    assert "node down" in proc.stdout, proc.stdout[-3000:]  # the worker did die
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert Counter(target for _, target in outcomes) == {spec: 3 for spec in LOOPBACKS}
    assert set(outcomes.values()) == {"passed"}
    text = (report / "report.md").read_text()
    targets = text.split("## Targets", 1)[1].split("\n## ", 1)[0]
    assert all(f"| {spec.split(':')[1]} |" in targets for spec in LOOPBACKS), targets  # each one's serial
    assert "before it handed over its records" in text and "**Verdict: FAIL: 1 error, 6 passed**" in text
    assert "rig: worker gw" in proc.stdout and "went down" in proc.stdout


def test_auto_starts_one_worker_per_healthy_target(tmp_path: Path) -> None:
    broken = "emulator:/nonexistent/firmware.bin"
    report = tmp_path / "report"
    proc, outcomes = run_pytest(tmp_path, "auto", SUITE, "-n", "auto", "--rig-report", str(report),
                                *pool_args("matrix", LOOPBACKS[0], EMULATORS[0], broken))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert {target for _, target in outcomes} == {LOOPBACKS[0], EMULATORS[0]}
    text = (report / "report.md").read_text()
    assert "| xdist workers | 2 |" in text
    assert "left out of the pool" in text
    assert "firmware image /nonexistent/firmware.bin does not exist" in text
    per_target = text.split("## Per target", 1)[1].split("\n## ", 1)[0]  # the left-out target has its row
    assert f"| {escape(broken)} | none | 0 | left out of the pool: " in per_target, per_target


def test_a_killed_bridge_fails_only_its_workers_tests_naming_the_cause(tmp_path: Path) -> None:
    proc, outcomes = run_pytest(tmp_path, "killed", "tests/pool/killed", "-o", "python_files=check_*.py",
                                "-n", "2", "--dist", "loadfile", *pool_args("split", *EMULATORS[:2]))
    assert proc.returncode == 1
    killer = {t: (target, o) for (t, target), o in outcomes.items() if "check_killer" in t}
    bystander = {t: (target, o) for (t, target), o in outcomes.items() if "check_bystander" in t}
    (victim,) = {target for target, _ in killer.values()}
    assert {target for target, _ in bystander.values()} == {next(s for s in EMULATORS[:2] if s != victim)}, \
        proc.stdout[-3000:]  # its pool notes say when a board did not start and the worker took the other
    assert {o for _, o in bystander.values()} == {"passed"}  # the other board stays green
    after = [o for t, (_, o) in killer.items() if "after_the_kill" in t]
    assert after == ["failed"] * 3
    assert proc.stdout.count("LinkGone") + proc.stdout.count("emulator bridge") >= 3, proc.stdout[-3000:]


PLAIN = "emulator:firmware/build/plain.uf2"
"""A class-compliant USB-MIDI image that is not our board (1209:0002): only device-agnostic tests
apply to it."""
CONTRACT_SUITE = "tests/conformance/test_cdc_requests.py"
"""Two tests of our board's contract (not device-agnostic)."""


def test_a_mixed_split_pool_routes_contract_tests_to_our_boards_and_equals_the_serial_union(
        tmp_path: Path) -> None:
    """Our emulated board, a loopback and the plain image under -n 3: every test runs once; those of
    our contract only on our boards, the device-agnostic ones anywhere, the plain image included (the
    contract tests come first in the collection, so a scheduler that did not route would hand the
    plain image's worker, gw1, contract tests in its first share: they would skip there); outcomes
    equal the union of the serial runs on each target of the tests that apply to it."""
    ours = [EMULATORS[0], LOOPBACKS[0]]
    _, serial = run_pytest(tmp_path, "serial", CONTRACT_SUITE, SUITE, f"--rig={LOOPBACKS[0]}",
                           f"--rig={PLAIN}")
    union: dict[str, str] = {}
    for (test, _), outcome in serial.items():
        assert union.setdefault(test, outcome) == outcome, test
    report = tmp_path / "report"
    proc, split = run_pytest(tmp_path, "split", CONTRACT_SUITE, SUITE, "-n", "3", "--rig-report", str(report),
                             *pool_args("split", ours[0], PLAIN, ours[1]))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert {test: outcome for (test, _), outcome in split.items()} == union
    assert len(split) == len(union)  # each test once
    contract = {target for (test, target) in split if "test_cdc_requests" in test}
    assert contract and contract <= set(ours), split
    assert any(target == PLAIN for _, target in split), split  # the plain image took agnostic tests
    text = (report / "report.md").read_text()
    assert "| pool routing | tests of our board's contract run only on our boards" in text
    per_target = text.split("## Per target", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in per_target.splitlines() if line.startswith(f"| {PLAIN} |"))
    assert "passed | 0 | tests that need our board's contract are not applicable here" in row, row


def test_tests_no_target_of_the_pool_can_run_are_reported_not_applicable_with_the_reason(
        tmp_path: Path) -> None:
    report = tmp_path / "report"
    proc, outcomes = run_pytest(tmp_path, "plain", CONTRACT_SUITE, SUITE, "-k", "device_descriptor or break",
                                "--rig-report", str(report), *pool_args("split", PLAIN))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert outcomes and set(outcomes.values()) == {"passed"}
    assert not any("test_cdc_requests" in test for test, _ in outcomes)
    text = (report / "report.md").read_text()
    row = escape("tests/conformance/test_cdc_requests.py::test_send_break_stalls[pool]")
    assert f"| {row} | NOT APPLICABLE |" in text, text
    assert "needs our board's contract; the device is not our board (any target of the pool)" in text
    summary = text.split("## Summary", 1)[1].split("\n## ", 1)[0]
    assert "1 not applicable" in summary and "passed" in summary, summary


def test_a_matrix_pool_gives_a_foreign_device_only_the_tests_that_apply_to_it(tmp_path: Path) -> None:
    proc, outcomes = run_pytest(tmp_path, "mixed", SUITE, CONTRACT_SUITE, "-n", "2",
                                *pool_args("matrix", LOOPBACKS[0], PLAIN))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert set(outcomes.values()) == {"passed"}  # nothing skipped: what does not apply is not collected
    contract = {target for (test, target) in outcomes if "test_cdc_requests" in test}
    agnostic = {target for (test, target) in outcomes if "test_descriptors" in test}
    assert contract == {LOOPBACKS[0]} and agnostic == {LOOPBACKS[0], PLAIN}, outcomes

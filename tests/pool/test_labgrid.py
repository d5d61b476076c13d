"""Boards shared through labgrid (issue #13): pytest sessions and `rig` commands contending for the
places of a lab (tests/pool/labgrid_lab.py). Locking works, everything finishes, and no place is
left acquired.

Each session gets its own lock directory, as sessions on two hosts would: only labgrid's locking
keeps them apart.
"""

from __future__ import annotations

import getpass
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from rig.errors import TargetError
from rig.labgrid.remote import labgrid_spec, take_option
from rig.labgrid.target import place_options
from rig.targets.registry import TargetSpec

from .labgrid_lab import BOARDS, REMOTE, REPO, SSH_HOST, SUITE, Lab, finish, running_lab, session


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory) as started:
        yield started


def test_the_lab_sees_a_held_place(lab: Lab) -> None:
    """Every test below ends with `lab.acquired() == {}`: that check sees a place that is held."""
    assert lab.client("-p", "place-a", "acquire").returncode == 0
    try:
        held = lab.acquired()
    finally:
        assert lab.client("-p", "place-a", "release").returncode == 0
    assert list(held) == ["place-a"] and held["place-a"].endswith(f"/{getpass.getuser()}"), held
    assert lab.acquired() == {}


def test_two_sessions_share_out_two_places_and_release_both(lab: Lab) -> None:
    pool = ";".join(lab.spec(place, 0) for place in BOARDS)
    runs = [session(lab, name, SUITE, "--rig-pool", pool, "--junitxml", str(lab.directory / f"{name}.xml"))
            for name in ("first", "second")]
    outputs = [finish(run) for run in runs]
    for run, out in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out[-3000:]
        assert "16 passed" in out
    junit = {name: (lab.directory / f"{name}.xml").read_text() for name in ("first", "second")}
    used = [{place for place in BOARDS if f'value="labgrid:{place},' in text} for text in junit.values()]
    assert all(len(places) == 1 for places in used), used
    assert set.union(*used) == set(BOARDS)  # one place each: the second found the first's place taken
    assert lab.acquired() == {}


def test_two_sessions_wanting_one_place_take_turns(lab: Lab) -> None:
    spec = lab.spec("place-a", 300)
    runs = [session(lab, name, SUITE, "-k", "device_descriptor", f"--rig={spec}") for name in ("one", "two")]
    outputs = [finish(run) for run in runs]
    for run, out in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out[-3000:]
    assert lab.acquired() == {}


def test_a_failing_session_releases_its_place(lab: Lab) -> None:
    run = session(lab, "failing", "tests/pool/killed", "-o", "python_files=check_*.py",
                  f"--rig={lab.spec('place-b', 0)}")
    out = finish(run)
    assert run.returncode == 1 and "3 failed" in out, out[-3000:]
    assert lab.acquired() == {}


def test_rig_test_runs_on_the_boards_host_and_releases(lab: Lab) -> None:
    done = subprocess.run([sys.executable, "-m", "rig.cli", "test", f"--rig={lab.spec('place-a', 0)}",
                           "--suite", "tests/conformance_usb", "-k", "device_descriptor"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"labgrid place place-a: {BOARDS['place-a']} on 127.0.0.1" in done.stdout
    assert lab.acquired() == {}


def test_ctrl_c_releases_the_place(lab: Lab) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "rig.cli", "test", f"--rig={lab.spec('place-b', 0)}",
                             "--suite", "tests/conformance_usb"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until the place is held and the suite started on its board
        if "labgrid place place-b:" in line:
            break
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C reaches the whole process group
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-3000:]
    assert lab.acquired() == {}


def test_a_place_that_does_not_exist_is_named(lab: Lab) -> None:
    run = session(lab, "missing", SUITE, f"--rig={lab.spec('place-z', 0)}")
    out = finish(run)
    assert run.returncode != 0 and "place-z" in out, out[-3000:]


@pytest.mark.parametrize(("arg", "message"), [
    ("", "which place"), ("p,colour=red", "unknown option 'colour=red'"), ("p,wait=soon", "not a number"),
])
def test_a_bad_labgrid_spec_is_named(arg: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        place_options(TargetSpec("labgrid", arg or None))


def test_the_rig_option_is_found_and_taken_out() -> None:
    argv = ["run", "--rig", "labgrid:p", "--report-dir=out", "-x"]
    assert labgrid_spec(argv) == "labgrid:p"
    assert take_option(argv, "--rig") == (["run", "--report-dir=out", "-x"], "labgrid:p")
    assert take_option(argv, "--report-dir") == (["run", "--rig", "labgrid:p", "-x"], "out")



def test_the_pytest_plugin_refuses_a_board_on_another_host_naming_what_to_run(lab: Lab) -> None:
    run = session(lab, "remote", SUITE, f"--rig={lab.spec(REMOTE[0], 0)}")
    out = finish(run)
    assert run.returncode != 0
    assert f"is attached to {SSH_HOST}" in out and f"rig test --rig=labgrid:{REMOTE[0]}" in out, out[-3000:]
    assert lab.acquired() == {}

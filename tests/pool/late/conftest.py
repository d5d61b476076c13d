"""For tests/pool/test_pool_xdist.py only: with RIG_TEST_DIE_AT_END=SPEC, the xdist worker that ran
SPEC dies at its session's end, after its tests were reported and before it hands the controller its
workeroutput (as a worker crashing while it closes its targets would)."""

from __future__ import annotations

import os

import pytest

from rig.pytest_plugin.recording import run_record


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    spec = os.environ.get("RIG_TEST_DIE_AT_END")
    if spec and hasattr(session.config, "workerinput") and spec in run_record(session.config).targets:
        os._exit(3)

"""Ctrl-C on a real `rig latency` subprocess holding 10^6 samples: the process ends within 2 s with
the report written and marked interrupted (issue #9: summarising once took minutes). The 2 s are
wall time less the time the process waited for a CPU behind other jobs (see `interrupt`).

The samples come through a test seam: a launcher runs the real `rig` entry point with
rig.measure.runner.run_latency wrapped so that the run starts with 10^6 synthetic answered samples
(negative seqs, recorded as run_latency records them) and then measures for real on the loopback's
midi-usb path. The launcher prints READY when the first real sample has resolved (a positive signal:
the run is inside its measuring loop); the test then sends SIGINT and times the exit."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

SAMPLES = 1_000_000
EXIT_WITHIN_S = 2.0
HUNG_S = 180.0
"""Past this the launcher is taken for hung: SIGABRT makes it print every thread's stack
(PYTHONFAULTHANDLER, set for the session's subprocesses) and the test fails with them, never waits."""

LAUNCHER = """
import sys
from rig.cli import main
from rig.measure import report, runner
from rig.measure.columns import SampleColumns
from rig.measure.model import Sample

real = runner.run_latency


def with_history(link, settings, run, *, progress=None, **kw):
    n = int(sys.argv[1])
    columns = SampleColumns()
    samples = run.samples
    for i in range(n):
        s = Sample(seq=i - n, sent_ns=i * 1_000_000, received_ns=i * 1_000_000 + 300_000 + (i % 997) * 100,
                   device_rx_us=None, device_tx_us=None, size=3)
        samples.append(s)
        columns.sent(s)
        columns.answered(s)
    run.arrival_order.extend(range(-n, 0))
    run.columns = columns
    ready = []

    def signal_ready(done, total):
        if not ready:
            ready.append(1)
            print("READY", flush=True)

    return real(link, settings, run, progress=signal_ready, **kw)


runner.run_latency = with_history
real_summary = report.print_summary


def finishing(*args, **kw):  # inside the finish, after its second-Ctrl-C guard is in place
    print("FINISHING", flush=True)
    return real_summary(*args, **kw)


report.print_summary = finishing
sys.exit(main(sys.argv[2:]))
"""


def queued_s(pid: int) -> float:
    """Seconds the process's main thread has spent runnable but waiting for a CPU (the kernel's
    /proc/PID/schedstat): what other jobs on a loaded machine cost it, not its own work."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def _ahead_of_other_jobs() -> None:
    """In the child before it runs (a session of its own, so a scheduler autogroup of its own): that
    group's CPU priority raised where the test may raise it (root), so a loaded machine's other jobs
    (xdist workers, CI neighbours) delay the timed exit less. The main thread's remaining wait for a
    CPU is still subtracted (queued_s); the rig's other threads get no such allowance."""
    with contextlib.suppress(OSError):
        Path("/proc/self/autogroup").write_text("-15")
    with contextlib.suppress(OSError):
        os.nice(-15)


def _abort_if_running(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGABRT)


def interrupt(tmp_path: Path, samples: int, twice: bool,
              first: signal.Signals = signal.SIGINT) -> tuple[float, int, str, Path]:
    """Run the launcher, SIGINT it once measuring (READY) and, with `twice`, again once it finishes
    (FINISHING); (seconds from the first SIGINT to the exit less the time the process waited for a
    CPU, exit status, stdout, report dir). Less that wait, because the 2 s are the rig's own: on the
    shared 2-core machine, with a load of 20 and more, the wall time is mostly other jobs' turn."""
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    reports = tmp_path / "reports"
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "RIG_HISTORY": str(tmp_path / "history.sqlite")}
    process = subprocess.Popen(
        [sys.executable, str(launcher), str(samples), "latency", "--rig", "loopback", "--path", "midi-usb",
         "--jack", "never", "--count", "100000000", "--warmup", "0", "--no-progress", "--format", "md",
         "--report-dir", str(reports)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, preexec_fn=_ahead_of_other_jobs)
    watchdog = threading.Timer(HUNG_S, _abort_if_running, (process,))
    watchdog.start()
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the launcher says the run is measuring
        assert line.strip() == "READY", (line, process.stderr.read() if process.stderr else "")
        queued_before = queued_s(process.pid)
        sent = time.monotonic()
        process.send_signal(first)
        if twice:
            line = process.stdout.readline()
            if line.strip() != "FINISHING":
                rest = process.stdout.read()
                status = process.wait(timeout=60)
                err = process.stderr.read()[-3000:] if process.stderr else ""
                raise AssertionError(f"no FINISHING after the first SIGINT: {line!r}{rest[-2000:]} "
                                     f"(exit {status}) {err}")
            process.send_signal(signal.SIGINT)
        out = process.stdout.read()  # to the end: the process has closed its output
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)  # ended, not reaped: stats readable
        wall = time.monotonic() - sent
        queued = queued_s(process.pid) - queued_before
        process.wait(timeout=60)
        assert process.returncode != -signal.SIGABRT, \
            f"hung for {HUNG_S:g} s: {process.stderr.read() if process.stderr else ''}"
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    took = wall - queued
    print(f"ended {wall:.2f} s after SIGINT, {queued:.2f} s of it waiting for a CPU: {took:.2f} s")
    return took, process.returncode, out, reports


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_ctrl_c_after_a_million_samples_ends_within_2_s_with_the_report(tmp_path: Path,
                                                                      first: signal.Signals) -> None:
    """SIGTERM (kill, timeout(1), a cancelled CI job) is taken as a Ctrl-C: it once ended the run with
    nothing written."""
    took, status, out, reports = interrupt(tmp_path, SAMPLES, twice=False, first=first)
    assert status == 130, out
    assert took < EXIT_WITHIN_S, f"ended {took:.2f} s after SIGINT (less its wait for a CPU)\n{out}"
    (page,) = reports.glob("*.md")
    text = page.read_text()
    assert "Verdict: INTERRUPTED" in text
    assert "interrupted" in text and "yes (Ctrl-C or SIGTERM)" in text
    counted = re.search(r"round trip \(us\) \| n=(\d+) ", text)
    assert counted and int(counted[1]) > SAMPLES, text  # every answered sample, the real ones too
    assert "plots not drawn" in text
    (data,) = reports.glob("*.json")
    doc = json.loads(data.read_text())  # valid JSON, however far the samples got
    assert doc["meta"]["interrupted"] is True
    assert doc["summary"]["rtt_us"]["count"] >= SAMPLES
    if len(doc["samples"]) < SAMPLES:  # cut short by the budget: said in the file and on the page
        assert "left out after a Ctrl-C" in doc["samples_cut"]
        assert f"holds the first {len(doc['samples'])} of" in text


def test_a_second_ctrl_c_while_finishing_does_not_lose_the_report(tmp_path: Path) -> None:
    """It did (issue #9): the second KeyboardInterrupt ended the process inside the report writing."""
    took, status, out, reports = interrupt(tmp_path, 200_000, twice=True)
    assert status == 130, out
    assert took < EXIT_WITHIN_S, f"ended {took:.2f} s after the first SIGINT (less its wait for a CPU)\n{out}"
    (page,) = reports.glob("*.md")
    assert "Verdict: INTERRUPTED" in page.read_text()

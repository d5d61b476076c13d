"""Ctrl-C on a real `rig latency` subprocess holding 10^6 samples: the process ends within 2 s with
the report written and marked interrupted (issue #9: summarising once took minutes).

The samples come through a test seam: a launcher runs the real `rig` entry point with
rig.measure.runner.run_latency wrapped so that the run starts with 10^6 synthetic answered samples
(negative seqs, recorded as run_latency records them) and then measures for real on the loopback's
midi-usb path. The launcher prints READY when the first real sample has resolved (a positive signal:
the run is inside its measuring loop); the test then sends SIGINT and times the exit."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

SAMPLES = 1_000_000
EXIT_WITHIN_S = 2.0

LAUNCHER = """
import sys
from rig.cli import main
from rig.measure import runner
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
sys.exit(main(sys.argv[2:]))
"""


def test_ctrl_c_after_a_million_samples_ends_within_2_s_with_the_report(tmp_path: Path) -> None:
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    reports = tmp_path / "reports"
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "RIG_HISTORY": str(tmp_path / "history.sqlite")}
    process = subprocess.Popen(
        [sys.executable, str(launcher), str(SAMPLES), "latency", "--rig", "loopback", "--path", "midi-usb",
         "--jack", "never", "--count", "100000000", "--warmup", "0", "--no-progress", "--format", "md",
         "--report-dir", str(reports)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the launcher says the run is measuring
        assert line.strip() == "READY", (line, process.stderr.read() if process.stderr else "")
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        took = time.monotonic() - sent
        out = process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, out
    print(f"ended {took:.2f} s after SIGINT")
    assert took < EXIT_WITHIN_S, f"ended {took:.2f} s after SIGINT\n{out}"
    (page,) = reports.glob("*.md")
    text = page.read_text()
    assert "Verdict: INTERRUPTED" in text
    assert "interrupted" in text and "yes (Ctrl-C)" in text
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

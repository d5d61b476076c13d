"""This suite's sessions run their JACK servers at 256 frames (TEST_JACK_PERIOD in tests/conftest.py):
idle, the rig's default period costs every test worker a sixth of a core. What that default (32 frames,
rig.os_midi.jack.DEFAULT_PERIOD) must itself hold is proven here at 32 frames: every OS MIDI flood
loses nothing, through the class driver on the loopback and the emulator, through a miniport, and into
an input whose reader is late. The inner session records the argv of the jackd it started, so the test
knows the period the floods ran at instead of trusting the variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from rig.os_midi.jack import DEFAULT_PERIOD, ENV_PERIOD, ENV_SERVER, jackd_installed
from rig.pytest_plugin.testing import require

REPO = Path(__file__).resolve().parents[2]
FLOODS = (
    "tests/conformance/test_midi_os.py::test_note_flood_every_event_accounted_for",
    "tests/miniport/test_os_midi.py::test_flood_with_a_send_window_loses_nothing",
    "tests/class_driver/test_class_driver.py::test_a_flood_is_never_dropped",
    "tests/rig/test_input_queue.py::test_a_flood_waits_in_the_queue_while_the_reader_is_late",
)
RECORD_JACKD = '''
import json, os, subprocess
from pathlib import Path

def pytest_sessionfinish(session):
    """Write the argv of every jackd this process started, while they still run."""
    pids = subprocess.run(["pgrep", "-P", str(os.getpid()), "-x", "jackd"], capture_output=True,
                          text=True).stdout.split()
    argvs = [Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\\0") for pid in pids]
    Path(os.environ["RIG_TEST_JACKD_ARGV"]).write_text(json.dumps(argvs))
'''


def test_os_midi_floods_lose_nothing_at_the_default_32_frame_period(tmp_path: Path) -> None:
    require(jackd_installed(), "jackd is not installed (apt-get install jackd2)")
    (tmp_path / "record_jackd.py").write_text(RECORD_JACKD)
    argv_file, junit = tmp_path / "jackd.json", tmp_path / "floods.xml"
    # JACK_DEFAULT_SERVER names no server: the session starts its own instead of using this one's.
    env = dict(os.environ, **{ENV_PERIOD: str(DEFAULT_PERIOD), ENV_SERVER: "rig-no-such-server"},
               RIG_TEST_JACKD_ARGV=str(argv_file),
               PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "record_jackd", "-q",
            "--rig-strict", "--rig=loopback", "--rig=emulator", "--junitxml", str(junit), *FLOODS]
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = done.stdout[-4000:] + done.stderr[-2000:]
    assert done.returncode == 0, output
    argvs = json.loads(argv_file.read_text())
    assert len(argvs) == 1, f"the session started {len(argvs)} jackd: {argvs}"
    assert argvs[0][argvs[0].index("-p") + 1] == str(DEFAULT_PERIOD) and "--sync" in argvs[0], argvs
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    bad = ("failure", "error", "skipped")
    outcomes = {f"{case.get('classname')}::{case.get('name')}":
                [child.tag for child in case if child.tag in bad] for case in cases}
    assert len(cases) == 6 and not any(outcomes.values()), outcomes  # the first on both targets
    assert any("[emulator]" in name for name in outcomes), outcomes

"""One libjack per process: the rig's ctypes calls (server probe, graph queries) must use the copy
python-rtmidi is linked against, not a second one (issue #9: a `rig` process holding both copies
deadlocked in jack_client_close, twice, in the labgrid ssh tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rig.pytest_plugin.testing import require_module

CHECK = """
import json
from pathlib import Path
from rig.os_midi import jack

jack.server_running("rig-no-such-server")  # the ctypes probe: loads libjack
import rtmidi  # maps the copy it is linked against
maps = Path("/proc/self/maps").read_text().splitlines()
print(json.dumps(sorted({line.split()[-1] for line in maps if "libjack" in line.split()[-1]})))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_the_rig_and_python_rtmidi_share_one_libjack() -> None:
    require_module("rtmidi", "pip install python-rtmidi")
    env = {k: v for k, v in os.environ.items() if k != "JACK_DEFAULT_SERVER"}  # no client on ours
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60,
                          check=False, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    copies = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(copies) == 1, f"libjack mapped {len(copies)} times: {copies}"

"""The bridge's host model takes packet sizes and polling intervals from the descriptors it saw
(firmware/emulator/host_endpoints.js), as a host controller driver does: EP0 from bMaxPacketSize0,
every endpoint's wMaxPacketSize and, for interrupt IN endpoints, bInterval (USB 2.0 9.6.1, 9.6.6)."""

from __future__ import annotations

import json
import subprocess

from rig.contract.descriptors import config_descriptor, device_descriptor
from rig.links.emulator import BRIDGE_DIR, node_executable

from .conftest import need_bridge

SCRIPT = """
const { HostEndpoints } = require(process.argv[1] + '/host_endpoints.js');
const [device, config] = JSON.parse(process.argv[2]);
const h = new HostEndpoints();
const before = [h.ep0Size, h.maxPacket(1, true), h.interruptInterval(3)];
h.learnDevice(Uint8Array.from(device));
h.learnConfiguration(Uint8Array.from(config).subarray(0, config.length - 1)); // short: not taken
const short = h.maxPacket(1, true) === 64 && Object.keys(h.info().endpoints).length === 0;
h.learnConfiguration(Uint8Array.from(config));
process.stdout.write(JSON.stringify({ before, short, ep0: h.ep0Size, info: h.info(),
  notify: h.interruptInterval(3), bulk_interval: h.interruptInterval(1) }));
"""


def run(device: bytes, config: bytes) -> dict[str, object]:
    need_bridge()
    node = node_executable()
    assert node is not None
    result = subprocess.run([node, "-e", SCRIPT, str(BRIDGE_DIR), json.dumps([list(device), list(config)])],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    out: dict[str, object] = json.loads(result.stdout)
    return out


def test_sizes_and_intervals_come_from_the_descriptors() -> None:
    dev = bytearray(device_descriptor())
    dev[7] = 16  # bMaxPacketSize0
    config = bytearray(config_descriptor())
    seen = run(bytes(dev), bytes(config))
    assert seen["before"] == [64, 64, 0]
    assert seen["short"] is True
    assert seen["ep0"] == 16
    eps = seen["info"]["endpoints"]  # type: ignore[index]
    assert eps["0x01"]["maxPacket"] == 64 and eps["0x83"]["type"] == 3
    assert seen["notify"] == 16 and seen["bulk_interval"] == 0

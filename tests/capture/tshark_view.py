"""What tshark (an independent decoder: Wireshark's dissectors) says a capture holds, one `Packet` per
frame, so the capture tests compare it with what the rig sent and received."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from rig.pytest_plugin.testing import require_program

FIELDS = ("frame.number", "frame.comment", "frame.protocols", "usb.urb_id", "usb.urb_type",
          "usb.transfer_type", "usb.endpoint_address", "usb.device_address", "usb.bus_id", "usb.urb_status",
          "usb.urb_len",
          "usb.data_len", "usb.bmRequestType", "usb.setup.bRequest", "usb.bInterfaceClass",
          "usb.bInterfaceSubClass", "usb.bEndpointAddress", "usb.capdata", "usbaudio.midi.cable_number",
          "usbaudio.midi.code_index", "usbaudio.midi.event", "usbaudio.sysex.reassembled.data")
INSTALL_HINT = "apt-get install tshark, or `make system`"


def tshark() -> str:
    """tshark's path; missing: a failure under CI, a skip elsewhere."""
    return require_program("tshark", INSTALL_HINT)


@dataclass
class MidiEvent:
    """One USB-MIDI event packet as the usbaudio dissector decoded it."""

    cable: int
    cin: int
    event: bytes


@dataclass
class Packet:
    """One usbmon event as tshark dissected it."""

    number: int
    urb_id: int
    urb_type: str
    transfer_type: int
    endpoint: int
    device: int
    bus: int
    status: int
    urb_len: int
    data_len: int
    protocols: str
    comments: list[str] = field(default_factory=list)
    request: int | None = None
    data: bytes = b""
    """usb.capdata: data no dissector claimed (the vendor endpoints' frames)."""
    midi: list[MidiEvent] = field(default_factory=list)
    sysex: list[bytes] = field(default_factory=list)
    interface_classes: list[int] = field(default_factory=list)
    interface_subclasses: list[int] = field(default_factory=list)
    descriptor_endpoints: list[int] = field(default_factory=list)


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _ints(values: list[str]) -> list[int]:
    return [int(v, 0) for v in values]


def run_tshark(path: Path, fields: tuple[str, ...]) -> list[dict[str, list[str]]]:
    """`fields` of every frame of `path` (`tshark -r PATH -T json -e ...`), one dict per frame."""
    args = [tshark(), "-r", str(path), "-T", "json", "--no-duplicate-keys"]
    for name in fields:
        args += ["-e", name]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"tshark failed ({result.returncode}): {result.stderr[-2000:]}"
    return [record["_source"]["layers"] for record in json.loads(result.stdout or "[]")]


def read_capture(path: Path) -> list[Packet]:
    """Every frame of `path` as tshark decodes it (`tshark -r PATH -T json -e ...`)."""
    packets = []
    for layers in run_tshark(path, FIELDS):

        def one(name: str, default: str = "0", layers: dict[str, list[str]] = layers) -> str:
            return layers.get(name, [default])[0]

        cables = _ints(layers.get("usbaudio.midi.cable_number", []))
        cins = _ints(layers.get("usbaudio.midi.code_index", []))
        events = [_hex(e) for e in layers.get("usbaudio.midi.event", [])]
        assert len(cables) == len(cins) == len(events), f"frame {one('frame.number')}: unaligned MIDI fields"
        packets.append(Packet(
            number=int(one("frame.number")), urb_id=int(one("usb.urb_id"), 0),
            urb_type=one("usb.urb_type", "?").strip("'"),
            transfer_type=int(one("usb.transfer_type", "-1"), 0),
            endpoint=int(one("usb.endpoint_address"), 0), device=int(one("usb.device_address")),
            bus=int(one("usb.bus_id")), status=int(one("usb.urb_status")), urb_len=int(one("usb.urb_len")),
            data_len=int(one("usb.data_len")), protocols=one("frame.protocols", ""),
            comments=layers.get("frame.comment", []),
            request=int(layers["usb.setup.bRequest"][0], 0) if "usb.setup.bRequest" in layers else None,
            data=b"".join(_hex(d) for d in layers.get("usb.capdata", [])),
            midi=[MidiEvent(*e) for e in zip(cables, cins, events, strict=True)],
            sysex=[_hex(s) for s in layers.get("usbaudio.sysex.reassembled.data", [])],
            interface_classes=_ints(layers.get("usb.bInterfaceClass", [])),
            interface_subclasses=_ints(layers.get("usb.bInterfaceSubClass", [])),
            descriptor_endpoints=_ints(layers.get("usb.bEndpointAddress", []))))
    return packets

"""Capturing a target's USB traffic into a pcapng file (rig.links.capture), with the target, its
firmware and the host in the section header; `mark` puts a step's name on its first packet.

Every target that has a pyusb device (loopback, emulator, board) is recorded the same way, at its
pyusb backend. What does not pass through pyusb is not in the capture: the OS MIDI path (the rig's
class driver on the loopback and emulator, the OS driver on a board) and the emulator console.
"""

from __future__ import annotations

import contextlib
import functools
import platform
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from rig.errors import RigError
from rig.links.capture import UsbCapture
from rig.links.device_view import DeviceEventSource, DeviceView
from rig.links.pcapng import SectionInfo
from rig.links.recording_backend import record_device, recordings_of, stop_recording
from rig.targets.registry import Feature, Target

MB = 1024 * 1024


def section_for(target: Target) -> SectionInfo:
    """Section header facts: the target (spec, firmware, serial, transport), the host's OS, and the
    rig, Python and pyusb versions that wrote the file."""
    try:
        facts = target.describe()
    except RigError as exc:
        facts = {"target": target.name, "describe": f"failed: {exc}"}
    hardware = "; ".join(f"{k} {v}" for k, v in facts.items())
    return SectionInfo(hardware=hardware, os_name=_os_name(), application=_application(),
                       comments=(f"USB traffic of rig target {target.name} as its pyusb backend saw it "
                                 f"(usbmon format)",))


@functools.cache
def _os_name() -> str:
    """The host's OS for shb_os (read once: it does not change while the rig runs)."""
    return f"{platform.system()} {platform.release()} {platform.machine()}"


@functools.cache
def _application() -> str:
    """shb_userappl: the rig, Python and pyusb versions and the host, read once per process (the
    package metadata look-up took about 0.6 ms, paid again by every per-test capture)."""
    try:
        version = metadata.version("midi-usb-rig")
    except metadata.PackageNotFoundError:
        version = "(not installed)"
    import usb

    return (f"rig {version} (Python {platform.python_version()}, pyusb {usb.__version__}) "
            f"on {platform.node()}")


_VIEWS: dict[int, tuple[DeviceEventSource, DeviceView]] = {}
"""Device-side views being recorded, by id of their capture."""


def attach_device_view(target: Target, capture: UsbCapture) -> DeviceView | None:
    """When the target has a device-side view (the emulator), record it into `capture` as a second
    interface (rig.links.device_view); None for other targets, which stay as they are."""
    source = target.device_events()
    if source is None:
        return None
    view = DeviceView(capture)
    source.add_event_sink(view)
    _VIEWS[id(capture)] = (source, view)
    return view


def detach_device_view(capture: UsbCapture) -> None:
    """Stop recording the device-side view into `capture` (nothing when it has none)."""
    attached = _VIEWS.pop(id(capture), None)
    if attached is not None:
        attached[0].remove_event_sink(attached[1])


def start_capture(target: Target, path: Path | str, *, ring_mb: float | None = None) -> UsbCapture:
    """Record the open target's USB device into `path` (the last `ring_mb` MB only, when given); a
    CapabilityMissing error when the target has no USB device."""
    target.require(Feature.USB)
    device = target.usb_device()
    ring = None if ring_mb is None else max(1, int(ring_mb * MB))
    capture = UsbCapture(path, section_for(target), ring_bytes=ring)
    try:
        record_device(device, capture)
        attach_device_view(target, capture)
    except BaseException:
        stop_recording(device, capture)
        capture.close()
        raise
    return capture


def stop_capture(target: Target, capture: UsbCapture) -> None:
    """Stop recording the target into `capture` and close the file."""
    try:
        detach_device_view(capture)
        stop_recording(target.usb_device(), capture)
    finally:
        capture.close()


@contextlib.contextmanager
def capturing(target: Target, path: Path | str | None, *, ring_mb: float | None = None
              ) -> Iterator[UsbCapture | None]:
    """`start_capture` ... `stop_capture` around a block; nothing at all when `path` is None."""
    if path is None:
        yield None
        return
    capture = start_capture(target, path, ring_mb=ring_mb)
    try:
        yield capture
    finally:
        stop_capture(target, capture)


def mark(target: Target, text: str) -> None:
    """Comment `text` on the next packet of every capture recording the target (a step's start);
    nothing when none is (so measurement code calls it unconditionally)."""
    if Feature.USB not in target.features:
        return
    try:
        device = target.usb_device()
    except RigError:
        return
    for capture in recordings_of(device):
        capture.mark(text)

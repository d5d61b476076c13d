"""What a target string may declare about a USB-MIDI device that its descriptors cannot say, written
once for every kind that reaches one through pyusb (`usb:...`, `emulator:IMAGE`): `echo` (it sends
back on its MIDI IN endpoint what it receives on its MIDI OUT endpoint), `loop` (a DIN cable joins
its MIDI OUT and IN jacks), `cable=N` (the cable the MIDI suites use, default 0) and `listen=S` (a
controller: the window in seconds in which what it sends is captured and judged)."""

from __future__ import annotations

from dataclasses import dataclass, replace

MIDI_OPTIONS_USAGE = "[,echo][,loop][,cable=N][,listen=SECONDS]"
MAX_CABLE = 15
"""USB-MIDI 1.0 4: the cable number is the event packet's high nibble."""
MAX_LISTEN_S = 3600.0


def _seconds(text: str) -> float | None:
    """A capture window in seconds (0 < S <= MAX_LISTEN_S), else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 < value <= MAX_LISTEN_S else None


@dataclass(frozen=True)
class MidiOptions:
    """The MIDI declarations of one target string (the defaults: none made)."""

    echo: bool = False
    loop: bool = False
    cable: int = 0
    listen_s: float | None = None
    """`listen=S`: the capture window (seconds) in which a device that only sends (a controller) is
    judged on what it sends; play it during the window."""

    def with_option(self, option: str) -> MidiOptions | None:
        """These options with `option` (one comma-separated part) added, or None when it is not a
        MIDI option or its value is out of range (the caller names it as unknown)."""
        name, _, value = option.strip().partition("=")
        if option.strip() in ("echo", "loop"):
            return replace(self, **{option.strip(): True})
        if name == "cable" and value.isdigit() and int(value) <= MAX_CABLE:
            return replace(self, cable=int(value))
        if name == "listen" and (seconds := _seconds(value)) is not None:
            return replace(self, listen_s=seconds)
        return None


NONE_DECLARED = MidiOptions()
"""A target string that declares nothing about MIDI."""

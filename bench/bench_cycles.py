"""Firmware cost in emulated cycles: MIDI echo at 1 and 16 messages per transfer, frame echo per byte.

The figures are rp2040js's per-instruction cycle counts, summed by the emulator bridge while the
firmware runs (its INFO `cycles`). The core executes nothing while it waits in wfi, so a difference of
two readings is exactly the firmware's work in between, the same in every run: the emulator's cycle
model (interrupt entry and exit cost nothing in it), not a board's timing. Baselines measured in the
same run: the same single-message transfer in SINK mode (received and counted, nothing sent back),
and a two-point fit of the echo into a fixed cost per transfer and a cost per message.
Goal: at most 600 cycles per echoed message at one message per transfer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rig import contract as c
from rig.contract import frame_wire as frames
from rig.links.emulator import REPO, EmulatorLink
from rig.links.usb_link import UsbLinkError

IMAGE = REPO / "firmware" / "build" / "rig_firmware.bin"
GOAL_SINGLE_ECHO = 600
"""Cycles per echoed message at one message per transfer (issue #14)."""
ROUNDS = 32
"""Transfers per figure (after one unmeasured warm-up transfer)."""
T_MS = 2000
MESSAGE = bytes((0x09, 0x90, 60, 100))
"""One USB-MIDI event packet: note on, cable 0."""
FRAME_SMALL = 10
FRAME_LARGE = 4000
"""Frame payload sizes of the per-byte fit (header + payload is no multiple of 64: no ZLP needed)."""


@dataclass(frozen=True)
class CycleFigures:
    """Cycles per unit of work, each averaged over ROUNDS transfers."""

    echo_1: float
    """Per echoed message, one message per transfer."""
    echo_16: float
    """Per echoed message, 16 messages per transfer (one full 64-byte packet each way, then a ZLP)."""
    sink_1: float
    """Per single-message transfer received in SINK mode (nothing sent back): the receive floor."""
    frame_small: float
    """Per echoed frame of FRAME_SMALL payload bytes."""
    frame_large: float
    """Per echoed frame of FRAME_LARGE payload bytes."""

    @property
    def per_message(self) -> float:
        """Echo cost of one more message in a transfer (two-point fit of echo_1 and echo_16)."""
        return (16 * self.echo_16 - self.echo_1) / 15

    @property
    def per_transfer(self) -> float:
        """Fixed echo cost of a transfer, whatever it holds (the fit's intercept)."""
        return self.echo_1 - self.per_message

    @property
    def frame_per_byte(self) -> float:
        """Frame echo cost of one more payload byte (two-point fit)."""
        return (self.frame_large - self.frame_small) / (FRAME_LARGE - FRAME_SMALL)


def cycles(link: EmulatorLink) -> int:
    """Cycles the emulated core has run since the bridge started (the bridge's INFO)."""
    return int(link.info()["cycles"])


def cycles_per_round(link: EmulatorLink, run: Callable[[int], None], rounds: int = ROUNDS) -> float:
    """Mean cycles of `run(round)` over `rounds` rounds, after one unmeasured warm-up round."""
    run(-1)
    before = cycles(link)
    for n in range(rounds):
        run(n)
    return (cycles(link) - before) / rounds


def configure(link: EmulatorLink) -> None:
    """SET_CONFIGURATION, as a host does after enumeration."""
    link.control(0x00, 9, c.CONFIG_VALUE, 0, b"", T_MS)


def set_midi_mode(link: EmulatorLink, mode: c.MidiMode) -> None:
    """SET_MIDI_MODE with the contract's defaults for the other fields."""
    link.control(c.VENDOR_REQUEST_TYPE_OUT, c.Request.SET_MIDI_MODE, 0, 0,
                 c.MIDI_MODE_CONFIG.pack(mode=mode), T_MS)


def midi_echo(link: EmulatorLink, per_transfer: int) -> Callable[[int], None]:
    """One round: `per_transfer` messages out in one transfer, the same back (checked)."""
    data = MESSAGE * per_transfer

    def run(_round: int) -> None:
        link.write(c.EP_MIDI_OUT, data, T_MS)
        back = link.read(c.EP_MIDI_IN, 2 * len(data), T_MS)  # a full packet is ended by a ZLP
        if back != data:
            raise AssertionError(f"echo returned {back.hex()} for {data.hex()}")

    return run


def midi_sink(link: EmulatorLink) -> Callable[[int], None]:
    """One round: one message out; SINK mode sends nothing back."""

    def run(_round: int) -> None:
        link.write(c.EP_MIDI_OUT, MESSAGE, T_MS)

    return run


def frame_echo(link: EmulatorLink, size: int) -> Callable[[int], None]:
    """One round: a frame of `size` payload bytes out, the echo back with the same payload (checked)."""
    payload = bytes((7 * i + size) & 0xFF for i in range(size))
    seq = [0]

    def run(_round: int) -> None:
        link.write(c.EP_FRAME_OUT, frames.encode(payload, seq[0]), T_MS)
        seq[0] += 1
        back = frames.decode(link.read(c.EP_FRAME_IN, frames.HEADER_SIZE + size + 1, T_MS))
        if bytes(back.payload) != payload:
            raise AssertionError(f"frame echo of {size} bytes came back changed")

    return run


def measure(link: EmulatorLink, rounds: int = ROUNDS) -> CycleFigures:
    """Every figure, on a freshly booted board behind `link`."""
    configure(link)
    set_midi_mode(link, c.MidiMode.ECHO)
    echo_1 = cycles_per_round(link, midi_echo(link, 1), rounds)
    echo_16 = cycles_per_round(link, midi_echo(link, 16), rounds) / 16
    set_midi_mode(link, c.MidiMode.SINK)
    sink_1 = cycles_per_round(link, midi_sink(link), rounds)
    link.control(c.VENDOR_REQUEST_TYPE_OUT, c.Request.SET_FRAME_MODE, 0, 0,
                 c.FRAME_MODE_CONFIG.pack(mode=c.FrameMode.ECHO), T_MS)
    frame_small = cycles_per_round(link, frame_echo(link, FRAME_SMALL), rounds)
    frame_large = cycles_per_round(link, frame_echo(link, FRAME_LARGE), rounds)
    return CycleFigures(echo_1, echo_16, sink_1, frame_small, frame_large)


def report(f: CycleFigures) -> list[str]:
    """The printed lines."""
    return [
        f"  MIDI echo, 1 message per transfer:   {f.echo_1:8.1f} cycles/message (goal <= {GOAL_SINGLE_ECHO})",
        f"  MIDI echo, 16 messages per transfer: {f.echo_16:8.1f} cycles/message",
        f"  fit: {f.per_transfer:.1f} cycles fixed per transfer + {f.per_message:.1f} per message",
        f"  baseline, SINK (receive only), 1 message per transfer: {f.sink_1:.1f} cycles/transfer; "
        f"echo costs {f.echo_1 / f.sink_1:.2f}x it",
        f"  frame echo: {f.frame_small:.0f} cycles at {FRAME_SMALL} B, {f.frame_large:.0f} at "
        f"{FRAME_LARGE} B: "
        f"{f.frame_per_byte:.2f} cycles/byte, {f.frame_large / FRAME_LARGE:.2f} cycles/byte overall at "
        f"{FRAME_LARGE} B",
    ]


def main(image: Path = IMAGE) -> bool:
    """Boot the built firmware in the emulator, print the figures; the goal is the single-message echo."""
    if not image.is_file():
        print(f"  cannot measure: {image} is not built (run `make firmware`)")
        return False
    try:
        with EmulatorLink(image) as link:
            figures = measure(link)
    except UsbLinkError as exc:
        print(f"  cannot measure: {exc}")
        return False
    for line in report(figures):
        print(line)
    return figures.echo_1 <= GOAL_SINGLE_ECHO


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)

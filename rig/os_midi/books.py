"""Where a message was lost on the OS MIDI path of a target whose OS driver is the rig's class driver:
the counts at every stage, host to device and back, and the first stage where they fall short.

    host rtmidi out -> (JACK) -> driver virtual input -> EP_MIDI_OUT -> device -> EP_MIDI_IN
        -> driver virtual output -> (JACK) -> host rtmidi in

`PathWatch(target, board)` takes the counters when a test starts; `explain(...)` with the host's own
counts says, at the moment of a failure, how far every message got. A shortfall between two JACK
ports is reported as JACK's, with the xruns the server reported meanwhile; one between the driver's
counters and the device's as the USB transfer's or the device's. Figures are deltas since the watch
began, read while messages may still be in flight (a shortfall at the last stage can also be a
message on its way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from rig.os_midi.class_driver import DriverCounters, UsbMidiClassDriver
from rig.os_midi.jack import JackXruns


class _Stats(Protocol):
    midi_rx_packets: int
    midi_tx_packets: int


class _Board(Protocol):
    def stats(self) -> _Stats: ...


@dataclass(frozen=True)
class HostCounts:
    """What the host sent and received through its rtmidi ports (messages, and USB-MIDI packets those
    messages make)."""

    messages_sent: int
    packets_sent: int
    messages_received: int
    packets_received: int


@dataclass(frozen=True)
class Stage:
    """One count along the path: `name` says what crossed where; `unit` is messages or packets."""

    name: str
    unit: str
    count: int | None
    """None when it could not be read (no device access, no JACK)."""


class PathWatch:
    """The class driver's counters, the device's MIDI packet counters and JACK's xrun count at a start
    point, to report the deltas when a test on the OS MIDI path fails."""

    def __init__(self, target: Any, board: _Board | None = None) -> None:
        """`target`: an open target (its `driver` and `midi_system`, when it has them, are used);
        `board`: the device's client, to read its packet counters (None: not read)."""
        self.driver: UsbMidiClassDriver | None = getattr(target, "driver", None)
        self.system: Any = getattr(target, "midi_system", None)
        self.board = board
        self._driver0 = self._driver_counts()
        self._device0 = self._device_counts()
        self._xruns0 = self._xruns()

    def _driver_counts(self) -> dict[str, int]:
        return self.driver.counters.as_dict() if self.driver is not None else {}

    def _device_counts(self) -> tuple[int, int] | None:
        if self.board is None:
            return None
        try:
            stats = self.board.stats()
        except Exception:  # a device that is gone or busy: the report says so by leaving the figure out
            return None
        return int(stats.midi_rx_packets), int(stats.midi_tx_packets)

    def _xruns(self) -> JackXruns | None:
        xruns = getattr(self.system, "xruns", None)
        got = xruns() if callable(xruns) else None
        return got if isinstance(got, JackXruns) else None

    def xruns_since(self) -> JackXruns | None:
        """JACK's xruns since the watch began (None when the server's log is not readable here)."""
        now = self._xruns()
        if now is None or self._xruns0 is None:
            return None
        return JackXruns(now.late_cycles - self._xruns0.late_cycles,
                         now.skipped_clients - self._xruns0.skipped_clients)

    def stages(self, host: HostCounts) -> tuple[list[Stage], JackXruns | None]:
        """Every stage's count since the watch began, in path order, and JACK's xruns meanwhile."""
        now = self._driver_counts()
        driver = {k: v - self._driver0.get(k, 0) for k, v in now.items()}
        device_now = self._device_counts()
        device = None if device_now is None or self._device0 is None else (
            device_now[0] - self._device0[0], device_now[1] - self._device0[1])
        xruns = self.xruns_since()

        def drv(name: str) -> int | None:
            return driver.get(name) if self.driver is not None else None

        stages = [
            Stage("host sent (rtmidi output)", "messages", host.messages_sent),
            Stage("class driver took from its virtual input", "messages", drv("messages_from_os")),
            Stage("host sent, as USB-MIDI packets", "packets", host.packets_sent),
            Stage("class driver wrote to EP_MIDI_OUT", "packets", drv("packets_to_device")),
            Stage("device received", "packets", None if device is None else device[0]),
            Stage("device sent", "packets", None if device is None else device[1]),
            Stage("class driver read from EP_MIDI_IN", "packets", drv("packets_from_device")),
            Stage("host received, as USB-MIDI packets", "packets", host.packets_received),
            Stage("class driver handed to its virtual output (rtmidi)", "messages", drv("messages_to_os")),
            Stage("host received (rtmidi input)", "messages", host.messages_received),
        ]
        return stages, xruns

    def explain(self, host: HostCounts, *, echoes: bool = True) -> str:
        """A report of every stage and the first shortfall, naming who lost it. `echoes`: the device
        answers every message (ECHO, TRANSFORM), so what it sent should equal what it received.

        Each side is checked in messages first, then in packets: messages the driver took or handed on
        that the other end did not see are JACK's; packets short with the messages all there are the
        driver's."""
        stages, xruns = self.stages(host)
        jack = "JACK" if xruns is None else f"JACK ({xruns} meanwhile)"
        hops: list[tuple[int, int, str]] = [
            (0, 1, f"between the host's rtmidi output and the driver's virtual input: {jack}"),
            (2, 3, "in the class driver, before EP_MIDI_OUT"),
            (3, 4, "on EP_MIDI_OUT (USB or the device)"),
            (4, 5, "in the device (it did not answer them all)"),
            (5, 6, "on EP_MIDI_IN (USB or the class driver)"),
            (8, 9, f"between the driver's virtual output and the host's rtmidi input: {jack}"),
            (6, 7, "in the class driver, between EP_MIDI_IN and its virtual output"),
        ]
        verdict = "no stage is short (messages may still be on their way)"
        for before, after, where in hops:
            if not echoes and before == 4:
                break  # the device keeps what it receives (SINK) or makes its own (SOURCE)
            sent, got = stages[before].count, stages[after].count
            if sent is not None and got is not None and got < sent:
                verdict = f"first shortfall: {sent - got} {stages[after].unit} {where}"
                break
        lines = [f"  {s.name}: {'?' if s.count is None else s.count} {s.unit}" for s in stages]
        if xruns is not None:
            lines.append(f"  JACK xruns since the start: {xruns}")
        return "OS MIDI path counts since the start of the test:\n" + "\n".join([*lines, f"  {verdict}"])


def driver_counters(target: Any) -> DriverCounters | None:
    """The class driver's counters of `target` (None when its OS driver is not the rig's)."""
    driver: UsbMidiClassDriver | None = getattr(target, "driver", None)
    return None if driver is None else driver.counters


__all__ = ["HostCounts", "PathWatch", "Stage", "driver_counters"]

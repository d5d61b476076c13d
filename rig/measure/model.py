"""The records a measurement produces: one `Sample` per message, `ThroughputResult` per transfer
direction, and the `Run` that holds them with the target, host and settings they came from."""

from __future__ import annotations

import datetime as _dt
import platform
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rig.contract import FRAME_HEADER
from rig.measure import stats
from rig.measure.clocksync import ClockFit
from rig.measure.columns import NO_STAMP, SampleColumns

USB_FS_BULK_PACKETS_PER_FRAME = 19
"""Most 64-byte bulk transactions a full-speed 1 ms frame can carry (USB 2.0 table 5-10)."""
USB_FS_BULK_CEILING_BPS = USB_FS_BULK_PACKETS_PER_FRAME * 64 * 1000
"""1,216,000 bytes/s: the full-speed bulk limit every throughput figure is shown beside."""
FRAME_HEADER_LEN = FRAME_HEADER.size
USB_MIDI_EVENT_CEILING_PER_S = USB_FS_BULK_CEILING_BPS // 4
"""304,000 USB-MIDI event packets/s: the same bus limit counted in 4-byte event packets."""


@dataclass(slots=True)
class Sample:
    """One message's round trip: host monotonic times in ns, device clock times in us. Slotted: a long
    run holds millions, and freeing them when the process ends after a Ctrl-C counts too."""

    seq: int
    sent_ns: int
    received_ns: int | None = None
    device_rx_us: int | None = None
    device_tx_us: int | None = None
    lost: bool = False
    warmup: bool = False
    size: int = 0
    """Bytes of the message (MIDI bytes or frame payload)."""

    @property
    def rtt_us(self) -> float | None:
        """Round trip in microseconds, or None when the message was lost."""
        if self.received_ns is None:
            return None
        return (self.received_ns - self.sent_ns) / 1000.0


@dataclass
class ThroughputResult:
    """One direction's throughput: what moved, how fast, and the bus ceiling beside it."""

    direction: str
    """"bulk-out", "bulk-in", "midi-out" or "midi-in"."""
    unit: str
    """"bytes" (frame payload bytes) or "events" (USB-MIDI event packets)."""
    payload_len: int
    """Frame payload bytes (0 for MIDI)."""
    items: int
    """Frames or events moved."""
    amount: int
    """Payload bytes or events moved."""
    elapsed_s: float
    ceiling_per_s: float
    """The full-speed limit in the same unit, for this frame size."""
    series: list[tuple[float, float]] = field(default_factory=list)
    """(seconds since start, rate over the preceding interval) for the plot."""
    device_count: int | None = None
    """What the device counted for the same transfer (GET_STATS), when it can tell."""
    lost: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rate_per_s(self) -> float:
        """Amount per second over the whole transfer."""
        return self.amount / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def fraction_of_ceiling(self) -> float:
        """rate / ceiling."""
        return self.rate_per_s / self.ceiling_per_s if self.ceiling_per_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (JSON, history) with the derived rate and fraction included."""
        d = asdict(self)
        d["rate_per_s"] = self.rate_per_s
        d["fraction_of_ceiling"] = self.fraction_of_ceiling
        return d


def frame_wire_bytes(payload_len: int, header_len: int = FRAME_HEADER_LEN) -> int:
    """Bytes a frame occupies on the bus: whole 64-byte packets, plus a ZLP's slot when it ends on a
    packet boundary (a ZLP is a transaction too, so it is counted as one packet slot)."""
    n = header_len + payload_len
    packets = -(-n // 64) + (1 if n % 64 == 0 else 0)
    return packets * 64


def frame_ceiling_payload_per_s(payload_len: int, header_len: int = FRAME_HEADER_LEN) -> float:
    """Payload bytes/s the full-speed bulk limit allows for frames of this payload size."""
    packets = frame_wire_bytes(payload_len, header_len) // 64
    frames_per_s = USB_FS_BULK_PACKETS_PER_FRAME * 1000 / packets
    return frames_per_s * payload_len


def host_facts() -> dict[str, str]:
    """What the report says about the host the figures were taken on."""
    return {
        "hostname": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": sys.version.split()[0],
    }


def utc_now() -> str:
    """ISO 8601 UTC timestamp, seconds precision."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


@dataclass
class Run:
    """One `rig latency` or `rig throughput` run: where, when, how, and every sample taken."""

    kind: str
    """"latency" or "throughput"."""
    path: str
    """"midi-os" (python-rtmidi), "midi-usb" (USB-MIDI packets through pyusb), "frames",
    or for throughput the directions measured."""
    target: str
    target_kind: str
    real_timing: bool
    """True only when the target has Feature.REAL_TIMING (a real board or MIDI interface)."""
    settings: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)
    """target.describe(): firmware version, serial number, transport."""
    host: dict[str, str] = field(default_factory=host_facts)
    started_at: str = field(default_factory=utc_now)
    samples: list[Sample] = field(default_factory=list)
    arrival_order: list[int] = field(default_factory=list)
    """Sequence numbers in the order their answers arrived (duplicates included)."""
    unexpected: int = 0
    """Arrivals that matched no message sent."""
    late: int = 0
    """Answers that arrived after their message had been declared lost (they stay lost)."""
    abandoned: int = 0
    """Messages still in flight when the run was interrupted: neither received nor lost."""
    drained: int = 0
    """Stale answers thrown away before the first send."""
    interrupted: bool = False
    """The run stopped before every planned sample was taken (Ctrl-C, or `error`)."""
    error: str | None = None
    """What stopped the run early when it was not Ctrl-C: target, transfer and the fault (a board
    unplugged, a transfer error or timeout). The samples taken before it are kept."""
    clock: ClockFit | None = None
    no_timing: str | None = None
    """Why this run gives no latency or throughput statistics (the target's timing is emulated), or
    None. Such a run is a functional check: messages sent, received, lost and out of order count,
    times are neither reported nor stored."""
    throughput: list[ThroughputResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Anything a reader must know about how the figures came about (shown in every report)."""
    run_id: int | None = None
    columns: SampleColumns | None = field(default=None, repr=False, compare=False)
    """The samples as numpy-ready columns, kept by run_latency as it records (None: built from
    `samples` when needed). Used only while it describes as many samples as `samples` holds."""

    def sample_columns(self) -> SampleColumns:
        """The columns the figures are computed from: the recorded ones when they are in step with
        `samples`, else built from `samples` (one pass)."""
        if self.columns is not None and self.columns.count == len(self.samples):
            return self.columns
        return SampleColumns.of(self.samples)

    @property
    def measured(self) -> list[Sample]:
        """Samples that count: warm-up ones excluded."""
        return [s for s in self.samples if not s.warmup]

    def stored_samples(self) -> list[Sample]:
        """The samples as files and the history keep them: as taken, or with every time blanked
        (sent_ns 0, no received or device time) when the run gives no timing figures."""
        if self.no_timing is None:
            return self.samples
        return [self.stored_sample(s) for s in self.samples]

    def stored_sample(self, s: Sample) -> Sample:
        """One sample as files and the history keep it (see stored_samples)."""
        if self.no_timing is None:
            return s
        return Sample(seq=s.seq, sent_ns=0, lost=s.lost, warmup=s.warmup, size=s.size)

    def rtt_values_us(self) -> list[float]:
        """Round trips of the measured, received samples, in seq order ([] without timing figures)."""
        if self.no_timing is not None:
            return []
        return [s.rtt_us for s in self.measured if s.rtt_us is not None]

    def one_way_us(self) -> dict[str, list[float]]:
        """host->device, device-internal and device->host latencies (us) from device stamps and the
        clock fit; without a fit only device-internal (on the device clock); empty without stamps."""
        out: dict[str, list[float]] = {"host_to_device": [], "device_internal": [], "device_to_host": []}
        if self.no_timing is not None:
            return out
        for s in self.measured:
            if s.received_ns is None or s.device_rx_us is None or s.device_tx_us is None:
                continue
            if self.clock is None:
                # The device's own interval needs no clock fit (device microseconds, drift unknown).
                out["device_internal"].append(float(s.device_tx_us - s.device_rx_us))
                continue
            rx_host = self.clock.device_to_host_ns(s.device_rx_us)
            tx_host = self.clock.device_to_host_ns(s.device_tx_us)
            out["host_to_device"].append((rx_host - s.sent_ns) / 1000.0)
            out["device_internal"].append(
                self.clock.device_interval_to_host_ns(s.device_tx_us - s.device_rx_us) / 1000.0)
            out["device_to_host"].append((s.received_ns - tx_host) / 1000.0)
        return out

    def summary(self) -> dict[str, Any]:
        """Every figure the reports and the history show, as plain data."""
        result: dict[str, Any] = {"kind": self.kind, "real_timing": self.real_timing,
                                  "interrupted": self.interrupted, "incomplete": self.interrupted,
                                  "error": self.error}
        if self.kind == "latency":
            result.update(self._latency_figures())
        result["throughput"] = [t.as_dict() for t in self.throughput]
        result["no_timing"] = self.no_timing
        if self.no_timing is not None:
            for t in result["throughput"]:
                t.update(rate_per_s=None, fraction_of_ceiling=None, elapsed_s=None, series=[])
        return result

    def _latency_figures(self) -> dict[str, Any]:
        """Sequence accounting, round trip and one-way figures, from the columns (no pass over the
        samples: a Ctrl-C after 10^6 samples summarises in well under a second)."""
        columns = self.sample_columns()
        sent = columns.measured_seqs()
        first = int(sent[0]) if sent.size else 0
        arrivals = np.fromiter(self.arrival_order, dtype=np.int64, count=len(self.arrival_order))
        acc = stats.account(sent, arrivals[arrivals >= first])
        out: dict[str, Any] = {"sequence": acc.as_dict(), "unexpected": self.unexpected, "late": self.late,
                               "abandoned": self.abandoned}
        _seq, sent_ns, received_ns, rx_us, tx_us = columns.answers()
        timed = self.no_timing is None
        rtts = (received_ns - sent_ns) / 1000.0 if timed else np.empty(0)
        out["rtt_us"] = stats.summarize(rtts).as_dict() if rtts.size else None
        one_way: dict[str, Any] = {}
        stamped = (rx_us != NO_STAMP) & (tx_us != NO_STAMP)
        if timed and stamped.any():
            rx, tx = rx_us[stamped].astype(np.float64), tx_us[stamped].astype(np.float64)
            if self.clock is None:
                one_way["device_internal"] = stats.summarize(tx - rx).as_dict()
            else:
                clock = self.clock
                rx_host, tx_host = clock.device_to_host_ns(rx), clock.device_to_host_ns(tx)
                one_way = {
                    "host_to_device": stats.summarize((rx_host - sent_ns[stamped]) / 1000.0).as_dict(),
                    "device_internal": stats.summarize(
                        clock.device_interval_to_host_ns(tx - rx) / 1000.0).as_dict(),  # type: ignore[arg-type]
                    "device_to_host": stats.summarize((received_ns[stamped] - tx_host) / 1000.0).as_dict()}
        out["one_way_us"] = one_way
        out["clock"] = self.clock.as_dict() if self.clock and timed else None
        # A one-way figure is only worth reading when the clock error is well below it.
        out["one_way_meaningful"] = bool(self.clock and out["rtt_us"] and one_way
                                         and self.clock.error_bound_us < out["rtt_us"]["p50"] / 2)
        return out

    def meta(self) -> dict[str, Any]:
        """Run metadata without samples (JSON header, history row)."""
        return {"run_id": self.run_id, "kind": self.kind, "path": self.path, "target": self.target,
                "target_kind": self.target_kind, "real_timing": self.real_timing,
                "started_at": self.started_at, "settings": self.settings, "facts": self.facts,
                "host": self.host, "interrupted": self.interrupted, "error": self.error,
                "no_timing": self.no_timing,
                "notes": self.notes}

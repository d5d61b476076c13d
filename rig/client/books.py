"""The host's books: what the host did and saw since RESET_STATS, and their comparison with the
device's counters (every conformance test ends with them balanced)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass
class HostCounters:
    """What the host did and saw since the last `reset_stats`, to compare with the device's Stats."""

    midi_packets_tx: int = 0
    """USB-MIDI event packets written (CIN 0 padding excluded, as the device counts)."""
    midi_packets_rx: int = 0
    """USB-MIDI event packets read (CIN 0 padding excluded)."""
    frames_tx: int = 0
    """Good frames written."""
    frame_bytes_tx: int = 0
    """Payload bytes in good frames written."""
    frames_tx_bad_crc: int = 0
    """Frames written with a deliberately wrong payload CRC."""
    frames_tx_bad_header: int = 0
    """Frames written with a deliberately broken header."""
    frames_rx: int = 0
    """Frames read and accepted."""
    frame_bytes_rx: int = 0
    """Payload bytes in frames read."""
    rx_seq_gaps: int = 0
    """Frames read whose sequence number was not the one expected."""
    control_stalls: int = 0
    """Control requests the board answered with STALL, as seen through this Board."""


def event_packets(data: bytes) -> int:
    """USB-MIDI event packets in `data` as the device counts them (CIN 0 padding excluded)."""
    return sum(1 for i in range(0, len(data), 4) if data[i] & 0x0F)


def books_problems(stats: Mapping[str, int], host: HostCounters) -> list[str]:
    """Compare device counters with host counters; each disagreement is one line naming both."""
    pairs: list[tuple[str, int, str, int]] = [
        ("midi_rx_packets", stats["midi_rx_packets"], "host midi_packets_tx", host.midi_packets_tx),
        ("midi_tx_packets", stats["midi_tx_packets"], "host midi_packets_rx", host.midi_packets_rx),
        ("frames_rx", stats["frames_rx"], "host frames_tx", host.frames_tx),
        ("frame_bytes_rx", stats["frame_bytes_rx"], "host frame_bytes_tx", host.frame_bytes_tx),
        ("frames_tx", stats["frames_tx"], "host frames_rx", host.frames_rx),
        ("frame_bytes_tx", stats["frame_bytes_tx"], "host frame_bytes_rx", host.frame_bytes_rx),
        ("frames_bad_crc", stats["frames_bad_crc"], "host frames_tx_bad_crc", host.frames_tx_bad_crc),
        ("frames_bad_header", stats["frames_bad_header"], "host frames_tx_bad_header",
         host.frames_tx_bad_header),
        ("frames_seq_gap", stats["frames_seq_gap"], "expected", 0),
        ("midi_rx_bad", stats["midi_rx_bad"], "expected", 0),
        ("control_stalls", stats["control_stalls"], "host control_stalls", host.control_stalls),
    ]
    problems = [f"device {dev_name}={dev} but {host_name}={value}"
                for dev_name, dev, host_name, value in pairs if dev != value]
    if host.rx_seq_gaps:
        problems.append(f"host saw {host.rx_seq_gaps} out-of-sequence frame(s) from the device")
    return problems


def host_counters_dict(host: HostCounters) -> dict[str, Any]:
    """HostCounters as a plain dict (reports)."""
    return {f.name: getattr(host, f.name) for f in fields(host)}

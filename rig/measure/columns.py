"""A latency run's figures as numpy columns, kept as the run goes, so that summarising a run costs no
pass over its `Sample` objects: a Ctrl-C after 10^6 samples must end within 2 s (issue #9), and one
Python pass over 10^6 objects alone takes about a second on a loaded 2-core machine.

`SampleColumns` is filled by `rig.measure.latency.run_latency` (`sent` per message, `answered` per
first answer, `abandon` for what was still in flight at the end); `SampleColumns.of` builds the same
columns from a list of samples (runs made any other way). Both give the same figures.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt


class Sample(Protocol):
    """What the columns read of a rig.measure.model.Sample (named here: model imports this module)."""

    @property
    def seq(self) -> int: ...
    @property
    def sent_ns(self) -> int: ...
    @property
    def received_ns(self) -> int | None: ...
    @property
    def device_rx_us(self) -> int | None: ...
    @property
    def device_tx_us(self) -> int | None: ...
    @property
    def warmup(self) -> bool: ...

NO_STAMP = -1
"""Device time stamp column value of an answer without one."""

Ints = npt.NDArray[np.int64]


@dataclass
class SampleColumns:
    """Append-only columns of one run: every message sent (seq, warm-up or not) and every first answer
    to a measured message (seq, host round trip, device stamps)."""

    sent_seq: array[int] = field(default_factory=lambda: array("q"))
    sent_warmup: array[int] = field(default_factory=lambda: array("b"))
    answer_seq: array[int] = field(default_factory=lambda: array("q"))
    answer_sent_ns: array[int] = field(default_factory=lambda: array("q"))
    answer_received_ns: array[int] = field(default_factory=lambda: array("q"))
    answer_rx_us: array[int] = field(default_factory=lambda: array("q"))
    answer_tx_us: array[int] = field(default_factory=lambda: array("q"))
    abandoned: set[int] = field(default_factory=set)
    """Seqs dropped from the run (in flight when it stopped): neither sent for the books nor answered."""

    @property
    def count(self) -> int:
        """Samples these columns describe (sent, less abandoned): equals len(run.samples) when in step."""
        return len(self.sent_seq) - len(self.abandoned)

    def sent(self, sample: Sample) -> None:
        """A message went out."""
        self.sent_seq.append(sample.seq)
        self.sent_warmup.append(1 if sample.warmup else 0)

    def answered(self, sample: Sample) -> None:
        """The first answer to `sample` arrived (its received_ns and device stamps are set)."""
        if sample.warmup or sample.received_ns is None:
            return
        self.answer_seq.append(sample.seq)
        self.answer_sent_ns.append(sample.sent_ns)
        self.answer_received_ns.append(sample.received_ns)
        self.answer_rx_us.append(NO_STAMP if sample.device_rx_us is None else sample.device_rx_us)
        self.answer_tx_us.append(NO_STAMP if sample.device_tx_us is None else sample.device_tx_us)

    def abandon(self, samples: Iterable[Sample]) -> None:
        """These samples leave the run unanswered (in flight at Ctrl-C or a fault)."""
        self.abandoned.update(s.seq for s in samples)

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> SampleColumns:
        """The columns of samples made any other way (one pass over them)."""
        columns = cls()
        for s in samples:
            columns.sent(s)
        for s in sorted((s for s in samples if s.received_ns is not None), key=lambda s: s.seq):
            columns.answered(s)
        return columns

    # --- views for the statistics ---------------------------------------------------------------

    def measured_seqs(self) -> Ints:
        """Seqs of the measured (not warm-up, not abandoned) messages, in send order."""
        seqs = np.frombuffer(self.sent_seq, dtype=np.int64).copy()  # a view would pin the array
        keep = np.frombuffer(self.sent_warmup, dtype=np.int8) == 0
        if self.abandoned:
            keep &= ~np.isin(seqs, np.fromiter(self.abandoned, np.int64, len(self.abandoned)))
        measured: Ints = seqs[keep]
        return measured

    def answers(self) -> tuple[Ints, Ints, Ints, Ints, Ints]:
        """(seq, sent_ns, received_ns, device_rx_us, device_tx_us) of every answered measured message."""
        def view(a: array[int]) -> Ints:
            return np.frombuffer(a, dtype=np.int64).copy()  # a view would stop appends

        return (view(self.answer_seq), view(self.answer_sent_ns), view(self.answer_received_ns),
                view(self.answer_rx_us), view(self.answer_tx_us))

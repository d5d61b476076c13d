"""A latency run's figures as numpy columns, kept as the run goes, so that summarising a run costs no
pass over its `Sample` objects: a Ctrl-C after 10^6 samples must end within 2 s (issue #9), and one
Python pass over 10^6 objects alone takes about a second on a loaded 2-core machine.

`SampleColumns` is filled by `rig.measure.latency.run_latency` (`sent` per message, `answered` per
first answer, `abandon` for what was still in flight at the end); `SampleColumns.of` builds the same
columns from a list of samples (runs made any other way). Both give the same figures.

Each row goes in with one C call (`array.extend` of a tuple), so a Ctrl-C, which Python raises
between bytecodes, never leaves one column a row longer than another: it did, and the summary of
the interrupted run then failed ("operands could not be broadcast together with shapes (200065,)
(200066,)") and wrote no report.
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
SENT_WIDTH = 2
ANSWER_WIDTH = 5

Ints = npt.NDArray[np.int64]


@dataclass
class SampleColumns:
    """Append-only columns of one run: every message sent (seq, warm-up or not) and every first answer
    to a measured message (seq, host round trip, device stamps)."""

    sent_rows: array[int] = field(default_factory=lambda: array("q"))
    """(seq, warm-up 1/0) per message sent, flat."""
    answer_rows: array[int] = field(default_factory=lambda: array("q"))
    """(seq, sent_ns, received_ns, device_rx_us, device_tx_us) per answer, flat."""
    abandoned: set[int] = field(default_factory=set)
    """Seqs dropped from the run (in flight when it stopped): neither sent for the books nor answered."""

    @property
    def count(self) -> int:
        """Samples these columns describe (sent, less abandoned): equals len(run.samples) when in step."""
        return len(self.sent_rows) // SENT_WIDTH - len(self.abandoned)

    def sent(self, sample: Sample) -> None:
        """A message went out."""
        self.sent_rows.extend((sample.seq, 1 if sample.warmup else 0))

    def answered(self, sample: Sample) -> None:
        """The first answer to `sample` arrived (its received_ns and device stamps are set)."""
        if sample.warmup or sample.received_ns is None:
            return
        self.answer_rows.extend((sample.seq, sample.sent_ns, sample.received_ns,
                                 NO_STAMP if sample.device_rx_us is None else sample.device_rx_us,
                                 NO_STAMP if sample.device_tx_us is None else sample.device_tx_us))

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
        rows = np.frombuffer(self.sent_rows, dtype=np.int64).reshape(-1, SENT_WIDTH)  # (a view: read now)
        seqs = rows[:, 0].copy()
        keep = rows[:, 1] == 0
        if self.abandoned:
            keep &= ~np.isin(seqs, np.fromiter(self.abandoned, np.int64, len(self.abandoned)))
        measured: Ints = seqs[keep]
        return measured

    def answers(self) -> tuple[Ints, Ints, Ints, Ints, Ints]:
        """(seq, sent_ns, received_ns, device_rx_us, device_tx_us) of every answered measured message."""
        rows = np.frombuffer(self.answer_rows, dtype=np.int64).reshape(-1, ANSWER_WIDTH).copy()
        # (copied: a view would stop appends)
        return rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4]

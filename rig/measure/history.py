"""Run history in an embedded SQLite database: every run stored with its summary and samples, a
listing for `rig history`, and a regression gate comparing a run against a baseline with explicit
thresholds (each one printed with its value), instead of a fixed "worst > 6 ms" rule.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.errors import RigError
from rig.measure.budget import CHUNK, Budget
from rig.measure.model import Run, Sample
from rig.output import units
from rig.output.file_modes import make_dirs, touch_private

ENV_VAR = "RIG_HISTORY"


class HistoryError(RigError, RuntimeError):
    """The history database cannot do what was asked (missing run, bad threshold)."""


class StoreCut(HistoryError):
    """A run was not stored: after a Ctrl-C its samples did not fit in the finishing budget."""


class HistoryUnusable(HistoryError):
    """The file is not a rig history database (garbage, another program's SQLite file, bad rows)."""


class RunNotFound(HistoryError, LookupError):
    """No run with that id is stored."""


class ThresholdError(HistoryError, ValueError):
    """A threshold given on the command line is malformed."""


def default_path() -> Path:
    """$RIG_HISTORY, else $XDG_DATA_HOME/rig/history.sqlite, else ~/.local/share/rig/history.sqlite."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "rig" / "history.sqlite"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    target TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    real_timing INTEGER NOT NULL,
    firmware TEXT,
    interrupted INTEGER NOT NULL,
    meta_json TEXT NOT NULL,
    summary_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    sent_ns INTEGER NOT NULL,
    received_ns INTEGER,
    device_rx_us INTEGER,
    device_tx_us INTEGER,
    lost INTEGER NOT NULL,
    warmup INTEGER NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"""


@dataclass(frozen=True)
class RunRow:
    """One line of `rig history`."""

    run_id: int
    started_at: str
    kind: str
    path: str
    target: str
    target_kind: str
    real_timing: bool
    firmware: str | None
    interrupted: bool
    summary: dict[str, Any]
    origin: str | None = None
    """Where the run was taken when not on this machine: a labgrid place and its host (runs imported
    by rig.cli.remote_runs after a `--rig=labgrid:PLACE` command on another host); None: here."""

    def headline(self) -> str:
        """The figure a listing shows: RTT p50/p99 for latency, rates for throughput, outcome counts
        for a suite."""
        if self.kind == "suite":
            counts = self.summary.get("counts", {})
            return ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "no tests"
        rtt = self.summary.get("rtt_us")
        if self.summary.get("no_timing"):
            if self.kind == "latency":
                seq = self.summary.get("sequence", {})
                return (f"functional check (no timing): received {seq.get('received', 0)}/"
                        f"{seq.get('sent', 0)}, lost {seq.get('lost', 0)}, "
                        f"out of order {seq.get('out_of_order', 0)}")
            return "functional check (no timing): " + ", ".join(
                f"{t['direction']} {t['items']} moved, lost {t['lost']}"
                for t in self.summary.get("throughput", []))
        if self.kind == "latency" and rtt:
            lost = self.summary.get("sequence", {}).get("lost", 0)
            return (f"p50 {units.duration(rtt['p50'])}, p99 {units.duration(rtt['p99'])}, n={rtt['count']}, "
                    f"lost {lost}")
        parts = [f"{t['direction']}{' ' + str(t['payload_len']) + ' B' if t['unit'] == 'bytes' else ''} "
                 f"{units.rate(t['rate_per_s'], t['unit'])}"
                 for t in self.summary.get("throughput", [])]
        return ", ".join(parts) or "-"


class History:
    """The SQLite store; open with a path (default_path() when None). Usable as a context manager."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        if str(self.path) != ":memory:":
            make_dirs(self.path.parent)
            touch_private(self.path)
        self._db = sqlite3.connect(str(self.path))
        try:
            with self._guard():
                self._db.execute("PRAGMA foreign_keys = ON")
                self._db.executescript(_SCHEMA)
                columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
                if "origin" not in columns:  # a history written before runs could come from elsewhere
                    self._db.execute("ALTER TABLE runs ADD COLUMN origin TEXT")
                if "session" not in columns:  # a history written before suite runs were stored
                    self._db.execute("ALTER TABLE runs ADD COLUMN session TEXT")
        except HistoryUnusable:
            self._db.close()
            raise

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn what a corrupt or foreign file makes sqlite3 and json raise into HistoryUnusable,
        naming the file and the problem."""
        try:
            yield
        except (sqlite3.DatabaseError, json.JSONDecodeError) as exc:
            raise HistoryUnusable(f"{self.path}: not a usable rig history database "
                                  f"({type(exc).__name__}: {exc})") from None

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._guard(), self._db:
            yield self._db

    def store(self, run: Run, summary: dict[str, Any] | None = None, budget: Budget | None = None) -> int:
        """Store the run, its summary (computed when not given) and every sample; sets and returns
        run.run_id. With a bounded `budget` (after a Ctrl-C) the samples go in by chunks and, when
        the budget is spent first, nothing is stored: StoreCut says so."""
        meta = run.meta()
        summary = run.summary() if summary is None else summary
        samples = run.samples
        stored = run.stored_sample
        with self._tx() as db:  # an exception inside rolls the whole run back
            cur = db.execute(
                "INSERT INTO runs (started_at, kind, path, target, target_kind, real_timing, firmware,"
                " interrupted, meta_json, summary_json) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (run.started_at, run.kind, run.path, run.target, run.target_kind, int(run.real_timing),
                 run.facts.get("firmware"), int(run.interrupted), json.dumps(meta), json.dumps(summary)))
            run_id = cur.lastrowid
            assert run_id is not None
            for start in range(0, len(samples), CHUNK):
                if budget is not None and budget.spent():
                    raise StoreCut(f"run not stored in {self.path}: its {len(samples)} samples did not "
                                   f"fit in the time a Ctrl-C leaves")
                db.executemany(
                    "INSERT INTO samples VALUES (?,?,?,?,?,?,?,?,?)",
                    [(run_id, s.seq, s.sent_ns, s.received_ns, s.device_rx_us, s.device_tx_us,
                      int(s.lost), int(s.warmup), s.size)
                     for s in map(stored, samples[start:start + CHUNK])])
        run.run_id = run_id
        return run_id

    def store_suite(self, session: str, started_at: str, targets: list[SuiteTarget]) -> list[int]:
        """Store one pytest session's results, one run of kind SUITE per target (the target spec and
        its board serial are the key the gate compares by), all tagged `session`; the run ids."""
        ids: list[int] = []
        with self._tx() as db:
            for t in targets:
                summary = {"counts": t.counts(), "tests": t.tests, "serial": t.serial}
                cur = db.execute(
                    "INSERT INTO runs (started_at, kind, path, target, target_kind, real_timing, firmware,"
                    " interrupted, meta_json, summary_json, session) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (started_at, SUITE, "pytest", t.spec, t.spec.split(":", 1)[0], 0, t.firmware, 0,
                     json.dumps({"key": t.key}), json.dumps(summary), session))
                assert cur.lastrowid is not None
                ids.append(cur.lastrowid)
        return ids

    def session_runs(self, run_id: int) -> list[RunRow]:
        """Every run stored by the pytest session that stored run `run_id` (just it when it has none)."""
        self.row(run_id)
        with self._guard():
            found = self._db.execute("SELECT session FROM runs WHERE id = ?", (run_id,)).fetchone()
            if found is None or found[0] is None:
                return [self.row(run_id)]
            ids = [r[0] for r in self._db.execute("SELECT id FROM runs WHERE session = ? ORDER BY id",
                                                  (found[0],))]
        return [self.row(i) for i in ids]

    def import_runs(self, other: Path, origin: str) -> list[int]:
        """Copy every run (and its samples) of the history file `other` into this one, marked with
        `origin` (e.g. `labgrid:pico-1 on lab1`); the new run ids, oldest first. A file that is not a
        rig history is HistoryUnusable, and nothing is copied."""
        if not other.is_file():
            raise HistoryError(f"{other}: no history file to import")
        with History(other) as source, source._guard():
            rows = source._db.execute(
                "SELECT id, started_at, kind, path, target, target_kind, real_timing, firmware, interrupted,"
                " meta_json, summary_json FROM runs ORDER BY id").fetchall()
            samples = {row[0]: source._db.execute(
                "SELECT seq, sent_ns, received_ns, device_rx_us, device_tx_us, lost, warmup, size"
                " FROM samples WHERE run_id = ? ORDER BY seq", (row[0],)).fetchall() for row in rows}
        ids: list[int] = []
        with self._tx() as db:  # all or nothing
            for row in rows:
                cur = db.execute(
                    "INSERT INTO runs (started_at, kind, path, target, target_kind, real_timing, firmware,"
                    " interrupted, meta_json, summary_json, origin) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (*row[1:], origin))
                run_id = cur.lastrowid
                assert run_id is not None
                db.executemany("INSERT INTO samples VALUES (?,?,?,?,?,?,?,?,?)",
                               [(run_id, *sample) for sample in samples[row[0]]])
                ids.append(run_id)
        return ids

    def runs(self, limit: int | None = None, target: str | None = None,
             kind: str | None = None) -> list[RunRow]:
        """Stored runs, newest first, optionally filtered."""
        sql = ("SELECT id, started_at, kind, path, target, target_kind, real_timing, firmware, interrupted,"
               " summary_json, origin FROM runs")
        where: list[str] = []
        args: list[Any] = []
        if target is not None:
            where.append("target = ?")
            args.append(target)
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._guard():
            return [_row(r) for r in self._db.execute(sql, args)]

    def row(self, run_id: int) -> RunRow:
        """One run's row; RunNotFound names the id."""
        with self._guard():
            for r in self._db.execute(
                    "SELECT id, started_at, kind, path, target, target_kind, real_timing, firmware,"
                    " interrupted, summary_json, origin FROM runs WHERE id = ?", (run_id,)):
                return _row(r)
        raise RunNotFound(f"no run {run_id} in {self.path}")

    def samples(self, run_id: int) -> list[Sample]:
        """Every stored sample of a run, in seq order."""
        self.row(run_id)
        with self._guard():
            return [Sample(seq=r[0], sent_ns=r[1], received_ns=r[2], device_rx_us=r[3], device_tx_us=r[4],
                           lost=bool(r[5]), warmup=bool(r[6]), size=r[7])
                    for r in self._db.execute(
                        "SELECT seq, sent_ns, received_ns, device_rx_us, device_tx_us, lost, warmup, size"
                        " FROM samples WHERE run_id = ? ORDER BY seq", (run_id,))]

    def latest(self, target: str | None = None, kind: str | None = None, before: int | None = None) -> RunRow:
        """The newest run (optionally of a target/kind, older than run id `before`)."""
        for r in self.runs(target=target, kind=kind):
            if before is None or r.run_id < before:
                return r
        raise RunNotFound(f"no earlier {kind or ''} run{' of ' + target if target else ''} in {self.path}")


SUITE = "suite"
"""The kind of a run that holds one target's test outcomes from a pytest session."""


@dataclass
class SuiteTarget:
    """One target's share of a pytest session: its outcome per test (test ids without the target)."""

    spec: str
    serial: str | None
    firmware: str | None
    tests: dict[str, str]

    @property
    def key(self) -> str:
        """What the regression gate compares by: the target spec and its board serial."""
        return f"{self.spec} (serial {self.serial})" if self.serial else self.spec

    def counts(self) -> dict[str, int]:
        """Tests per outcome."""
        out: dict[str, int] = {}
        for outcome in self.tests.values():
            out[outcome] = out.get(outcome, 0) + 1
        return out


def _row(r: tuple[Any, ...]) -> RunRow:
    """A RunRow from the columns runs() and row() select."""
    return RunRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], bool(r[8]), json.loads(r[9]), r[10])


# --- the regression gate ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """Limits a run must meet against its baseline; None switches a check off."""

    p50_ratio: float | None = 1.10
    """run p50 / baseline p50 must not exceed this."""
    p99_ratio: float | None = 1.25
    """run p99 / baseline p99 must not exceed this."""
    max_lost: int | None = 0
    """Lost messages allowed in the run."""
    throughput_ratio: float | None = 0.90
    """Each throughput direction's rate / baseline rate must be at least this."""

    @classmethod
    def parse(cls, text: str) -> Thresholds:
        """From "p50_ratio=1.1,p99_ratio=1.3,max_lost=0,throughput_ratio=0.9" (any subset; "off" disables)."""
        values: dict[str, float | int | None] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            if not sep or name not in cls.__dataclass_fields__:
                raise ThresholdError(f"bad threshold {part!r}; expected one of "
                                   f"{', '.join(cls.__dataclass_fields__)} as name=value")
            try:
                if value == "off":
                    values[name] = None
                else:
                    values[name] = int(value) if name == "max_lost" else float(value)
            except ValueError:
                raise ThresholdError(f"threshold {name} needs a number or 'off', got {value!r}") from None
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Check:
    """One threshold applied: what was compared, the limit, and whether it passed."""

    name: str
    run_value: float
    baseline_value: float | None
    measured: float
    """The ratio or count compared with the limit."""
    limit: float
    passed: bool
    at_most: bool = True
    """True: measured must be <= limit; False: measured must be >= limit."""

    def line(self) -> str:
        """Human-readable line for the console and CI logs."""
        base = "" if self.baseline_value is None else f" baseline {self.baseline_value:.3f}"
        word = "PASS" if self.passed else "FAIL"
        bound = f"{'<=' if self.at_most else '>='} {self.limit}"
        return f"{word} {self.name}: run {self.run_value:.3f}{base} -> {self.measured:.3f} (limit {bound})"


@dataclass(frozen=True)
class Verdict:
    """The gate's answer: every check, and pass only if all passed."""

    run_id: int
    baseline_id: int
    checks: tuple[Check, ...]
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)


def compare(run: RunRow, baseline: RunRow, thresholds: Thresholds) -> Verdict:
    """Apply the thresholds to run vs baseline; incomparable runs give notes, not silent passes."""
    checks: list[Check] = []
    notes: list[str] = []
    for row in (run, baseline):
        if row.summary.get("no_timing"):
            raise HistoryError(f"run {row.run_id} has no timing figures to compare "
                               f"({row.summary['no_timing']})")
    if run.kind != baseline.kind:
        raise HistoryError(f"run {run.run_id} is {run.kind} but baseline {baseline.run_id} "
                           f"is {baseline.kind}")
    if run.path != baseline.path:
        raise HistoryError(f"run {run.run_id} is on path {run.path} but baseline {baseline.run_id} is on "
                           f"path {baseline.path}: figures of different paths are not comparable")
    if run.target_kind != baseline.target_kind:
        notes.append(f"different target kind: {run.target_kind} vs {baseline.target_kind}")
    if run.kind == "latency":
        r, b = run.summary.get("rtt_us"), baseline.summary.get("rtt_us")
        if not r or not b:
            raise HistoryError(f"run {run.run_id} or baseline {baseline.run_id} has no round-trip samples")
        for key, limit in (("p50", thresholds.p50_ratio), ("p99", thresholds.p99_ratio)):
            if limit is None:
                continue
            ratio = r[key] / b[key] if b[key] > 0 else float("inf")
            checks.append(Check(f"{key}_ratio", r[key], b[key], ratio, limit, ratio <= limit))
        if thresholds.max_lost is not None:
            lost = float(run.summary.get("sequence", {}).get("lost", 0))
            checks.append(Check("lost", lost, None, lost, thresholds.max_lost, lost <= thresholds.max_lost))
    else:
        base_rates = {(t["direction"], t["payload_len"]): t["rate_per_s"]
                      for t in baseline.summary.get("throughput", [])}
        for t in run.summary.get("throughput", []):
            name = t["direction"] + (f"_{t['payload_len']}B" if t["unit"] == "bytes" else "")
            base = base_rates.get((t["direction"], t["payload_len"]))
            if base is None or thresholds.throughput_ratio is None:
                notes.append(f"{name}: no baseline figure")
                continue
            ratio = t["rate_per_s"] / base if base > 0 else float("inf")
            checks.append(Check(f"{name}_rate_ratio", t["rate_per_s"], base, ratio,
                                thresholds.throughput_ratio, ratio >= thresholds.throughput_ratio,
                                at_most=False))
    if run.summary.get("error"):
        notes.append(f"run {run.run_id} is incomplete, stopped by an error ({run.summary['error']}); "
                     "its figures cover fewer samples")
    elif run.interrupted:
        notes.append(f"run {run.run_id} was interrupted (Ctrl-C or SIGTERM); its figures cover fewer samples")
    return Verdict(run.run_id, baseline.run_id, tuple(checks), tuple(notes))

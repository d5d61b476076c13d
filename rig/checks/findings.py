"""A check's verdict: which spec clause, how bad, and a message naming the field and its value."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Severity(enum.StrEnum):
    """ERROR breaks a `shall` of the spec; WARNING is legal but unwise or host-dependent; INFO says
    which of several legal readings the device follows."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One observation: `clause` cites the spec (e.g. "USB 2.0 9.6.3"), `message` names field and value."""

    clause: str
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"[{self.severity}] {self.clause}: {self.message}"


def error(clause: str, message: str) -> Finding:
    """An ERROR finding."""
    return Finding(clause, Severity.ERROR, message)


def warning(clause: str, message: str) -> Finding:
    """A WARNING finding."""
    return Finding(clause, Severity.WARNING, message)


def info(clause: str, message: str) -> Finding:
    """An INFO finding."""
    return Finding(clause, Severity.INFO, message)


def errors(findings: Iterable[Finding]) -> list[Finding]:
    """Only the ERROR findings (what a conformance test fails on)."""
    return [f for f in findings if f.severity is Severity.ERROR]

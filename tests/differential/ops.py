"""One operation of a differential run, and how it reads as the pyusb call a person would type."""

from __future__ import annotations

from dataclasses import dataclass

CONTROL_TIMEOUT_MS = 1000
"""Control transfers on both boards answer within this (a STALL or data, never a timeout)."""


@dataclass(frozen=True)
class Op:
    """One step: `kind` names what runs.execute does, `args` its arguments (ints and bytes only)."""

    kind: str
    args: tuple[int | bytes, ...] = ()

    def as_python(self) -> str:
        """The step as Python on a pyusb device `dev` (a board opened as tests.differential does)."""
        hex_args = 2 if self.kind.startswith("ctrl") else 1  # endpoint, bmRequestType and bRequest in hex
        a = [f"0x{x:02X}" if isinstance(x, int) and i < hex_args else _literal(x)
             for i, x in enumerate(self.args)]
        t = CONTROL_TIMEOUT_MS
        if self.kind in ("ctrl_in", "ctrl_out"):
            return f"dev.ctrl_transfer({a[0]}, {a[1]}, {a[2]}, {a[3]}, {a[4]}, {t})"
        if self.kind == "write":
            return f"dev.write({a[0]}, {a[1]}, {a[2]})"
        if self.kind == "read":
            return f"dev.read({a[0]}, {a[1]}, {a[2]})"
        if self.kind == "drain":
            return f"drain(dev, {a[0]}, {a[1]}, {a[2]})  # read until a read times out"
        if self.kind == "console":
            return f"console(dev, {_literal(self.args[0])})  # EP_CDC_OUT, then EP_CDC_IN to the prompt"
        if self.kind == "source":
            return (f"dev.ctrl_transfer(0x40, {a[0]}, 0, 0, {a[1]}, {t}); "
                    f"drain(dev, {a[2]}, {a[3]})  # SOURCE: set, then read all it sends")
        if self.kind == "bus_reset":
            return "dev.reset()"
        raise ValueError(f"unknown op kind {self.kind}")

    def __str__(self) -> str:
        return self.as_python()


def _literal(value: int | bytes) -> str:
    if isinstance(value, int):
        return f"0x{value:02X}" if value >= 0x80 else str(value)
    return repr(value) if len(value) <= 96 else f"bytes.fromhex('{value.hex()}')"

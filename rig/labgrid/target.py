"""Target kind "labgrid": `labgrid:PLACE[,coordinator=HOST:PORT][,wait=SECONDS]`.

Opening acquires the place (waiting while someone else holds it), finds its RigBoard and, when the
board is attached to this host, opens the board's own target here (its spec from the exporter's
config) and hands out its handles. A board on another host cannot serve tests that run in this
process: the open fails saying so, and `rig test|run|latency|throughput --rig=labgrid:PLACE` runs the
command on that host instead (rig.labgrid.remote). Closing closes the board and always releases the
place.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from rig.errors import TargetError
from rig.labgrid.hosts import is_local
from rig.labgrid.place import Place
from rig.targets.factory import make_target
from rig.targets.registry import Target, TargetSpec, register

if TYPE_CHECKING:
    import usb.core

OPTIONS = ("coordinator", "wait")
DEFAULT_WAIT_S = 600.0


def place_options(spec: TargetSpec) -> tuple[str, str | None, float]:
    """PLACE, coordinator (None: LG_COORDINATOR or labgrid's default) and wait of a labgrid spec."""
    if not spec.arg:
        raise TargetError("labgrid: which place? use labgrid:PLACE[,coordinator=HOST:PORT][,wait=SECONDS]")
    name, *parts = spec.arg.split(",")
    options: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or key not in OPTIONS:
            raise TargetError(f"{spec}: unknown option {part!r} (known: {', '.join(OPTIONS)})")
        options[key] = value
    try:
        wait = float(options.get("wait", DEFAULT_WAIT_S))
    except ValueError:
        raise TargetError(f"{spec}: wait={options['wait']!r} is not a number of seconds") from None
    return name, options.get("coordinator"), wait


class LabgridTarget(Target):
    """A board in a labgrid place, used from this host while the place is held."""

    kind = "labgrid"

    def __init__(self, spec: TargetSpec) -> None:
        super().__init__(spec)
        name, coordinator, wait = place_options(spec)
        self.place = Place(name, coordinator, wait)
        self.inner: Target | None = None
        self.board_spec: str | None = None
        self.board_host: str | None = None
        self.features = frozenset()

    def open(self) -> None:
        if self.inner is not None:
            return
        self.place.acquire()
        try:
            driver = self.place.driver()
            self.board_spec, self.board_host = driver.spec, driver.host
            if not is_local(driver.host):
                raise TargetError(
                    f"{self.name}: the board ({driver.spec}) is attached to {driver.host}, and tests in this "
                    f"process cannot reach it; run `rig test --rig={self.spec}` (it runs the suite on "
                    f"{driver.host} and brings the report back)")
            inner = make_target(driver.spec)
            inner.open()
        except BaseException:
            with contextlib.suppress(TargetError):
                self.place.release()
            raise
        self.inner = inner
        self.features = frozenset(inner.features)
        self.midi_options = inner.midi_options

    def close(self) -> None:
        try:
            if self.inner is not None:
                self.inner.close()
        finally:
            self.inner = None
            self.place.release()

    def _opened(self) -> Target:
        if self.inner is None:
            raise TargetError(f"target {self.name} is not open")
        return self.inner

    def usb_device(self) -> usb.core.Device:
        return self._opened().usb_device()

    def midi_port_names(self) -> tuple[str, str]:
        return self._opened().midi_port_names()

    def console_port(self) -> str:
        return self._opened().console_port()

    def describe(self) -> dict[str, str]:
        facts = dict(self.inner.describe()) if self.inner is not None else {}
        facts.update({"labgrid place": self.place.name, "coordinator": self.place.coordinator,
                      "board spec": self.board_spec or "", "board host": self.board_host or ""})
        return facts

    def __getattr__(self, name: str) -> Any:
        """Anything else a test asks of the board's own target (its link, its JACK mode...)."""
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)


register("labgrid", LabgridTarget)

"""`rig test|run|latency|throughput --rig=labgrid:PLACE`: hold the place, run the same command on the
host its board is attached to (so no network hop enters a latency figure), bring the reports back,
and release the place on every way out (success, failure, Ctrl-C).

The measurements of a command run on another host go into a history file of their own there (inside
the report directory, RIG_HISTORY), never into the lab host's user's history; it comes back with the
reports for the client to import into its own history (rig.cli.remote_runs), and --baseline/--thresholds
are kept back to gate there, against the client's history, remote runs included."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rig.labgrid.hosts import is_local
from rig.labgrid.place import Place
from rig.labgrid.target import place_options
from rig.targets.registry import TargetSpec
from rig.tools.flash import check_uf2

COMMANDS = ("test", "run", "latency", "throughput")
REPORT_OPTION = {"test": "--rig-report", "run": "--report-dir", "latency": "--report-dir",
                 "throughput": "--report-dir"}
"""The option each command writes its reports under (test passes --rig-report on to pytest)."""
HISTORY_FILE = ".rig-history.sqlite"
"""The history file a remote command stores its runs in, in its report directory."""
KEPT_BACK = ("--history", "--baseline", "--thresholds")
"""Options of the measurement commands that name the client's history: applied here, not there."""


@dataclass
class RemoteRun:
    """What a command run on a place's board left for the client."""

    status: int
    """The command's exit status."""
    origin: str = ""
    """`labgrid:PLACE on HOST` when the command ran on another host, else empty (it ran here)."""
    history_file: Path | None = None
    """The runs it measured (a history file brought back with the reports), when it ran elsewhere."""
    kept: dict[str, str] | None = None
    """KEPT_BACK options given, by name (without the dashes), for the client to apply."""


def labgrid_spec(argv: list[str]) -> str | None:
    """The `--rig` value of `argv` when it names a labgrid place, else None."""
    for i, arg in enumerate(argv):
        value = arg.removeprefix("--rig=") if arg.startswith("--rig=") else (
            argv[i + 1] if arg == "--rig" and i + 1 < len(argv) else None)
        if value is not None and value.startswith("labgrid:"):
            return value
    return None


def take_option(argv: list[str], name: str) -> tuple[list[str], str | None]:
    """`argv` without option `name` (as `name=V` or `name V`), and its value."""
    rest: list[str] = []
    value: str | None = None
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
        elif arg == name and i + 1 < len(argv):
            value, skip = argv[i + 1], True
        else:
            rest.append(arg)
    return rest, value


def run_on_place(argv: list[str], say: Callable[[str], None] = print) -> RemoteRun:
    """Run `rig ARGV` (whose --rig names a labgrid place) where the place's board is."""
    spec_text = labgrid_spec(argv)
    if spec_text is None:
        raise ValueError("no --rig=labgrid:PLACE in the arguments")
    rest, _ = take_option(argv, "--rig")
    command = rest[0]
    name, coordinator, wait = place_options(TargetSpec.parse(spec_text))
    with Place(name, coordinator, wait, on_wait=say) as place:
        driver = place.driver()
        say(f"labgrid place {name}: {driver.spec} on {driver.host}")
        if is_local(driver.host):
            return RemoteRun(driver.run(rest))
        option = REPORT_OPTION[command]
        rest, local = take_option(rest, option)
        kept: dict[str, str] = {}
        if command in ("latency", "throughput"):
            for name_kept in KEPT_BACK:
                rest, value = take_option(rest, name_kept)
                if value is not None:
                    kept[name_kept.removeprefix("--")] = value
        local_dir = Path(local) if local else Path("reports") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        remote_dir = f"/tmp/rig-remote-{uuid.uuid4().hex}"
        status = driver.run([*rest, option, remote_dir], env={"RIG_HISTORY": f"{remote_dir}/{HISTORY_FILE}"})
        driver.fetch(remote_dir, local_dir)
        say(f"reports from {driver.host} copied to {local_dir}")
        history = local_dir / HISTORY_FILE
        return RemoteRun(status, f"labgrid:{name} on {driver.host}", history if history.is_file() else None,
                         kept)


def flash_place(spec_text: str, image: Path, say: Callable[[str], None] = print) -> str:
    """Hold the place of `spec_text` (labgrid:PLACE...), flash `image` onto its board through its
    RigBootselDrive (on the board's host), release the place; the last step's line. An image that is
    not a UF2 for the RP2040 is refused before the place is taken."""
    check_uf2(image)
    name, coordinator, wait = place_options(TargetSpec.parse(spec_text))
    with Place(name, coordinator, wait, on_wait=say) as place:
        driver = place.flash_driver()
        say(f"labgrid place {name}: flashing {image.name} onto {driver.board.spec} on {driver.drive.host}")
        return driver.flash(image, say=say)


def console_on_place(spec_text: str, command: str, timeout_s: float = 2.0,
                     say: Callable[[str], None] = print) -> str:
    """Hold the place of `spec_text`, send one console command to its board, release; the reply."""
    name, coordinator, wait = place_options(TargetSpec.parse(spec_text))
    with Place(name, coordinator, wait, on_wait=say) as place:
        return place.console_driver().command(command, timeout_s)

"""The client's side of a command run on a labgrid place's board on another host: the runs it
measured (the history file rig.labgrid.remote brings back with the reports) go into this machine's
history, marked with the place and host they came from, so `rig history` lists them and
`--baseline latest` compares against them; the kept-back --baseline gate is applied here."""

from __future__ import annotations

from rig.cli.measure_options import gate_run
from rig.labgrid.remote import RemoteRun
from rig.measure.history import History, HistoryError
from rig.measure.runner import wide_console


def finish_remote(result: RemoteRun) -> int:
    """Import the runs of `result` into the local history (--history, else RIG_HISTORY or the
    default) and gate them when --baseline was given; the command's exit status, 1 when the import
    or a gate failed."""
    if result.history_file is None:
        return result.status
    kept = result.kept or {}
    console = wide_console()
    failures: list[str] = []
    try:
        with History(kept.get("history")) as history:
            ids = history.import_runs(result.history_file, result.origin)
            console.print(f"history: {len(ids)} run(s) from {result.origin} stored as "
                          f"{', '.join(f'run {i}' for i in ids) or 'nothing'} in {history.path}")
            for run_id in ids if "baseline" in kept else []:
                failures += gate_run(history, run_id, kept["baseline"], kept.get("thresholds", ""), console)
    except HistoryError as exc:
        console.print(f"[bold red]history:[/] {exc}")
        failures.append(str(exc))
    finally:
        result.history_file.unlink(missing_ok=True)
    return result.status or (1 if failures else 0)

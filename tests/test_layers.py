"""rig/ in layers: imports run one way, from the contract up to the CLI and the pytest plugin.

errors, output -> interrupts -> contract -> links -> client, loopback, os_midi -> targets -> tools ->
labgrid -> miniport -> measure -> pytest_plugin -> cli. A module may import its own package and any
package of a lower layer; an import upward, or sideways into another package of the same layer, fails
naming both modules.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_import_cycles import import_graph

LAYERS: list[set[str]] = [
    {"rig.errors", "rig.output"},
    {"rig.interrupts"},
    {"rig.contract"},
    {"rig.checks"},
    {"rig.links"},
    {"rig.client", "rig.loopback", "rig.os_midi"},
    {"rig.targets"},
    {"rig.tools"},
    {"rig.labgrid"},
    {"rig.miniport"},
    {"rig.measure"},
    {"rig.pytest_plugin"},
    {"rig.cli"},
]
"""Each layer's packages (or top-level modules), lowest first."""


def owner(module: str) -> str:
    """The layer unit a module belongs to: `rig.<package>` (or the top-level module itself)."""
    return ".".join(module.split(".")[:2])


def layer_of(unit: str) -> int:
    for index, units in enumerate(LAYERS):
        if unit in units:
            return index
    raise KeyError(unit)


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes up a layer or sideways into another package of the same layer."""
    found = []
    for module, targets in sorted(graph.items()):
        if module == "rig":
            continue
        here = owner(module)
        for there in sorted({owner(t) for t in targets if t != "rig"} - {here}):
            if layer_of(there) >= layer_of(here):
                kind = "sideways" if layer_of(there) == layer_of(here) else "upward"
                found.append(f"{module} imports {there} ({kind}: {here} is layer {layer_of(here)}, "
                             f"{there} is layer {layer_of(there)})")
    return found


def test_every_rig_package_has_a_layer() -> None:
    units = {owner(m) for m in import_graph("rig") if m != "rig"}
    unplaced = sorted(u for u in units if not any(u in layer for layer in LAYERS))
    assert not unplaced, f"rig packages in no layer (add them to LAYERS): {unplaced}"


def test_rig_imports_run_one_way() -> None:
    problems = violations(import_graph("rig"))
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


@pytest.mark.parametrize(("source", "kind"), [
    ("from rig.cli import run_cmd\n", "upward"),
    ("from rig.loopback import twin\n", "sideways"),
])
def test_the_rule_catches_an_upward_or_sideways_import(tmp_path: Path, source: str, kind: str) -> None:
    """The checker itself: a client module importing the CLI, or the loopback, is reported."""
    for package in ("rig", "rig/client", "rig/cli", "rig/loopback"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "rig/cli/run_cmd.py").write_text("from rig.client import board\n")
    (tmp_path / "rig/loopback/twin.py").write_text("")
    (tmp_path / "rig/client/board.py").write_text(source)
    imported = source.split()[1]
    problems = violations(import_graph("rig", tmp_path))
    client = layer_of("rig.client")
    assert problems == [f"rig.client.board imports {imported} ({kind}: rig.client is layer {client}, "
                        f"{imported} is layer {layer_of(imported)})"]

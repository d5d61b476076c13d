"""udev rules: group access with MODE 0660 for board, BOOTSEL and console; never world-writable."""

from __future__ import annotations

import pytest

from rig import contract as c
from rig.cli import main
from rig.tools.udev import BadGroupName, render_rules


def _rules(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_rules_grant_the_group_0660_on_board_bootsel_and_tty() -> None:
    rules = _rules(render_rules("dialout"))
    assert len(rules) == 3
    for rule in rules:
        assert 'MODE="0660"' in rule and 'GROUP="dialout"' in rule
        assert "0666" not in rule
    assert f'ATTRS{{idVendor}}=="{c.VID:04x}", ATTRS{{idProduct}}=="{c.PID:04x}"' in rules[0]
    assert 'ATTRS{idVendor}=="2e8a", ATTRS{idProduct}=="0003"' in rules[1]
    assert rules[2].startswith('SUBSYSTEM=="tty"')


def test_rules_take_another_vid_pid() -> None:
    text = render_rules("plugdev", 0xCAFE, 0x4001)
    assert 'ATTRS{idVendor}=="cafe", ATTRS{idProduct}=="4001"' in text


@pytest.mark.parametrize("group", ["", "Bad Group", "1abc", "x" * 40, 'a"b', "plugdev\n", "plugdev\r"])
def test_bad_group_names_are_refused_naming_the_group(group: str) -> None:
    with pytest.raises(BadGroupName, match="not a valid Unix group"):
        render_rules(group)


def test_cli_prints_rules_and_defaults_to_plugdev(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["udev-rules"]) == 0
    out = capsys.readouterr().out
    assert 'GROUP="plugdev"' in out and "0666" not in out


def test_cli_bad_group_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["udev-rules", "--group", "No Such"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rig: error: group 'No Such' is not a valid Unix group") and err.count("\n") == 1


@pytest.mark.parametrize("vid", ["10000", "-1", "0x10000", "fffff"])
def test_cli_usb_id_out_of_range_is_a_clear_usage_error(vid: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["udev-rules", "--vid", vid])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{vid!r} is not a 16-bit hexadecimal USB ID (0000-ffff)" in err

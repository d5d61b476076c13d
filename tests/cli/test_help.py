"""Every `rig COMMAND --help` has a description and shows the defaults of its options (issue #17)."""

from __future__ import annotations

import argparse

import pytest

from rig.cli import build_parser


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(subparsers()))
def test_help_has_a_description_and_every_default(name: str) -> None:
    parser = subparsers()[name]
    text = " ".join(parser.format_help().split())
    assert parser.description and " ".join(parser.description.split())[:40] in text
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.default in (None, False, "", argparse.SUPPRESS):
            continue
        assert action.help, f"rig {name} {action.option_strings[0]} has no help"
        assert "default" in formatter._expand_help(action).lower(), action.option_strings


def test_throughput_help_says_what_it_measures_and_its_defaults() -> None:
    text = " ".join(subparsers()["throughput"].format_help().split())
    assert "Measure throughput on the target" in text
    assert "(default: 64,512,4096)" in text and "(default: 1000)" in text and "(default: all)" in text
    assert "(default: html)" in text

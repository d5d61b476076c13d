"""The contract is one source: the checked-in C header matches it and its layouts round-trip."""

from __future__ import annotations

import enum
from pathlib import Path

import pytest

from rig import contract as c
from rig.contract.c_header import HEADER_PATH, generate, member_docs

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_header_is_not_stale() -> None:
    checked_in = (ROOT / HEADER_PATH).read_text()
    assert checked_in == generate(), f"{HEADER_PATH} is stale: run `make header`"


@pytest.mark.parametrize("layout", c.LAYOUTS, ids=lambda layout: layout.name)
def test_layout_round_trips(layout: c.Layout) -> None:
    values: dict[str, int | bytes] = {}
    for i, (name, code, _) in enumerate(layout.fields):
        if code[:-1]:
            values[name] = bytes(range(i, i + int(code[:-1])))
        else:
            values[name] = i + 1
    packed = layout.pack(**values)
    assert len(packed) == layout.size
    assert layout.unpack(packed) == values


def test_layout_rejects_unknown_field_and_wrong_length() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        c.STATS.pack(no_such_counter=1)
    with pytest.raises(ValueError, match="need 40 bytes"):
        c.FRAME_HEADER.unpack(b"\0" * 39)
    with pytest.raises(ValueError, match="unique_id: need 8 bytes"):
        c.INFO.pack(unique_id=b"123")


def test_frame_header_size_is_8_aligned() -> None:
    assert c.FRAME_HEADER.size == 40


def test_bcd_device_encodes_version() -> None:
    assert c.bcd_device() == 0x0010


class _Documented(enum.IntEnum):
    """An enum as the contract writes them: each member's docstring under it."""

    FIRST = 1
    """The first, described
    over two lines."""
    SECOND = 2


def test_member_docs_reads_each_members_docstring_on_one_line() -> None:
    assert member_docs(_Documented) == {"FIRST": "The first, described over two lines."}


def test_header_states_what_every_code_means() -> None:
    header = generate()
    for enum_type in (c.Request, c.MidiMode, c.FrameMode, c.Capability, c.FrameFlag):
        for name, doc in member_docs(enum_type).items():
            assert f"_{name} = 0x{int(enum_type[name]):X}, /* {doc} */" in header
        assert set(member_docs(enum_type)) == {member.name for member in enum_type}

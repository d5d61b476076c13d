"""USB 2.0 9.6.7 string checks: our strings pass; an odd length, a wrong type, a missing LANGID table
and an index that names no string each fail."""

from __future__ import annotations

from rig.checks.parse import parse_configuration, parse_device
from rig.checks.strings import (
    StringRef,
    check_string,
    check_string0,
    check_strings,
    langids,
    string_references,
)
from rig.contract import descriptors

from .variants import UNIQUE_ID, error_list, flagged, good_config, good_device

CLAUSE = "USB 2.0 9.6.7"


def our_strings() -> tuple[bytes, dict[int, bytes | None], list[StringRef]]:
    """String 0, every referenced string by index, and the references, as our board answers them."""
    refs = string_references(parse_device(good_device()), parse_configuration(good_config()))
    strings: dict[int, bytes | None] = {r.index: descriptors.string_descriptor(r.index, UNIQUE_ID)
                                        for r in refs}
    return descriptors.string_descriptor(0, UNIQUE_ID), strings, refs


def test_our_strings_pass() -> None:
    string0, strings, refs = our_strings()
    assert langids(string0) == [0x0409]
    assert error_list(check_strings(string0, strings, refs)) == []


def test_odd_length_string_fails() -> None:
    good = descriptors.string_descriptor(2, UNIQUE_ID)
    broken = bytes([len(good) + 1, 3]) + good[2:] + b"\0"
    assert flagged(check_string(2, broken), CLAUSE, "is odd")


def test_string_with_wrong_type_or_length_fails() -> None:
    good = descriptors.string_descriptor(2, UNIQUE_ID)
    assert flagged(check_string(2, bytes([good[0], 4]) + good[2:]), CLAUSE, "bDescriptorType 0x04")
    assert flagged(check_string(2, bytes([good[0] - 2, 3]) + good[2:]), CLAUSE, "bLength")


def test_unpaired_surrogate_fails() -> None:
    assert flagged(check_string(1, bytes([4, 3, 0x00, 0xD8])), CLAUSE, "not UTF-16LE")


def test_langid_table_broken_or_missing_fails() -> None:
    assert flagged(check_string0(bytes([2, 3]), needed=True), CLAUSE, "LANGID table")
    assert flagged(check_string0(bytes([4, 3, 0, 0]), needed=True), CLAUSE, "LANGID 0x0000")
    assert flagged(check_string0(None, needed=True), CLAUSE, "missing")
    assert check_string0(None, needed=False) == []


def test_index_naming_no_string_fails() -> None:
    string0, strings, refs = our_strings()
    strings[2] = None  # the device STALLed iProduct
    assert flagged(check_strings(string0, strings, refs), CLAUSE, "iProduct names string 2")

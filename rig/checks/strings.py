"""String descriptor checks (USB 2.0 9.6.7): the LANGID table in string 0, UTF-16LE bodies of even
length, and every string index the other descriptors name exists."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rig.checks.findings import Finding, error, warning
from rig.checks.model import DT_STRING, Configuration, DeviceDescriptor


@dataclass(frozen=True)
class StringRef:
    """A non-zero string index and the field that names it."""

    index: int
    field: str


def string_references(dev: DeviceDescriptor, cfg: Configuration | None = None) -> list[StringRef]:
    """Every non-zero string index the device and configuration descriptors name (standard fields,
    plus USB-MIDI jacks' iJack), with the field that names it."""
    refs = [StringRef(dev.iManufacturer, "iManufacturer"), StringRef(dev.iProduct, "iProduct"),
            StringRef(dev.iSerialNumber, "iSerialNumber")]
    if cfg is not None:
        refs.append(StringRef(cfg.iConfiguration, "iConfiguration"))
        refs += [StringRef(iad.iFunction, f"IAD at offset {iad.offset} iFunction") for iad in cfg.iads]
        for alt in cfg.alt_settings:
            refs.append(StringRef(alt.iInterface, f"{alt.name} iInterface"))
            if (alt.bInterfaceClass, alt.bInterfaceSubClass) != (0x01, 0x03):
                continue
            for desc in alt.extra:
                if desc.dtype == 0x24 and desc.subtype == 0x02 and desc.length >= 6:
                    refs.append(StringRef(desc.data[5], f"{alt.name} MIDI IN jack {desc.data[4]} iJack"))
                elif desc.dtype == 0x24 and desc.subtype == 0x03 and desc.length >= 7:
                    refs.append(StringRef(desc.data[-1], f"{alt.name} MIDI OUT jack {desc.data[4]} iJack"))
    return [r for r in refs if r.index]


def langids(string0: bytes) -> list[int]:
    """The LANGID codes in string descriptor 0 (those whole two-byte codes inside bLength)."""
    end = min(len(string0), string0[0] if string0 else 0)
    return [int.from_bytes(string0[i:i + 2], "little") for i in range(2, end - 1, 2)]


def check_string0(string0: bytes | None, needed: bool) -> list[Finding]:
    """String 0 (USB 2.0 9.6.7): a LANGID table — type 3, even bLength >= 4 matching what came back,
    no LANGID 0. `needed`: some descriptor names a string, so the table must exist."""
    if string0 is None:
        return [error("USB 2.0 9.6.7", "string descriptor 0 (LANGID table) is missing, yet descriptors name "
                                       "strings")] if needed else []
    out: list[Finding] = []
    if len(string0) < 2:
        return [error("USB 2.0 9.6.7", f"string descriptor 0: {len(string0)} bytes returned")]
    if string0[1] != DT_STRING:
        out.append(error("USB 2.0 9.6.7", f"string descriptor 0: bDescriptorType 0x{string0[1]:02X}, "
                                          f"expected 0x03"))
    if string0[0] != len(string0):
        out.append(error("USB 2.0 9.6.7", f"string descriptor 0: bLength {string0[0]}, {len(string0)} bytes "
                                          f"returned"))
    if string0[0] < 4 or string0[0] % 2:
        out.append(error("USB 2.0 9.6.7", f"string descriptor 0: bLength {string0[0]}; a LANGID table is "
                                          f"2 + 2n bytes with n >= 1"))
    if 0 in langids(string0):
        out.append(error("USB 2.0 9.6.7", "string descriptor 0 lists LANGID 0x0000"))
    return out


def check_string(index: int, data: bytes) -> list[Finding]:
    """String `index` (> 0): type 3, bLength equal to the bytes returned and even, UTF-16LE text."""
    where = f"string descriptor {index}"
    if len(data) < 2:
        return [error("USB 2.0 9.6.7", f"{where}: {len(data)} bytes returned")]
    out: list[Finding] = []
    if data[1] != DT_STRING:
        out.append(error("USB 2.0 9.6.7", f"{where}: bDescriptorType 0x{data[1]:02X}, expected 0x03"))
    if data[0] != len(data):
        out.append(error("USB 2.0 9.6.7", f"{where}: bLength {data[0]}, {len(data)} bytes returned"))
    if data[0] % 2:
        out.append(error("USB 2.0 9.6.7", f"{where}: bLength {data[0]} is odd; UTF-16LE text is whole "
                                          f"code units"))
    body = data[2:data[0] - data[0] % 2] if data[0] <= len(data) else data[2:len(data) - len(data) % 2]
    try:
        text = body.decode("utf-16-le")
    except UnicodeDecodeError as exc:
        out.append(error("USB 2.0 9.6.7", f"{where}: not UTF-16LE ({exc.reason} at byte {exc.start + 2})"))
    else:
        if "\0" in text:
            out.append(warning("USB 2.0 9.6.7", f"{where}: text holds a NUL; strings are not NUL-terminated"))
    return out


def check_strings(string0: bytes | None, strings: Mapping[int, bytes | None],
                  refs: list[StringRef]) -> list[Finding]:
    """All string checks: the LANGID table, each fetched string (`None`: the device refused it), and
    every referenced index answered."""
    out = check_string0(string0, needed=bool(refs))
    for index, data in sorted(strings.items()):
        if data is not None:
            out += check_string(index, data)
    for ref in refs:
        if strings.get(ref.index) is None:
            out.append(error("USB 2.0 9.6.7", f"{ref.field} names string {ref.index}, which the device does "
                                              f"not return"))
    return out

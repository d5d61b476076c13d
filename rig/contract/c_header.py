"""Generates the firmware's C header from `rig.contract`, so the two sides cannot drift.

`python -m rig.contract.c_header > firmware/include/rig_contract.h` writes it; a test fails when the
checked-in header differs from what this module generates.
"""

from __future__ import annotations

import ast
import enum
import inspect
import itertools
import sys
import textwrap

from rig import contract as c
from rig.contract import descriptors
from rig.contract.ch9 import DT_CONFIGURATION, DT_ENDPOINT, DT_INTERFACE

HEADER_PATH = "firmware/include/rig_contract.h"

_CONSTANTS = (
    "CONTRACT_VERSION", "VID", "PID", "BCD_USB", "SERIAL_NUMBER_HEX_DIGITS",
    "STRING_INDEX_MANUFACTURER", "STRING_INDEX_PRODUCT", "STRING_INDEX_SERIAL", "STRING_INDEX_MIDI",
    "STRING_INDEX_VENDOR", "STRING_INDEX_CDC", "LANGID_EN_US",
    "EP0_SIZE", "BULK_PACKET_SIZE", "IF_AUDIO_CONTROL", "IF_MIDI_STREAMING", "IF_VENDOR",
    "IF_CDC_COMM", "IF_CDC_DATA", "NUM_INTERFACES", "EP_MIDI_OUT", "EP_MIDI_IN", "EP_FRAME_OUT",
    "EP_FRAME_IN", "EP_CDC_NOTIFY", "EP_CDC_OUT", "EP_CDC_IN", "CDC_NOTIFY_PACKET_SIZE",
    "CDC_NOTIFY_INTERVAL_MS", "MIDI_CABLES", "CONFIG_VALUE", "MAX_POWER_MA",
    "CLASS_AUDIO", "SUBCLASS_AUDIO_CONTROL", "SUBCLASS_MIDI_STREAMING", "CLASS_CDC",
    "SUBCLASS_CDC_ACM", "CLASS_CDC_DATA", "CLASS_VENDOR", "CLASS_MISC",
    "VENDOR_REQUEST_TYPE_IN", "VENDOR_REQUEST_TYPE_OUT",
    "FRAME_MAGIC", "FRAME_VERSION", "FRAME_MAX_PAYLOAD", "FRAME_RING_SLOTS",
    "FRAME_ALIGNMENT_MASK", "CONSOLE_BAUD_BOOTSEL",
)
_ENUMS: tuple[type[enum.IntEnum] | type[enum.IntFlag], ...] = (
    c.Request, c.MidiMode, c.FrameMode, c.Capability, c.FrameFlag,
)


def member_docs(enum_type: type[enum.Enum]) -> dict[str, str]:
    """Each member's docstring (the string under its assignment in the class body, as Sphinx reads
    it), on one line: the header states what every code and bit means, from the one source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(enum_type)))
    body = next(node for node in tree.body if isinstance(node, ast.ClassDef)).body
    docs: dict[str, str] = {}
    for stmt, after in itertools.pairwise(body):
        if isinstance(stmt, ast.Assign) and isinstance(after, ast.Expr) \
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            text = " ".join(after.value.value.split()).replace("*/", "* /")
            docs.update((target.id, text) for target in stmt.targets if isinstance(target, ast.Name))
    return docs


def _snake_upper(name: str) -> str:
    out = "".join("_" + ch if ch.isupper() and i else ch for i, ch in enumerate(name))
    return out.upper()


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _hex(data: bytes) -> str:
    return " ".join(f"0x{b:02X}," for b in data)


def _c_rows(name: str, size: str, rows: list[tuple[bytes, str]]) -> list[str]:
    """A C byte array written one row per descriptor or field group, each row's comment naming it."""
    out = [f"static const uint8_t {name}[{size}] __attribute__((unused)) = {{"]
    out += [f"    {_hex(data)} /* {what} */" for data, what in rows]
    out.append("};")
    return out


_DESCRIPTOR_NAMES = {
    DT_CONFIGURATION: "configuration", DT_INTERFACE: "interface", DT_ENDPOINT: "endpoint",
    descriptors.DT_INTERFACE_ASSOCIATION: "interface association",
    descriptors.DT_CS_INTERFACE: "class-specific interface",
    descriptors.DT_CS_ENDPOINT: "class-specific endpoint",
}


def _descriptor_rows(data: bytes) -> list[tuple[bytes, str]]:
    """Concatenated descriptors split by bLength, each named by its type (USB 2.0 9.5)."""
    rows = []
    pos = 0
    while pos < len(data):
        desc = data[pos:pos + data[pos]]
        what = _DESCRIPTOR_NAMES[desc[1]]
        if desc[1] == DT_INTERFACE:
            what += f" {desc[2]}"
        elif desc[1] == DT_ENDPOINT:
            what += f" {desc[2] & 0x0F} {'IN' if desc[2] & 0x80 else 'OUT'}"
        rows.append((desc, what))
        pos += len(desc)
    return rows


_FRAMING_GROUPS = (
    (12, "CountItems, PinFlags, OutputCompression.RatioNumerator"),
    (12, "OutputCompression.RatioDenominator, .RatioConstantMargin, PinWeight"),
    (16, "item 0: MemoryType"),
    (16, "item 0: BusType"),
    (12, "item 0: MemoryFlags, BusFlags, Flags"),
    (12, "item 0: Frames, FileAlignment, MemoryTypeWeight"),
    (12, "item 0: PhysicalRange: MinFrameSize, MaxFrameSize, Stepping"),
    (12, "item 0: FramingRange.Range: MinFrameSize, MaxFrameSize, Stepping"),
    (8, "item 0: FramingRange: InPlaceWeight, NotInPlaceWeight"),
)
"""KSALLOCATOR_FRAMING_EX with one KS_FRAMING_ITEM, by C struct member (host.avstream.framing)."""


def _framing_rows(data: bytes) -> list[tuple[bytes, str]]:
    rows = []
    pos = 0
    for size, what in _FRAMING_GROUPS:
        rows.append((data[pos:pos + size], what))
        pos += size
    if pos != len(data):
        raise ValueError(f"framing is {len(data)} bytes, the groups cover {pos}")
    return rows


def _byte_arrays() -> list[str]:
    """The descriptors and the framing as C byte arrays the firmware serves unchanged."""
    config = descriptors.config_descriptor()
    lines = ["/* USB descriptors, built by rig.contract.descriptors; the serial string is the flash "
              "unique ID. */"]
    lines += _c_rows("rig_device_descriptor", "18", [(descriptors.device_descriptor(), "device")])
    lines.append(f"#define RIG_CONFIG_DESCRIPTOR_LEN {len(config)}u")
    lines += _c_rows("rig_config_descriptor", "RIG_CONFIG_DESCRIPTOR_LEN", _descriptor_rows(config))
    lines.append("/* String texts by index (NULL: 0 is the LANGID list; the serial is built). */")
    count = max(c.STRINGS) + 1
    lines.append(f"#define RIG_STRING_COUNT {count}u")
    lines.append("static const char *const rig_strings[RIG_STRING_COUNT] __attribute__((unused)) = {")
    for index in range(count):
        text = c.STRINGS.get(index)
        lines.append(f"    {_c_string(text) if text is not None else 'NULL'}, /* {index} */")
    lines.append("};")
    framing = descriptors.framing_ex()
    lines.append("/* GET_FRAMING response: KSALLOCATOR_FRAMING_EX, one item (host.avstream serializer). */")
    lines.append(f"#define RIG_FRAMING_EX_LEN {len(framing)}u")
    lines += _c_rows("rig_framing_ex", "RIG_FRAMING_EX_LEN", _framing_rows(framing))
    lines.append("")
    return lines


def generate() -> str:
    """Return the complete text of rig_contract.h."""
    lines = [
        "/* rig_contract.h: the board's USB contract. GENERATED by `python -m rig.contract.c_header`",
        " * from rig/contract/__init__.py; do not edit (a test fails when this file is stale). */",
        "#ifndef RIG_CONTRACT_H",
        "#define RIG_CONTRACT_H",
        "",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
    ]
    for name in _CONSTANTS:
        value = getattr(c, name)
        lines.append(f"#define RIG_{name} 0x{value:X}u")
    major, minor, patch = c.FIRMWARE_VERSION
    lines += [
        f"#define RIG_FW_MAJOR {major}u",
        f"#define RIG_FW_MINOR {minor}u",
        f"#define RIG_FW_PATCH {patch}u",
        f"#define RIG_BCD_DEVICE 0x{c.bcd_device():04X}u",
        f"#define RIG_MANUFACTURER {_c_string(c.MANUFACTURER)}",
        f"#define RIG_PRODUCT {_c_string(c.PRODUCT)}",
        f"#define RIG_CONSOLE_PROMPT {_c_string(c.CONSOLE_PROMPT)}",
        f"#define RIG_CONSOLE_LOG_PREFIX {_c_string(c.CONSOLE_LOG_PREFIX)}",
    ]
    for index, text in sorted(c.STRINGS.items()):
        lines.append(f"#define RIG_STRING_{index} {_c_string(text)}")
    lines.append("")
    for enum_type in _ENUMS:
        prefix = "RIG_" + _snake_upper(enum_type.__name__)
        doc = (enum_type.__doc__ or "").strip().splitlines()[0]
        lines.append(f"/* {doc} */")
        lines.append("enum {")
        docs = member_docs(enum_type)
        for member in enum_type:
            if member.name not in docs:
                raise ValueError(f"{enum_type.__name__}.{member.name} has no docstring for the header")
            lines.append(f"    {prefix}_{member.name} = 0x{int(member):X}, /* {docs[member.name]} */")
        lines.append("};")
        lines.append("")
    for layout in c.LAYOUTS:
        type_name = f"rig_{layout.name}_t"
        lines.append(f"/* {layout.doc} */")
        lines.append("typedef struct __attribute__((packed)) {")
        for c_type, name, count, doc in layout.c_fields():
            suffix = f"[{count}]" if count is not None else ""
            lines.append(f"    {c_type} {name}{suffix}; /* {doc} */")
        lines.append(f"}} {type_name};")
        lines.append(f"_Static_assert(sizeof({type_name}) == {layout.size}, \"{layout.name} size\");")
        lines.append("")
    lines += _byte_arrays()
    lines.append("/* Console commands. */")
    for i, (command, doc) in enumerate(c.CONSOLE_COMMANDS.items()):
        lines.append(f"#define RIG_CONSOLE_CMD_{i} {_c_string(command)} /* {doc} */")
    lines.append(f"#define RIG_CONSOLE_CMD_COUNT {len(c.CONSOLE_COMMANDS)}u")
    lines += ["", "#endif /* RIG_CONTRACT_H */", ""]
    return "\n".join(lines)


def main() -> None:
    sys.stdout.write(generate())


if __name__ == "__main__":
    main()

"""USB-MIDI 1.0 descriptor checks (section 6, with the Audio 1.0 AC header of 4.3.2): the AC header
lists the MIDIStreaming interfaces, the MS header's version and wTotalLength, jack and element IDs
unique, every source pin exists, and each MS endpoint's class-specific descriptor lists existing
embedded jacks of the right direction."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from rig.checks.findings import Finding, error, info, warning
from rig.checks.model import (
    DT_CS_ENDPOINT,
    DT_CS_INTERFACE,
    TT_BULK,
    AltSetting,
    Configuration,
    Endpoint,
    RawDescriptor,
)

CLASS_AUDIO = 0x01
SUBCLASS_AUDIO_CONTROL, SUBCLASS_AUDIO_STREAMING, SUBCLASS_MIDI_STREAMING = 0x01, 0x02, 0x03
AC_HEADER = 0x01
MS_HEADER, MIDI_IN_JACK, MIDI_OUT_JACK, ELEMENT = 0x01, 0x02, 0x03, 0x04
MS_GENERAL = 0x01
JACK_EMBEDDED, JACK_EXTERNAL = 0x01, 0x02
BCD_MSC = 0x0100
KIND_NAMES = {MIDI_IN_JACK: "MIDI IN jack", MIDI_OUT_JACK: "MIDI OUT jack", ELEMENT: "element"}


@dataclass(frozen=True)
class Entity:
    """A jack or element of an MS interface: its kind (subtype), ID, jack type, sources and outputs."""

    kind: int
    entity_id: int
    jack_type: int | None
    sources: tuple[tuple[int, int], ...]
    """(baSourceID, BaSourcePin) pairs."""
    output_pins: int
    """Pins others may take from: 1 for a MIDI IN jack, 0 for an OUT jack, bNrOutputPins for an element."""
    raw: RawDescriptor

    @property
    def name(self) -> str:
        """E.g. "embedded MIDI IN jack 1", for messages."""
        kind = KIND_NAMES[self.kind]
        if self.jack_type == JACK_EMBEDDED:
            return f"embedded {kind} {self.entity_id}"
        if self.jack_type == JACK_EXTERNAL:
            return f"external {kind} {self.entity_id}"
        return f"{kind} {self.entity_id}"


@dataclass
class MidiStreaming:
    """One MS alternate setting's class-specific content, decoded as far as its bytes allow."""

    alt: AltSetting
    headers: list[RawDescriptor] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    """Layout problems met while decoding (lengths that do not fit the descriptor's counts)."""

    def by_id(self) -> dict[int, Entity]:
        """Entities by ID (the first of duplicates)."""
        out: dict[int, Entity] = {}
        for entity in self.entities:
            out.setdefault(entity.entity_id, entity)
        return out


def is_midi_streaming(alt: AltSetting) -> bool:
    """Audio class, MIDIStreaming subclass (USB-MIDI 1.0 6.1.1)."""
    return (alt.bInterfaceClass, alt.bInterfaceSubClass) == (CLASS_AUDIO, SUBCLASS_MIDI_STREAMING)


def is_audio_control(alt: AltSetting) -> bool:
    """Audio class, AudioControl subclass (Audio 1.0 4.3.1)."""
    return (alt.bInterfaceClass, alt.bInterfaceSubClass) == (CLASS_AUDIO, SUBCLASS_AUDIO_CONTROL)


def decode_midi_streaming(alt: AltSetting) -> MidiStreaming:
    """Decode the CS_INTERFACE descriptors of an MS alternate setting (USB-MIDI 1.0 6.1.2)."""
    ms = MidiStreaming(alt)
    for desc in alt.extra:
        if desc.dtype != DT_CS_INTERFACE or desc.length < 3:
            ms.findings.append(warning("USB-MIDI 1.0 6.1.2", f"{alt.name}: descriptor type "
                                                             f"0x{desc.dtype:02X} length {desc.length} at "
                                                             f"offset {desc.offset} is no MS class-specific "
                                                             f"descriptor"))
            continue
        entity = _entity(ms, desc)
        if desc.subtype == MS_HEADER:
            ms.headers.append(desc)
        elif entity is not None:
            ms.entities.append(entity)
    return ms


def _entity(ms: MidiStreaming, desc: RawDescriptor) -> Entity | None:
    where = f"{ms.alt.name} offset {desc.offset}"
    data = desc.data
    if desc.subtype == MIDI_IN_JACK:
        if desc.length != 6:
            ms.findings.append(error("USB-MIDI 1.0 6.1.2.2", f"{where}: MIDI IN jack bLength {desc.length}, "
                                                             f"expected 6"))
            if desc.length < 5:
                return None
        return Entity(MIDI_IN_JACK, data[4], data[3], (), 1, desc)
    if desc.subtype == MIDI_OUT_JACK:
        if desc.length < 6:
            ms.findings.append(error("USB-MIDI 1.0 6.1.2.3", f"{where}: MIDI OUT jack bLength {desc.length}, "
                                                             f"at least 7 expected"))
            return None
        pins = data[5]
        if desc.length != 7 + 2 * pins:
            ms.findings.append(error("USB-MIDI 1.0 6.1.2.3", f"{where}: MIDI OUT jack {data[4]} bLength "
                                                             f"{desc.length}, but bNrInputPins {pins} makes "
                                                             f"it {7 + 2 * pins}"))
        sources = _pairs(data, 6, pins)
        return Entity(MIDI_OUT_JACK, data[4], data[3], sources, 0, desc)
    if desc.subtype == ELEMENT:
        if desc.length < 5:
            ms.findings.append(error("USB-MIDI 1.0 6.1.2.4", f"{where}: element bLength {desc.length}"))
            return None
        pins = data[4]
        end = 5 + 2 * pins
        caps = data[end + 3] if len(data) > end + 3 else 0
        expected = 10 + 2 * pins + caps
        if desc.length != expected:
            ms.findings.append(error("USB-MIDI 1.0 6.1.2.4", f"{where}: element {data[3]} bLength "
                                                             f"{desc.length}, its counts make it {expected}"))
        outputs = data[end] if len(data) > end else 0
        return Entity(ELEMENT, data[3], None, _pairs(data, 5, pins), outputs, desc)
    if desc.subtype != MS_HEADER:
        ms.findings.append(warning("USB-MIDI 1.0 6.1.2", f"{where}: unknown MS descriptor subtype "
                                                         f"0x{desc.subtype or 0:02X}"))
    return None


def _pairs(data: bytes, start: int, count: int) -> tuple[tuple[int, int], ...]:
    """Up to `count` (ID, pin) pairs from `start`, as far as the bytes go."""
    return tuple((data[i], data[i + 1]) for i in range(start, min(start + 2 * count, len(data) - 1), 2))


def midi_streaming(cfg: Configuration) -> list[MidiStreaming]:
    """Every MS alternate setting of the configuration, decoded."""
    return [decode_midi_streaming(alt) for alt in cfg.alt_settings if is_midi_streaming(alt)]


def check_midi(cfg: Configuration) -> list[Finding]:
    """All USB-MIDI 1.0 descriptor checks of a configuration (none when it has no MS interface)."""
    streams = midi_streaming(cfg)
    if not streams:
        return []
    out = check_audio_control(cfg)
    for ms in streams:
        out += ms.findings
        out += check_ms_header(ms)
        out += check_entities(ms)
        out += check_ms_endpoints(ms)
    return out


def check_audio_control(cfg: Configuration) -> list[Finding]:
    """The AC header (Audio 1.0 4.3.2): present, bLength 8 + bInCollection, wTotalLength of the AC
    class-specific descriptors, and baInterfaceNr naming every MS interface and only streaming ones."""
    clause = "USB Audio 1.0 4.3.2"
    out: list[Finding] = []
    listed: set[int] = set()
    controls = [alt for alt in cfg.alt_settings if is_audio_control(alt)]
    if not controls:
        out.append(error("USB-MIDI 1.0 6.1", "MIDIStreaming interfaces, but no AudioControl interface "
                                             "owns them"))
    streaming = {alt.bInterfaceNumber for alt in cfg.alt_settings
                 if alt.bInterfaceClass == CLASS_AUDIO
                 and alt.bInterfaceSubClass in (SUBCLASS_AUDIO_STREAMING, SUBCLASS_MIDI_STREAMING)}
    for alt in controls:
        headers = [d for d in alt.extra if d.dtype == DT_CS_INTERFACE and d.subtype == AC_HEADER]
        if len(headers) != 1:
            out.append(error(clause, f"{alt.name}: {len(headers)} AC header descriptors, expected 1"))
            continue
        header = headers[0]
        if header.length < 8:
            out.append(error(clause, f"{alt.name}: AC header bLength {header.length} (< 8)"))
            continue
        bcd, total, count = struct.unpack_from("<HHB", header.data, 3)
        if bcd != 0x0100:
            out.append(warning(clause, f"{alt.name}: AC header bcdADC 0x{bcd:04X}, USB-MIDI 1.0 uses 0x0100"))
        if header.length != 8 + count:
            out.append(error(clause, f"{alt.name}: AC header bLength {header.length}, but bInCollection "
                                     f"{count} makes it {8 + count}"))
        cs_total = sum(d.length for d in alt.extra if d.dtype == DT_CS_INTERFACE)
        if total != cs_total:
            out.append(error(clause, f"{alt.name}: AC header wTotalLength {total}, its class-specific "
                                     f"descriptors are {cs_total} bytes"))
        numbers = list(header.data[8:8 + count])
        for number in numbers:
            if number not in streaming:
                out.append(error(clause, f"{alt.name}: baInterfaceNr lists interface {number}, which is no "
                                         f"AudioStreaming or MIDIStreaming interface"))
        listed.update(numbers)
    for number in sorted({alt.bInterfaceNumber for alt in cfg.alt_settings if is_midi_streaming(alt)}):
        if controls and number not in listed:
            out.append(error(clause, f"MIDIStreaming interface {number} is missing from the AC header's "
                                     f"baInterfaceNr {sorted(listed)}"))
    return out


def check_ms_header(ms: MidiStreaming) -> list[Finding]:
    """The MS header (USB-MIDI 1.0 6.1.2.1): exactly one, bLength 7, bcdMSC 1.00, and wTotalLength.

    The field's text counts the header plus every jack and element descriptor; the spec's own
    appendix B example also counts the MS endpoint descriptors. Either reading passes (an INFO
    finding says which one the device follows); any other value is an error."""
    clause = "USB-MIDI 1.0 6.1.2.1"
    name = ms.alt.name
    if len(ms.headers) != 1:
        return [error(clause, f"{name}: {len(ms.headers)} MS header descriptors, expected 1")]
    header = ms.headers[0]
    out: list[Finding] = []
    if header.length != 7:
        out.append(error(clause, f"{name}: MS header bLength {header.length}, expected 7"))
        if header.length < 7:
            return out
    bcd, total = struct.unpack_from("<HH", header.data, 3)
    if bcd != BCD_MSC:
        out.append(error(clause, f"{name}: bcdMSC 0x{bcd:04X}, expected 0x0100"))
    cs_interface = sum(d.length for d in ms.alt.extra if d.dtype == DT_CS_INTERFACE)
    endpoints = sum(ep.bLength + sum(d.length for d in ep.extra) for ep in ms.alt.endpoints)
    with_endpoints = cs_interface + endpoints
    if total == cs_interface:
        out.append(info(clause, f"{name}: MS header wTotalLength {total} counts header, jacks and elements "
                                f"(the field's text)"))
    elif total == with_endpoints:
        out.append(info(clause, f"{name}: MS header wTotalLength {total} also counts the endpoint "
                                f"descriptors (the spec's appendix B example)"))
    else:
        out.append(error(clause, f"{name}: MS header wTotalLength {total}; header + jacks + elements are "
                                 f"{cs_interface} bytes, and with the endpoint descriptors {with_endpoints}"))
    return out


def check_entities(ms: MidiStreaming) -> list[Finding]:
    """Jacks and elements (USB-MIDI 1.0 6.1.2.2-6.1.2.4): IDs non-zero and unique in the interface,
    jack types legal, every (baSourceID, BaSourcePin) names an existing output pin."""
    out: list[Finding] = []
    name = ms.alt.name
    seen: dict[int, Entity] = {}
    for entity in ms.entities:
        clause = _clause(entity.kind)
        if entity.entity_id == 0:
            out.append(error(clause, f"{name}: {entity.name} has ID 0 (undefined)"))
        other = seen.get(entity.entity_id)
        if other is not None:
            out.append(error(clause, f"{name}: ID {entity.entity_id} is used by both {other.name} and "
                                     f"{entity.name}"))
        seen.setdefault(entity.entity_id, entity)
        if entity.kind != ELEMENT and entity.jack_type not in (JACK_EMBEDDED, JACK_EXTERNAL):
            out.append(error(clause, f"{name}: {entity.name} bJackType {entity.jack_type}, expected 1 "
                                     f"(embedded) or 2 (external)"))
    by_id = ms.by_id()
    for entity in ms.entities:
        for source_id, pin in entity.sources:
            clause = _clause(entity.kind)
            source = by_id.get(source_id)
            if source is None:
                out.append(error(clause, f"{name}: {entity.name} baSourceID {source_id} names no jack or "
                                         f"element"))
            elif not 1 <= pin <= source.output_pins:
                out.append(error(clause, f"{name}: {entity.name} takes BaSourcePin {pin} of {source.name}, "
                                         f"which has {source.output_pins} output pin(s)"))
    return out


def _clause(kind: int) -> str:
    return {MIDI_IN_JACK: "USB-MIDI 1.0 6.1.2.2", MIDI_OUT_JACK: "USB-MIDI 1.0 6.1.2.3"}.get(
        kind, "USB-MIDI 1.0 6.1.2.4")


def endpoint_jacks(ep: Endpoint) -> Iterator[tuple[RawDescriptor, list[int]]]:
    """Each CS_ENDPOINT MS_GENERAL descriptor after `ep` and the jack IDs it lists (as far as bytes go)."""
    for desc in ep.extra:
        if desc.dtype == DT_CS_ENDPOINT and desc.subtype == MS_GENERAL and desc.length >= 4:
            yield desc, list(desc.data[4:4 + desc.data[3]])


def check_ms_endpoints(ms: MidiStreaming) -> list[Finding]:
    """MS data endpoints (USB-MIDI 1.0 6.2.1, 6.2.2): bulk, the 9-byte audio form, and one class-specific
    MS_GENERAL descriptor whose bNumEmbMIDIJack matches its list of existing embedded jacks — MIDI IN
    jacks for an OUT endpoint, MIDI OUT jacks for an IN endpoint."""
    out: list[Finding] = []
    by_id = ms.by_id()
    for ep in ms.alt.endpoints:
        where = f"{ms.alt.name} endpoint 0x{ep.bEndpointAddress:02X}"
        if ep.transfer_type != TT_BULK:
            out.append(error("USB-MIDI 1.0 6.2.1", f"{where}: {ep.type_name}, MS data endpoints are bulk"))
        if ep.bLength != 9:
            out.append(warning("USB-MIDI 1.0 6.2.1", f"{where}: bLength {ep.bLength}; the standard MS bulk "
                                                     f"endpoint descriptor is the 9-byte audio form"))
        general = list(endpoint_jacks(ep))
        others = [d for d in ep.extra if d.dtype == DT_CS_ENDPOINT and d.subtype != MS_GENERAL]
        short = [d for d in ep.extra
                 if d.dtype == DT_CS_ENDPOINT and d.subtype == MS_GENERAL and d.length < 4]
        for desc in others + short:
            out.append(error("USB-MIDI 1.0 6.2.2", f"{where}: CS_ENDPOINT descriptor at offset {desc.offset} "
                                                   f"is no MS_GENERAL descriptor (subtype {desc.subtype}, "
                                                   f"bLength {desc.length})"))
        if len(general) != 1:
            out.append(error("USB-MIDI 1.0 6.2.2", f"{where}: {len(general)} class-specific MS_GENERAL "
                                                   f"endpoint descriptors, expected 1"))
        wanted, word = (MIDI_OUT_JACK, "MIDI OUT") if ep.is_in else (MIDI_IN_JACK, "MIDI IN")
        for desc, jacks in general:
            count = desc.data[3]
            if desc.length != 4 + count:
                out.append(error("USB-MIDI 1.0 6.2.2", f"{where}: bNumEmbMIDIJack {count}, but bLength "
                                                       f"{desc.length} holds {desc.length - 4} jack IDs"))
            if count == 0:
                out.append(error("USB-MIDI 1.0 6.2.2", f"{where}: bNumEmbMIDIJack 0 associates no jack"))
            for jack_id in jacks:
                jack = by_id.get(jack_id)
                if jack is None:
                    out.append(error("USB-MIDI 1.0 6.2.2", f"{where}: baAssocJackID {jack_id} names no jack"))
                elif jack.kind != wanted or jack.jack_type != JACK_EMBEDDED:
                    out.append(error("USB-MIDI 1.0 6.2.2", f"{where}: baAssocJackID {jack_id} is the "
                                                           f"{jack.name}; an {'IN' if ep.is_in else 'OUT'} "
                                                           f"endpoint lists embedded {word} jacks"))
    return out


def cables_by_endpoint(cfg: Configuration) -> dict[int, int]:
    """Endpoint address -> how many cables its packets may name (its bNumEmbMIDIJack), for every MS
    endpoint with an MS_GENERAL descriptor (USB-MIDI 1.0 4: the cable number indexes that list)."""
    out: dict[int, int] = {}
    for alt in cfg.alt_settings:
        if is_midi_streaming(alt):
            for ep in alt.endpoints:
                for _desc, jacks in endpoint_jacks(ep):
                    out[ep.bEndpointAddress] = len(jacks)
    return out

"""What a USB device can do, read from its descriptors alone: MIDIStreaming interfaces with their
endpoints, max packet sizes, cables and jacks (USB-MIDI 1.0 section 6), CDC ACM ports (CDC 1.2
5.2.3 union descriptor) and vendor-specific interfaces. Nothing is assumed from VID:PID, so a
device the rig has never seen gets its suites from what it declares."""

from __future__ import annotations

from dataclasses import dataclass

from rig.checks.midi_descriptors import (
    JACK_EXTERNAL,
    MIDI_IN_JACK,
    MIDI_OUT_JACK,
    decode_midi_streaming,
    endpoint_jacks,
    is_audio_control,
    is_midi_streaming,
)
from rig.checks.model import (
    DT_CS_INTERFACE,
    TT_BULK,
    TT_INTERRUPT,
    AltSetting,
    Configuration,
    DeviceDescriptor,
)

CLASS_CDC, CLASS_CDC_DATA, CLASS_VENDOR = 0x02, 0x0A, 0xFF
CDC_SUBCLASS_ACM = 0x02
CDC_UNION = 0x06
"""CDC 1.2 table 13: the union functional descriptor (bMasterInterface, bSlaveInterface0...)."""


@dataclass(frozen=True)
class MidiEndpoint:
    """One MIDIStreaming data endpoint: address, transfer type, max packet size and its cables (the
    embedded jacks its MS_GENERAL descriptor lists; the cable number indexes that list, USB-MIDI 1.0 4)."""

    interface: int
    address: int
    transfer_type: int
    max_packet: int
    interval: int
    jacks: tuple[int, ...]

    @property
    def is_in(self) -> bool:
        """Device to host."""
        return bool(self.address & 0x80)

    @property
    def cables(self) -> int:
        """How many cables (0..15) the endpoint's packets may name."""
        return len(self.jacks)

    def __str__(self) -> str:
        kind = {TT_BULK: "bulk", TT_INTERRUPT: "interrupt"}.get(self.transfer_type, "other")
        return (f"{'IN' if self.is_in else 'OUT'} 0x{self.address:02X} {kind} {self.max_packet} B, "
                f"{self.cables} cable{'s' if self.cables != 1 else ''}")


@dataclass(frozen=True)
class MidiInterface:
    """A MIDIStreaming interface (alternate setting 0): its endpoints and how many external jacks
    (DIN sockets or other physical connectors) it declares in each direction."""

    number: int
    endpoints: tuple[MidiEndpoint, ...]
    external_in_jacks: int
    external_out_jacks: int


@dataclass(frozen=True)
class CdcPort:
    """A CDC ACM function: communication interface, its data interface and the data endpoints."""

    control_interface: int
    data_interface: int | None
    endpoints: tuple[int, ...]


@dataclass(frozen=True)
class DeviceCapabilities:
    """Everything a suite may rely on, from the device and first configuration descriptors."""

    vid: int
    pid: int
    bcd_device: int
    configuration_value: int
    midi: tuple[MidiInterface, ...]
    cdc: tuple[CdcPort, ...]
    vendor_interfaces: tuple[int, ...]
    audio_control_interfaces: tuple[int, ...]

    @property
    def ids(self) -> str:
        """"vvvv:pppp"."""
        return f"{self.vid:04x}:{self.pid:04x}"

    @property
    def is_usb_midi(self) -> bool:
        """A USB-MIDI 1.0 class device: at least one MIDIStreaming interface."""
        return bool(self.midi)

    def midi_endpoints(self) -> list[MidiEndpoint]:
        """Every MS data endpoint with an MS_GENERAL descriptor, in descriptor order."""
        return [ep for interface in self.midi for ep in interface.endpoints]

    def midi_pair(self) -> tuple[MidiEndpoint, MidiEndpoint] | None:
        """The first MS interface's (OUT, IN) endpoints when it has both; None otherwise."""
        for interface in self.midi:
            outs = [ep for ep in interface.endpoints if not ep.is_in]
            ins = [ep for ep in interface.endpoints if ep.is_in]
            if outs and ins:
                return outs[0], ins[0]
        return None

    def summary(self) -> str:
        """One line for `rig list`, reports and suite picking: MIDI endpoints and cables, CDC ports."""
        parts = []
        for interface in self.midi:
            eps = "; ".join(str(ep) for ep in interface.endpoints) or "no endpoints"
            parts.append(f"MIDI interface {interface.number} ({eps}; external jacks "
                         f"{interface.external_in_jacks} in / {interface.external_out_jacks} out)")
        parts += [f"CDC ACM interface {p.control_interface}" for p in self.cdc]
        if self.vendor_interfaces:
            parts.append("vendor interface " + ", ".join(map(str, self.vendor_interfaces)))
        return "; ".join(parts) or "no MIDI, CDC or vendor interfaces"


def _midi_interface(alt: AltSetting) -> MidiInterface:
    ms = decode_midi_streaming(alt)
    external = {kind: sum(1 for e in ms.entities if e.kind == kind and e.jack_type == JACK_EXTERNAL)
                for kind in (MIDI_IN_JACK, MIDI_OUT_JACK)}
    endpoints = []
    for ep in alt.endpoints:
        for _desc, jacks in endpoint_jacks(ep):
            endpoints.append(MidiEndpoint(alt.bInterfaceNumber, ep.bEndpointAddress, ep.transfer_type,
                                          ep.wMaxPacketSize & 0x7FF, ep.bInterval, tuple(jacks)))
            break
    return MidiInterface(alt.bInterfaceNumber, tuple(endpoints), external[MIDI_IN_JACK],
                         external[MIDI_OUT_JACK])


def _cdc_ports(alts: list[AltSetting], by_number: dict[int, AltSetting]) -> list[CdcPort]:
    ports = []
    for alt in alts:
        if (alt.bInterfaceClass, alt.bInterfaceSubClass) != (CLASS_CDC, CDC_SUBCLASS_ACM):
            continue
        data: int | None = None
        for desc in alt.extra:
            if desc.dtype == DT_CS_INTERFACE and desc.subtype == CDC_UNION and desc.length >= 5:
                slave = by_number.get(desc.data[4])
                if slave is not None and slave.bInterfaceClass == CLASS_CDC_DATA:
                    data = slave.bInterfaceNumber
        if data is None:  # no union descriptor: the next interface, when it is CDC data (common practice)
            nxt = by_number.get(alt.bInterfaceNumber + 1)
            data = nxt.bInterfaceNumber if nxt is not None and nxt.bInterfaceClass == CLASS_CDC_DATA else None
        eps = tuple(ep.bEndpointAddress for ep in by_number[data].endpoints) if data is not None else ()
        ports.append(CdcPort(alt.bInterfaceNumber, data, eps))
    return ports


def capabilities_of(dev: DeviceDescriptor, cfg: Configuration) -> DeviceCapabilities:
    """The capabilities `dev` and its configuration declare (alternate settings 0, what
    SET_CONFIGURATION makes active)."""
    alts = cfg.alt_zero()
    by_number = {alt.bInterfaceNumber: alt for alt in alts}
    return DeviceCapabilities(
        vid=dev.idVendor, pid=dev.idProduct, bcd_device=dev.bcdDevice,
        configuration_value=cfg.bConfigurationValue,
        midi=tuple(_midi_interface(alt) for alt in alts if is_midi_streaming(alt)),
        cdc=tuple(_cdc_ports(alts, by_number)),
        vendor_interfaces=tuple(alt.bInterfaceNumber for alt in alts if alt.bInterfaceClass == CLASS_VENDOR),
        audio_control_interfaces=tuple(alt.bInterfaceNumber for alt in alts if is_audio_control(alt)),
    )

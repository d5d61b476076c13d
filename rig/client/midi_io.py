"""The MIDI side of a board: SET/GET_MIDI_MODE, who owns the MIDI streaming interface (this host or
the OS MIDI driver), and raw USB-MIDI event packets on EP_MIDI_OUT / EP_MIDI_IN."""

from __future__ import annotations

import contextlib
import enum

import usb.core
import usb.util

from rig import contract as c
from rig.client.books import event_packets
from rig.client.control import DEFAULT_TIMEOUT_MS, BoardControl
from rig.client.errors import TransferTimeout
from rig.contract.modes import MidiModeConfig, ModeConfigError
from rig.links.pyusb_backend import cancel_reads

MIDI_PACKET_SIZE = 4
"""A USB-MIDI 1.0 event packet: cable/CIN byte and three MIDI bytes."""


class MidiOwner(enum.Enum):
    """Who reads and writes the board's MIDI streaming interface (one side at a time, as on a real host)."""

    UNDECIDED = "undecided"
    """Nothing decided yet: an OS driver bound to the interface keeps it until this Board needs it."""
    HOST = "host"
    """This Board claimed the interface (OS driver detached): raw USB-MIDI on EP_MIDI_OUT/EP_MIDI_IN."""
    OS = "os"
    """Left to the OS MIDI driver on purpose (`leave_midi_to_os`): MIDI goes through the OS ports."""



class MidiIo(BoardControl):
    """MIDI modes, the MIDI interface's ownership and raw USB-MIDI I/O."""

    def __init__(self, device: usb.core.Device, *, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
        self._detached: list[int] = []
        self._midi_owner = MidiOwner.UNDECIDED
        self.midi_used = False
        """True once this Board did raw USB-MIDI I/O or set a MIDI mode."""
        super().__init__(device, timeout_ms=timeout_ms)

    def set_midi_mode(self, mode: c.MidiMode | int, *, transpose: int = 0, rate_hz: int = 0,
                      count: int = 0, cable: int = 0) -> None:
        """SET_MIDI_MODE; arguments are checked here so a typo is a ValueError, not a STALL."""
        try:
            mode = c.MidiMode(mode)
        except ValueError:
            raise ValueError(f"set_midi_mode: {mode} is not a MidiMode "
                             f"({', '.join(m.name for m in c.MidiMode)})") from None
        if not -128 <= transpose <= 127:
            raise ValueError(f"set_midi_mode: transpose {transpose} is not in -128..127")
        cables = self.cached_info().midi_cables
        if not 0 <= cable < cables:
            raise ValueError(f"set_midi_mode: cable {cable} is not in 0..{cables - 1} ({self.name} has "
                             f"{cables} cable(s))")
        config = MidiModeConfig(mode, cable, transpose, rate_hz, count)
        try:
            config.check_source_rate()
        except ModeConfigError as exc:
            raise ModeConfigError(f"set_midi_mode: {exc}") from None
        if not 0 <= count < 2**32 or not 0 <= rate_hz < 2**32:
            raise ValueError(f"set_midi_mode: count {count} / rate_hz {rate_hz} out of u32 range")
        self.midi_used = True
        if mode is c.MidiMode.SOURCE and self._midi_owner is not MidiOwner.OS:
            # SOURCE makes the device send at once: whoever holds the MIDI interface gets the notes,
            # so take it before the request, not at the first read.
            self.claim_midi()
        self.control_out(c.Request.SET_MIDI_MODE, config.pack())

    def midi_mode(self) -> MidiModeConfig:
        """GET_MIDI_MODE, checked."""
        transfer = "control GET_MIDI_MODE (IN, endpoint 0x00)"
        raw = self.control_in(c.Request.GET_MIDI_MODE, c.MIDI_MODE_CONFIG.size)
        try:
            return MidiModeConfig.unpack(raw, {"cable": self.cached_info().midi_cables - 1})
        except ModeConfigError as exc:
            raise self._fail(transfer, str(exc)) from None

    @property
    def midi_owner(self) -> MidiOwner:
        """Who holds the MIDI streaming interface as far as this Board decided (see `claim_midi`)."""
        return self._midi_owner

    def claim_midi(self) -> None:
        """Take the MIDI streaming interface for raw USB-MIDI: detach the OS MIDI driver from it (as
        snd-usb-audio binds a real board's; the loopback's OS ports bind the same way) and claim it.

        Called for you before SET_MIDI_MODE(SOURCE) and before the first raw MIDI read or write, so the
        device's MIDI output reaches EP_MIDI_IN and not the OS ports; safe to call again. Raises
        TransferError naming the interface when the interface cannot be claimed."""
        self.midi_used = True
        if self._midi_owner is MidiOwner.HOST:
            return
        interface = c.IF_MIDI_STREAMING
        try:
            active = bool(self.device.is_kernel_driver_active(interface))
        except (NotImplementedError, usb.core.USBError):
            active = False  # a backend without OS drivers (or one that cannot tell): nothing to detach
        if active:
            self._call(f"detaching the OS driver from MIDI streaming interface {interface}",
                       lambda: self.device.detach_kernel_driver(interface))
            if interface not in self._detached:
                self._detached.append(interface)
        self._call(f"claiming MIDI streaming interface {interface}",
                   lambda: usb.util.claim_interface(self.device, interface))
        self._midi_owner = MidiOwner.HOST

    def leave_midi_to_os(self) -> None:
        """Give the MIDI streaming interface to the OS MIDI driver on purpose (tests through OS ports):
        release it, re-attach the driver this Board detached, and let SET_MIDI_MODE(SOURCE) no longer
        claim it. A later raw MIDI read or write (or `claim_midi`) takes it back. `unbalanced` then
        leaves EP_MIDI_IN to the OS side instead of draining it."""
        interface = c.IF_MIDI_STREAMING
        if self._midi_owner is MidiOwner.HOST:
            with contextlib.suppress(usb.core.USBError, NotImplementedError):
                usb.util.release_interface(self.device, interface)
        if interface in self._detached:
            self._call(f"re-attaching the OS driver to MIDI streaming interface {interface}",
                       lambda: self.device.attach_kernel_driver(interface))
            self._detached.remove(interface)
        self._midi_owner = MidiOwner.OS

    def write_midi_packets(self, data: bytes, timeout: int | None = None) -> int:
        """Write whole USB-MIDI event packets to EP_MIDI_OUT; returns packets written."""
        if len(data) % MIDI_PACKET_SIZE:
            raise ValueError(f"write_midi_packets: {len(data)} bytes is not a whole number of "
                             f"{MIDI_PACKET_SIZE}-byte packets")
        self.claim_midi()
        transfer = f"bulk write to EP_MIDI_OUT 0x{c.EP_MIDI_OUT:02x}"
        try:
            self._bulk_write(transfer, c.EP_MIDI_OUT, bytes(data), timeout)
        except TransferTimeout as exc:  # what was acknowledged is delivered: count it (protocol.md)
            if exc.transferred:
                self.host.midi_packets_tx += event_packets(bytes(data[:exc.transferred]))
            raise
        self.host.midi_packets_tx += event_packets(bytes(data))
        return len(data) // MIDI_PACKET_SIZE

    def read_midi_packets(self, timeout: int | None = None) -> bytes:
        """One bulk read from EP_MIDI_IN: whole event packets (CIN 0 padding included as received)."""
        self.claim_midi()
        transfer = f"bulk read from EP_MIDI_IN 0x{c.EP_MIDI_IN:02x}"
        data = bytes(self._call(transfer, lambda: self.device.read(
            c.EP_MIDI_IN, c.BULK_PACKET_SIZE, self._timeout(timeout))))
        if len(data) % MIDI_PACKET_SIZE:
            raise self._fail(transfer, f"{len(data)} bytes is not a whole number of packets")
        for i in range(0, len(data), MIDI_PACKET_SIZE):
            cable = data[i] >> 4
            if cable >= self.cached_info().midi_cables:
                raise self._fail(transfer, f"packet {i // MIDI_PACKET_SIZE} names cable {cable}, "
                                           f"the board has {self.cached_info().midi_cables}")
        self.host.midi_packets_rx += event_packets(data)
        return data

    def cancel_midi_reads(self) -> bool:
        """End a raw MIDI read another thread is waiting in now (it raises TransferTimeout), where the
        device's backend can (the loopback and the emulator); False where it cannot (libusb: the
        read runs to its timeout)."""
        return self._call(f"cancelling reads on EP_MIDI_IN 0x{c.EP_MIDI_IN:02x}",
                          lambda: cancel_reads(self.device, c.EP_MIDI_IN))

    def drain_midi(self, timeout: int = 100, limit: int = 10_000) -> bytes:
        """Read MIDI packets until none arrives for `timeout` ms; DeviceResponseError past `limit` reads."""
        got = bytearray()
        for _ in range(limit):
            try:
                got += self.read_midi_packets(timeout)
            except TransferTimeout:
                return bytes(got)
        raise self._fail(f"draining EP_MIDI_IN 0x{c.EP_MIDI_IN:02x}", f"still sending after {limit} reads")

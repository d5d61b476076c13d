"""Raw USB-MIDI 1.0 on any class-compliant device: MIDI bytes encoded as event packets onto its MS
OUT endpoint, packets read from its MS IN endpoint and parsed back into messages per cable. No
vendor request: this is how the rig talks MIDI to a device that is not ours.

`InterfaceClaim` takes only the interfaces the rig uses: an OS driver (snd-usb-audio, cdc_acm) is
detached from those alone and attached again on release, even when the test in between failed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Self

import usb.core
import usb.util

from host.midi.stream import MidiMessage
from host.midi.usbmidi import PACKET_SIZE, UsbMidiDecoder, UsbMidiEncoder
from rig.client.books import event_packets
from rig.errors import RigError
from rig.links.pyusb_backend import cancel_reads

DEFAULT_TIMEOUT_MS = 1000
READ_PACKETS = 1
"""A read asks for one max-size packet, as an OS driver's URBs do: a longer read of a device that sent
exactly full packets would wait for a short packet that never comes (libusb ends a transfer only at
a short packet, a full buffer or the timeout)."""


MARKER_HEAD = b"\xf0\x7dRIG-END"
"""A marker is a SysEx starting so (0x7D: the non-commercial ID, MIDI 1.0), then its sequence number as
three 7-bit bytes and F7: nothing else sends a SysEx like it, so the port keeps markers' echoes out of
`received` (`markers_back` has them)."""
MARKER_READ_MS = 200
"""The longest one read waits for a marker's echo; the read ends as soon as a transfer comes."""


class RawMidiError(RigError, OSError):
    """Claiming an interface, giving it back or a raw USB-MIDI transfer failed (the message says which)."""


class MarkerNotEchoed(RawMidiError, TimeoutError):
    """A device that should echo did not send the end marker back in time (`drain_to_marker`)."""


class InterfaceClaim:
    """Interfaces of a pyusb device claimed by the rig; an OS driver detached from them only, and
    attached again by `release` (which is safe to call twice and runs every step even if one fails)."""

    def __init__(self, device: usb.core.Device, interfaces: Iterable[int]) -> None:
        self.device = device
        self.interfaces = tuple(interfaces)
        self.detached: list[int] = []
        self.claimed: list[int] = []

    def acquire(self) -> None:
        """Detach the OS driver where one holds an interface, then claim each; on failure give back
        what was taken before raising RawMidiError."""
        try:
            for number in self.interfaces:
                try:
                    active = bool(self.device.is_kernel_driver_active(number))
                except (NotImplementedError, usb.core.USBError):
                    active = False  # no OS drivers on this backend (or it cannot tell)
                if active:
                    self.device.detach_kernel_driver(number)
                    self.detached.append(number)
                usb.util.claim_interface(self.device, number)
                self.claimed.append(number)
        except usb.core.USBError as exc:
            self.release()
            raise RawMidiError(f"claiming interface(s) {list(self.interfaces)} failed: {exc}") from None

    def release(self) -> None:
        """Release the claimed interfaces and re-attach every detached OS driver; the first error is
        raised after all were tried."""
        errors: list[str] = []
        while self.claimed:
            number = self.claimed.pop()
            try:
                usb.util.release_interface(self.device, number)
            except usb.core.USBError as exc:
                errors.append(f"releasing interface {number}: {exc}")
        while self.detached:
            number = self.detached.pop()
            try:
                self.device.attach_kernel_driver(number)
            except (usb.core.USBError, NotImplementedError) as exc:
                errors.append(f"re-attaching the OS driver of interface {number}: {exc}")
        if errors:
            raise RawMidiError("; ".join(errors))

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


class RawUsbMidi:
    """One MS interface's OUT and IN endpoints on `cable`: send MIDI bytes, receive messages.

    Every transfer received is also kept (`transfers`) so the event-packet checks can judge what the
    device sent. A background reader (`start_reader`) collects while a sender floods."""

    def __init__(self, device: usb.core.Device, interface: int, out_address: int, in_address: int,
                 in_max_packet: int, *, cable: int = 0, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
        self.device = device
        self.interface = interface
        self.out_address = out_address
        self.in_address = in_address
        self.in_max_packet = in_max_packet
        self.cable = cable
        self.timeout_ms = timeout_ms
        self.encoder = UsbMidiEncoder(cable)
        self.decoder = UsbMidiDecoder()
        self.transfers: list[bytes] = []
        self.received: list[tuple[int, MidiMessage]] = []
        self.packets_sent = 0
        self.packets_read = 0
        """Event packets read since the port opened (CIN 0 padding excluded, as a device counts them);
        `clear` keeps it."""
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self._reader_error: BaseException | None = None
        self._markers = 0
        self.markers_back: list[bytes] = []
        """The markers that came back on `cable`, in order (`drain_to_marker`); `clear` keeps them."""

    # --- sending ---

    def send(self, data: bytes) -> int:
        """Encode MIDI bytes (any chunking; running status and real-time bytes allowed) and write the
        packets they determine; returns the packets sent."""
        return self.send_packets(self.encoder.encode(data))

    def send_packets(self, packets: bytes) -> int:
        """Write event packets as one bulk transfer; RawMidiError on a failed or short write."""
        if not packets:
            return 0
        try:
            written = int(self.device.write(self.out_address, packets, self.timeout_ms))
        except usb.core.USBError as exc:
            raise RawMidiError(f"writing {len(packets) // PACKET_SIZE} packet(s) to endpoint "
                               f"0x{self.out_address:02X} failed: {exc}") from None
        if written != len(packets):
            raise RawMidiError(f"endpoint 0x{self.out_address:02X} took {written} of {len(packets)} bytes")
        self.packets_sent += len(packets) // PACKET_SIZE
        return len(packets) // PACKET_SIZE

    def write_midi_packets(self, data: bytes, timeout: int | None = None) -> int:
        """Whole event packets to the OUT endpoint (rig.measure's BoardMidi slice); packets written."""
        return self.send_packets(bytes(data))

    def read_midi_packets(self, timeout: int | None = None) -> bytes:
        """One IN transfer of raw event packets (rig.measure's BoardMidi slice); USBTimeoutError when
        nothing came within `timeout` ms, as a Board raises it."""
        wait = self.timeout_ms if timeout is None else timeout
        return bytes(self.device.read(self.in_address, self.in_max_packet * READ_PACKETS, wait))

    # --- receiving ---

    def read_once(self, timeout_ms: int) -> list[tuple[int, MidiMessage]]:
        """One IN transfer (empty on timeout): its messages, also appended to `received`; a marker's
        echo goes to `markers_back` instead."""
        try:
            data = bytes(self.device.read(self.in_address, self.in_max_packet * READ_PACKETS, timeout_ms))
        except usb.core.USBTimeoutError:
            return []
        except usb.core.USBError as exc:
            raise RawMidiError(f"reading endpoint 0x{self.in_address:02X} failed: {exc}") from None
        messages = self.decoder.messages(data)
        markers = [msg.data for cable, msg in messages if cable == self.cable and msg.data[:9] == MARKER_HEAD]
        if markers:
            messages = [(cable, msg) for cable, msg in messages
                        if not (cable == self.cable and msg.data[:9] == MARKER_HEAD)]
        with self._cv:
            self.packets_read += event_packets(data)
            self.transfers.append(data)
            self.received.extend(messages)
            self.markers_back += markers
            self._cv.notify_all()
        return messages

    def receive(self, count: int, timeout_s: float) -> list[tuple[int, MidiMessage]]:
        """Wait until `count` messages in all were received (reading here unless a reader runs), or
        `timeout_s` passed; returns everything received so far."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._cv:
                if len(self.received) >= count:
                    return list(self.received)
                left = deadline - time.monotonic()
                if left <= 0:
                    return list(self.received)
                if self._reader is not None:
                    if self._reader_error is not None:
                        raise RawMidiError(f"reader failed: {self._reader_error}")
                    self._cv.wait(left)
                    continue
            self.read_once(max(1, min(int(left * 1000), 200)))

    def drain_to_marker(self, timeout_s: float) -> int:
        """For a device that echoes: send a marker SysEx (a new sequence number each time) and read
        until it comes back; the messages read meanwhile (then forgotten from `received`; their
        transfers stay in `transfers`). The positive end of a drain: an echo keeps the stream's order
        (MIDI 1.0), so all the device held when the marker arrived has come back, held-back messages
        included, with no quiet window to wait out. MarkerNotEchoed after `timeout_s`."""
        marker = self._next_marker()
        self.send(marker)
        deadline = time.monotonic() + timeout_s
        got = 0
        while marker not in self.markers_back:
            left = deadline - time.monotonic()
            if left <= 0:
                self._forget_messages()
                raise MarkerNotEchoed(f"the end marker ({marker.hex()}) did not come back on cable "
                                      f"{self.cable} within {timeout_s:.1f} s ({got} other message(s) read)")
            got += len(self.read_once(max(1, min(int(left * 1000), MARKER_READ_MS))))
        self._forget_messages()
        return got

    def _next_marker(self) -> bytes:
        self._markers += 1
        number = self._markers
        return MARKER_HEAD + bytes(((number >> 14) & 0x7F, (number >> 7) & 0x7F, number & 0x7F, 0xF7))

    def clear(self) -> None:
        """Forget what was received (the decoder's per-cable state too)."""
        with self._cv:
            self.received.clear()
            self.transfers.clear()
            self.decoder.reset()

    def _forget_messages(self) -> None:
        """Forget the messages received, keeping the transfers (the record of what the device sent,
        for the event-packet checks) and the decoder's state."""
        with self._cv:
            self.received.clear()

    def start_reader(self) -> None:
        """Read in a thread until `stop_reader` (so a flood's echoes never back up into the device)."""
        def loop() -> None:
            try:
                while not self._stop.is_set():
                    self.read_once(50)
            except BaseException as exc:  # reported to receive()
                with self._cv:
                    self._reader_error = exc
                    self._cv.notify_all()
        self._stop.clear()
        self._reader = threading.Thread(target=loop, name="raw usb-midi reader", daemon=True)
        self._reader.start()

    def stop_reader(self) -> None:
        """Stop and join the reader thread (its waiting read cancelled on the loopback and the emulator,
        else it ends at its own timeout); safe when none runs."""
        reader, self._reader = self._reader, None
        if reader is not None:
            self._stop.set()
            cancel_reads(self.device, self.in_address)  # its waiting read ends now where the backend can
            reader.join(timeout=5)
        if self._reader_error is not None:
            error, self._reader_error = self._reader_error, None
            raise RawMidiError(f"reader failed: {error}")

    def close(self) -> None:
        """Stop the reader (its errors are dropped here: the test already saw them)."""
        with contextlib.suppress(RawMidiError):
            self.stop_reader()

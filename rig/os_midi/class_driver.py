"""The rig's USB-MIDI class driver: "the OS driver" for devices the OS has no driver for (the
emulated firmware, the software loopback). It binds the MIDI interfaces as snd-usb-audio binds a
real board's, reads EP_MIDI_IN on a thread and plays every decoded message on a python-rtmidi
virtual output, and writes every message from a virtual input to EP_MIDI_OUT as USB-MIDI packets.

`BoundLink` is the device as other users see it while the driver is bound: the same UsbLink, plus
`kernel_driver_active` / `detach_kernel_driver` / `attach_kernel_driver`, which rig.links.pyusb_backend
turns into pyusb's EBUSY-until-detached behaviour. Detaching the MIDI streaming interface unbinds
the driver (it stops touching the endpoints); attaching binds it again.

Input is polled from our own thread, never a python-rtmidi callback (on JACK a callback runs in the
process cycle, and an overrun cycle loses events).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import threading
from dataclasses import dataclass, fields
from typing import Any

from host.midi import MidiValueError, UsbMidiDecoder, encode_message
from rig import contract as c
from rig.contract.ch9 import GET_CONFIGURATION, SET_CONFIGURATION
from rig.links.usb_link import ForwardingLink, LinkGone, LinkStall, LinkTimeout, UsbLink, UsbLinkError
from rig.os_midi import jack_ports
from rig.os_midi.input_queue import INPUT_QUEUE_LIMIT, QueueWatch
from rig.os_midi.quiet import quietly

POLL_INTERVAL_S = 0.001
"""How long the writer thread sleeps when the virtual input is empty, at least (see `cycle_s`)."""
READ_LENGTH = 8 * c.BULK_PACKET_SIZE
"""Bytes asked for per EP_MIDI_IN read (the device ends a transfer with a short packet)."""
READ_TIMEOUT_MS = 100
WRITE_CHUNK = 8 * c.BULK_PACKET_SIZE
"""At most this many bytes of packets per EP_MIDI_OUT transfer."""
WRITE_TIMEOUT_MS = 1000
RETRY_S = 0.02
"""Pause after a STALL (device unconfigured or reset) before the next try."""
CONTROL_TIMEOUT_MS = 1000
CANCEL_AGAIN_S = 0.005
"""While unbinding: how long to wait for the reader to let go before cancelling its read again."""
BOUND_INTERFACES = (c.IF_AUDIO_CONTROL, c.IF_MIDI_STREAMING)
"""What the driver holds, as snd-usb-audio holds the audio control and MIDI streaming interfaces."""
_instances = itertools.count(1)


class ClassDriverError(UsbLinkError):
    """A detach/attach the driver's state does not allow (errno says ENOENT or EBUSY, as libusb)."""


@dataclass
class DriverCounters:
    """What crossed the driver, both ways: every message is counted where it entered and where it left."""

    messages_from_os: int = 0
    """Messages taken from the virtual input."""
    packets_to_device: int = 0
    """USB-MIDI packets the device accepted on EP_MIDI_OUT."""
    unencodable: int = 0
    """Virtual-input messages that are not valid MIDI (dropped: they have no USB-MIDI form)."""
    discarded_unbound: int = 0
    """Virtual-input messages that arrived while the driver was detached (no device to send to)."""
    discarded_unbound_packets: int = 0
    """Packets already encoded when the driver was detached (dropped with the binding)."""
    packets_from_device: int = 0
    """USB-MIDI event packets read from EP_MIDI_IN (padding excluded)."""
    messages_to_os: int = 0
    """Messages played on the virtual output."""
    write_retries: int = 0
    """EP_MIDI_OUT transfers retried after a NAK timeout or STALL (nothing is dropped; after a timeout
    only the part the device did not acknowledge is sent again)."""
    write_timeouts_unknown: int = 0
    """Timed-out EP_MIDI_OUT transfers whose acknowledged part the link could not tell (retried whole:
    a packet may then arrive twice, and the books check shows it)."""
    read_errors: int = 0
    """EP_MIDI_IN reads that stalled or failed (device unconfigured or reset)."""
    input_queue_full: int = 0
    """Times the writer thread found the virtual input's RtMidi queue full (messages may have been
    dropped there, by the host: rig.os_midi.input_queue)."""

    def as_dict(self) -> dict[str, int]:
        """Every counter by name."""
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}


class UsbMidiClassDriver:
    """Binds a device's MIDI interfaces over `link` and gives them python-rtmidi virtual ports on `api`.

    Hosts send to `input_name` and listen on `output_name` (see `port_names`). `close` stops both
    threads and deletes the ports; safe to call twice.
    """

    def __init__(self, link: UsbLink, api: int, *, label: str, tag: str = "", cable: int = 0,
                 cycle_s: float | None = None) -> None:
        """`label` names the device in port names ("emulator" -> "rig emulator MIDI in (rig class
        driver)"); `tag` (e.g. the serial's tail) keeps JACK client names unique per device. `cycle_s`,
        the JACK cycle of `api`'s server when known: JACK hands MIDI to an input only as a cycle
        starts, so the writer polls the virtual input once a cycle (every POLL_INTERVAL_S at least);
        polling a 256-frame server every 1 ms found nothing new four times in five."""
        import rtmidi

        if not label or any(ch in label for ch in ":\n"):
            raise ValueError(f"label {label!r}: needs a name without ':' or newlines")
        if not 0 <= cable < c.MIDI_CABLES:
            raise ValueError(f"cable {cable} out of range (the device has {c.MIDI_CABLES})")
        self.link = link
        self.api = api
        self.cable = cable
        self.counters = DriverCounters()
        self.poll_s = max(POLL_INTERVAL_S, cycle_s or 0.0)
        """How long the writer sleeps when the virtual input is empty."""
        self.error = ""
        """Why a thread gave up (the device went away), empty while all is well."""
        client = f"rig-{label}-{tag + '-' if tag else ''}{os.getpid()}-{next(_instances)}".replace(" ", "-")
        self.client = client
        """Unique per driver: JACK renames a second client of the same name, and ports looked up by the
        first name would then reach another device's ports."""
        in_port = f"rig {label} MIDI in (rig class driver)"
        out_port = f"rig {label} MIDI out (rig class driver)"
        self._read_lock = threading.Lock()
        """Held around each EP_MIDI_IN read: unbinding waits for the read in flight."""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Ended by close() at the latest when the process exits or gets SIGTERM (rig.os_midi.jack_ports).
        self._in: Any = jack_ports.open_client(lambda: quietly(lambda: rtmidi.MidiIn(
            rtapi=api, name=f"{client}-in", queue_size_limit=INPUT_QUEUE_LIMIT)), closer=self.close)
        try:
            self._out: Any = jack_ports.open_client(
                lambda: quietly(lambda: rtmidi.MidiOut(rtapi=api, name=f"{client}-out")), closer=self.close)
        except BaseException:
            jack_ports.close(self._in)
            raise
        try:
            self._in.ignore_types(sysex=False, timing=False, active_sense=False)
            jack_ports.call(self._in, "open_virtual_port", in_port)
            jack_ports.call(self._out, "open_virtual_port", out_port)
        except BaseException:
            self._delete_ports()
            raise
        self.input_name = f"{client}-in:{in_port}"
        self.output_name = f"{client}-out:{out_port}"
        try:
            self._configure()
        except BaseException:
            self._delete_ports()
            raise
        self._decoder = UsbMidiDecoder()
        self._detached: set[int] = set()
        self._state = threading.Lock()
        self._bound = threading.Event()
        self._bound.set()
        self._write_lock = threading.Lock()
        self._threads += [
            threading.Thread(target=self._read_loop, name=f"class driver {client} EP_MIDI_IN", daemon=True),
            threading.Thread(target=self._write_loop, name=f"class driver {client} EP_MIDI_OUT", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _configure(self) -> None:
        """SET_CONFIGURATION when the device is unconfigured, as the OS does at enumeration before it
        binds class drivers (a device that is gone or stalls is left as it is: the reader retries)."""
        try:
            current = self.link.control(0x80, GET_CONFIGURATION, 0, 0, 1, CONTROL_TIMEOUT_MS)
            if isinstance(current, bytes | bytearray) and current[:1] == b"\0":
                self.link.control(0x00, SET_CONFIGURATION, c.CONFIG_VALUE, 0, b"", CONTROL_TIMEOUT_MS)
        except UsbLinkError:
            pass

    # --- what hosts and reports see -----------------------------------------------------------

    def port_names(self) -> tuple[str, str]:
        """(port a host sends to, port a host listens on), as substrings of rtmidi's port names."""
        return self.input_name, self.output_name

    @property
    def bound(self) -> bool:
        """True while the driver owns the MIDI streaming interface (not detached, not closed)."""
        return self._bound.is_set() and not self._stop.is_set()

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        """The reader and writer threads (for tests proving they end on close)."""
        return tuple(self._threads)

    # --- the kernel-driver view (what BoundLink exposes) ---------------------------------------

    def active_on(self, interface: int) -> bool:
        """True while the driver holds `interface`."""
        with self._state:
            return (not self._stop.is_set() and interface in BOUND_INTERFACES
                    and interface not in self._detached)

    def detach(self, interface: int) -> None:
        """Unbind from `interface`; detaching MIDI streaming stops all endpoint I/O before returning."""
        with self._state:
            if self._stop.is_set() or interface not in BOUND_INTERFACES or interface in self._detached:
                raise ClassDriverError(errno.ENOENT, f"no OS driver is bound to interface {interface}")
            self._detached.add(interface)
            if interface == c.IF_MIDI_STREAMING:
                self._bound.clear()
        if interface == c.IF_MIDI_STREAMING:
            self._end_read()
            with self._write_lock:
                pass  # the transfers in flight have finished; none start while unbound

    def attach(self, interface: int) -> None:
        """Bind `interface` again; EBUSY when the driver already holds it, ENOENT for other interfaces."""
        with self._state:
            if self._stop.is_set() or interface not in BOUND_INTERFACES:
                raise ClassDriverError(errno.ENOENT, f"the rig class driver does not drive interface "
                                                     f"{interface}")
            if interface not in self._detached:
                raise ClassDriverError(errno.EBUSY, f"interface {interface} already has its OS driver")
            self._detached.discard(interface)
            if interface == c.IF_MIDI_STREAMING:
                self._decoder.reset()
                self._bound.set()

    def _end_read(self) -> None:
        """Return once no EP_MIDI_IN read is in flight, cancelling the one waiting (as a kernel driver
        kills its URBs when it unbinds) instead of waiting out its timeout. The reader checks the
        binding before it reads, so cancelling again covers a read that started just after a cancel;
        a link that cannot cancel is waited out."""
        cancel = getattr(self.link, "cancel_reads", None)
        if cancel is None:
            with self._read_lock:
                return
        while not self._read_lock.acquire(blocking=False):
            with contextlib.suppress(UsbLinkError):  # the device is gone: its read ends by itself
                cancel(c.EP_MIDI_IN)
            if self._read_lock.acquire(timeout=CANCEL_AGAIN_S):
                break
        self._read_lock.release()

    # --- the threads ----------------------------------------------------------------------------

    def _fail(self, why: str) -> None:
        if not self.error:
            self.error = why

    def _read_loop(self) -> None:
        """EP_MIDI_IN -> decoded messages -> the virtual output, while bound, until close."""
        stop = self._stop
        while not stop.is_set():
            if not self._bound.wait(0.05):
                continue
            with self._read_lock:
                if not self._bound.is_set() or stop.is_set():
                    continue
                try:
                    data = self.link.read(c.EP_MIDI_IN, READ_LENGTH, READ_TIMEOUT_MS)
                except LinkTimeout:
                    continue
                except LinkGone as exc:
                    self._fail(f"EP_MIDI_IN: the device is gone ({exc})")
                    return
                except (LinkStall, UsbLinkError):
                    self.counters.read_errors += 1
                    stop.wait(RETRY_S)
                    continue
                self.counters.packets_from_device += self._event_packets(data)
                for cable, message in self._decoder.messages(data):
                    if cable == self.cable:
                        self._out.send_message(list(message.data))
                        self.counters.messages_to_os += 1

    @staticmethod
    def _event_packets(data: bytes) -> int:
        """Packets in `data` that are not all-zero padding."""
        return sum(1 for i in range(0, len(data) - 3, 4) if data[i:i + 4] != b"\0\0\0\0")

    def _write_loop(self) -> None:
        """The virtual input -> USB-MIDI packets -> EP_MIDI_OUT, until close."""
        stop = self._stop
        get_message = self._in.get_message
        poll_s = self.poll_s
        pending = bytearray()
        watch = QueueWatch(INPUT_QUEUE_LIMIT)
        while not stop.is_set():
            while len(pending) < WRITE_CHUNK:
                event = get_message()
                if event is None:
                    watch.empty()
                    break
                watch.took()
                self._take(bytes(event[0]), pending)
            self.counters.input_queue_full = watch.full
            if not pending:
                stop.wait(poll_s)
                continue
            chunk = bytes(pending[:WRITE_CHUNK])
            taken = self._write(chunk)
            if taken:  # delivered, all or (a timed-out write) the acknowledged part: never sent again
                del pending[:taken]
                self.counters.packets_to_device += taken // 4
            if taken == len(chunk):
                continue
            if not self._bound.is_set():
                self.counters.discarded_unbound_packets += len(pending) // 4
                pending.clear()
            elif self.error:
                return

    def _take(self, message: bytes, pending: bytearray) -> None:
        self.counters.messages_from_os += 1
        if not self._bound.is_set():
            self.counters.discarded_unbound += 1
            return
        try:
            pending += encode_message(message, self.cable)
        except MidiValueError:
            self.counters.unencodable += 1

    def _write(self, chunk: bytes) -> int:
        """One EP_MIDI_OUT transfer: the bytes the device took, len(chunk) when all. On a NAK timeout
        the bytes it acknowledged before the cancel (delivered: the caller does not send them again,
        protocol.md *Timed-out writes*), 0 on a STALL or when unbound; the rest is retried."""
        with self._write_lock:
            if not self._bound.is_set():
                return 0
            try:
                self.link.write(c.EP_MIDI_OUT, chunk, WRITE_TIMEOUT_MS)
                return len(chunk)
            except LinkGone as exc:
                self._fail(f"EP_MIDI_OUT: the device is gone ({exc})")
                return 0
            except LinkTimeout as exc:
                self.counters.write_retries += 1
                if exc.transferred is None:
                    self.counters.write_timeouts_unknown += 1
                taken = exc.transferred or 0
            except UsbLinkError:
                self.counters.write_retries += 1
                taken = 0
        self._stop.wait(RETRY_S)
        return taken

    # --- closing --------------------------------------------------------------------------------

    def _delete_ports(self) -> None:
        for port in (self._in, self._out):
            jack_ports.close(port)

    def close(self) -> None:
        """Stop both threads (joined), then delete the virtual ports; safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._end_read()
        for thread in self._threads:
            thread.join(timeout=5 + READ_TIMEOUT_MS / 1000 * 3 + 10)
        stuck = [thread.name for thread in self._threads if thread.is_alive()]
        if stuck:
            # Deleting an rtmidi port frees its C++ object: a thread still calling it would crash the
            # process (SIGSEGV). Leave the ports to the process's end and say why.
            self._fail(f"close: {', '.join(stuck)} did not stop; its MIDI ports were left open")
            return
        self._delete_ports()


class BoundLink(ForwardingLink):
    """`link` as other users see it while `driver` is bound: every transfer is passed through, and the
    kernel-driver calls rig.links.pyusb_backend asks for are answered by the driver."""

    def __init__(self, link: UsbLink, driver: UsbMidiClassDriver) -> None:
        super().__init__(link)
        self.driver = driver

    def close(self) -> None:
        """Close the driver (the link's owner closes the link)."""
        self.driver.close()

    def kernel_driver_active(self, interface: int) -> bool:
        """True while the class driver holds `interface`."""
        return self.driver.active_on(interface)

    def detach_kernel_driver(self, interface: int) -> None:
        """Unbind the class driver from `interface` (ENOENT when it does not hold it)."""
        self.driver.detach(interface)

    def attach_kernel_driver(self, interface: int) -> None:
        """Bind the class driver to `interface` again."""
        self.driver.attach(interface)


__all__ = ["BOUND_INTERFACES", "BoundLink", "ClassDriverError", "DriverCounters", "UsbMidiClassDriver"]

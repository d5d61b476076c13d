"""LoopbackBoard: the firmware's whole contract in Python, reached as a `UsbLink`.

The composition only, as firmware/src/main.c: the device core (usbd.py) with its class table of
functions (midi.py, vendor.py, cdc.py), the shared lock, counters, clock and log, the source threads,
and the UsbLink methods that route each endpoint to its function.
One condition variable guards all state; SOURCE modes run in their own threads; close() joins them.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

from rig import contract as c
from rig.contract import ch9, descriptors
from rig.links.usb_link import LinkCancelled, LinkGone, LinkTimeout, UsbLinkError
from rig.loopback.cdc import CdcFunction, PtyConsole
from rig.loopback.clock import Clock, MonotonicClock
from rig.loopback.midi import MidiFunction
from rig.loopback.usbd import AfterStatus, Usbd, deadline_after
from rig.loopback.vendor import VendorFunction

DEFAULT_UNIQUE_ID = bytes.fromhex("4C4F4F504241434B")  # "LOOPBACK"


class OsDriver(Protocol):
    """What the board asks of the OS driver bound to its MIDI interfaces (rig.os_midi.class_driver)."""

    def active_on(self, interface: int) -> bool:
        """True while the driver holds `interface`."""
        ...

    def detach(self, interface: int) -> None:
        """Unbind from `interface`; raises UsbLinkError (ENOENT) when not bound."""
        ...

    def attach(self, interface: int) -> None:
        """Bind `interface` again; raises UsbLinkError (EBUSY) when already bound."""
        ...


class LoopbackBoard:
    """The software board. Construct, use as a `UsbLink` (or through `rig.links.pyusb_backend`), close()."""

    def __init__(self, unique_id: bytes = DEFAULT_UNIQUE_ID, clock: Clock | None = None, *,
                 console_pty: bool = True) -> None:
        descriptors.serial_number(unique_id)  # validates the length
        self.unique_id = bytes(unique_id)
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.cv = threading.Condition()
        self._closed = False
        self.counters = dict.fromkeys(c.STATS.names, 0)
        """Every Stats counter (functions update them with the lock held; stats() copies them)."""
        self.reboots = 0
        """Reboots into BOOTSEL requested (REBOOT_BOOTLOADER or the 1200-baud touch)."""
        self._threads: list[tuple[threading.Thread, threading.Event]] = []
        self._cancels = dict.fromkeys(range(0x81, 0x90), 0)
        """Per IN endpoint: how many times `cancel_reads` ran (a read waiting sees the number change)."""
        self._reading = threading.local()
        """The (endpoint, cancel count) of the read this thread is waiting in, for `wait`."""
        self._os_driver: OsDriver | None = None
        """The OS driver bound to the MIDI interfaces (the rig class driver), as the kernel knows it."""
        self.midi = MidiFunction(self)
        self.vendor = VendorFunction(self, self.unique_id, self.midi, self._touch)
        self.cdc = CdcFunction(self, self, self._touch)
        self.usbd = Usbd(self, self.unique_id, (self.midi, self.vendor, self.cdc), self.vendor)
        self._console: PtyConsole | None = PtyConsole(self, self._touch) if console_pty else None

    def _power_on_state(self) -> None:
        self.usbd.power_on()
        self.midi.power_on()
        self.vendor.power_on()
        self.cdc.power_on()

    # --- properties tests and targets use -----------------------------------------------------

    @property
    def serial_number(self) -> str:
        """The iSerialNumber text."""
        return descriptors.serial_number(self.unique_id)

    @property
    def console_path(self) -> str:
        """The pty path pyserial opens."""
        if self._console is None:
            raise LinkGone("this loopback board was made without a console pty")
        return self._console.path

    def stats(self) -> dict[str, int]:
        """A copy of every counter (what GET_STATS would report)."""
        with self.cv:
            return dict(self.counters)

    @property
    def os_midi_attached(self) -> bool:
        """True while an OS driver (the rig class driver) is attached to the MIDI interfaces."""
        return self._os_driver is not None

    # --- UsbLink --------------------------------------------------------------------------------

    def control(self, bm_request_type: int, b_request: int, w_value: int, w_index: int,
                data_or_length: bytes | int, timeout_ms: int) -> bytes | int:
        """Handle one SETUP (and its data stage): IN data, OUT byte count, or LinkStall."""
        device_to_host = bool(bm_request_type & ch9.DIR_IN)
        if device_to_host != isinstance(data_or_length, int):
            raise TypeError("control: IN requests take a length, OUT requests take bytes")
        after: AfterStatus | None = None
        with self.cv:
            self.check_open()
            try:
                result, after = self.usbd.control(bm_request_type, b_request, w_value, w_index,
                                                  data_or_length)
            finally:
                self.cv.notify_all()
        if after is not None:
            after()
        return result

    def write(self, endpoint: int, data: bytes, timeout_ms: int) -> int:
        """Bulk OUT on EP_MIDI_OUT, EP_FRAME_OUT or EP_CDC_OUT."""
        deadline = deadline_after(timeout_ms)
        with self.cv:
            self.usbd.check_endpoint(endpoint, out=True)
            if endpoint == c.EP_MIDI_OUT:
                self.midi.write(memoryview(bytes(data)), deadline)
            elif endpoint == c.EP_FRAME_OUT:
                self.vendor.write(bytes(data), deadline)
            else:
                self.cdc.write(bytes(data))
            return len(data)

    def read(self, endpoint: int, length: int, timeout_ms: int) -> bytes:
        """Bulk/interrupt IN; waits up to `timeout_ms` for data, then LinkTimeout."""
        deadline = deadline_after(timeout_ms)
        with self.cv:
            self.usbd.check_endpoint(endpoint, out=False)
            self._reading.ep = (endpoint, self._cancels.get(endpoint, 0))
            try:
                if endpoint == c.EP_MIDI_IN:
                    return self.midi.read(length, deadline)
                if endpoint == c.EP_FRAME_IN:
                    return self.vendor.read(length, deadline)
                if endpoint == c.EP_CDC_IN:
                    return self.cdc.read(length, deadline)
                self.wait(lambda: False, deadline, "EP_CDC_NOTIFY")  # the board sends no notifications
                raise AssertionError("unreachable")
            finally:
                self._reading.ep = None

    def cancel_reads(self, endpoint: int) -> None:
        """End every read waiting on IN `endpoint` with LinkCancelled (a read takes its packet whole
        or not at all, so nothing is lost)."""
        if endpoint not in self._cancels:
            raise ValueError(f"0x{endpoint:02X} is not an IN endpoint")
        with self.cv:
            self._cancels[endpoint] += 1
            self.cv.notify_all()

    def clear_halt(self, endpoint: int) -> None:
        """CLEAR_FEATURE(ENDPOINT_HALT), as libusb_clear_halt sends it."""
        self.control(ch9.RECIPIENT_ENDPOINT, ch9.CLEAR_FEATURE, ch9.ENDPOINT_HALT, endpoint, b"", 1000)

    def reset(self) -> None:
        """Bus reset: unconfigured, halts cleared, pending IN transfers dropped, sequences at 0."""
        with self.cv:
            self.check_open()
            self.usbd.bus_reset()
            self.cv.notify_all()

    def close(self) -> None:
        """Stop every thread and the console; later calls raise LinkGone. Safe to call twice."""
        with self.cv:
            if self._closed:
                return
            self._closed = True
            self.cv.notify_all()
        self._stop_sources()
        if self._console is not None:
            self._console.close()

    # --- BoardCore: what the functions share ----------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once close() has begun."""
        return self._closed

    def check_open(self) -> None:
        """LinkGone once the board is closed."""
        if self._closed:
            raise LinkGone("the loopback board is closed")

    def wait(self, ready: Callable[[], bool], deadline: float | None, what: str) -> None:
        """Wait on the condition until `ready()`; LinkTimeout at the deadline, LinkGone on close,
        LinkCancelled when `cancel_reads` names the endpoint this thread reads."""
        reading = getattr(self._reading, "ep", None)
        while not ready():
            self.check_open()
            if reading is not None and self._cancels[reading[0]] != reading[1]:
                raise LinkCancelled(f"{what}: cancelled")
            if deadline is None:
                self.cv.wait()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LinkTimeout(f"{what}: timed out")
            self.cv.wait(remaining)
        self.check_open()

    def log(self, event: str, *args: int) -> None:
        """A console log line (`log on`) for `event` on both views of the console; lock held."""
        sessions = [self.cdc.session] + ([self._console.session] if self._console is not None else [])
        for session in sessions:
            getattr(session, f"log_{event}")(*args)

    @property
    def configured(self) -> bool:
        """True in the Configured state."""
        return bool(self.usbd.configuration)

    def cancel(self, name: str) -> None:
        """Set the stop event of the thread started as `name`; close() or stop_source() joins it."""
        for thread, stop in self._threads:
            if thread.name == f"loopback {name}":
                stop.set()

    def start(self, name: str, target: Callable[[threading.Event], None]) -> None:
        """Run `target(stop)` in a daemon thread named after `name` until its stop event is set."""
        stop = threading.Event()
        thread = threading.Thread(target=target, args=(stop,), name=f"loopback {name}", daemon=True)
        with self.cv:
            self._threads.append((thread, stop))
        thread.start()

    def stop_source(self, name: str) -> None:
        """Stop and join the thread started as `name` (not when called from that thread)."""
        with self.cv:
            mine = [(t, s) for t, s in self._threads if t.name == f"loopback {name}"]
            self._threads = [(t, s) for t, s in self._threads if t.name != f"loopback {name}"]
            for _, stop in mine:
                stop.set()
            self.cv.notify_all()
        for thread, _ in mine:
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    def _stop_sources(self) -> None:
        with self.cv:
            threads, self._threads = self._threads, []
            for _, stop in threads:
                stop.set()
            self.cv.notify_all()
        for thread, _ in threads:
            thread.join(timeout=5)

    def _touch(self) -> None:
        """A reboot into BOOTSEL: the loopback has no ROM bootloader, so it counts the request and
        comes back as after power-on (unconfigured, default modes, counters zero)."""
        self._stop_sources()
        with self.cv:
            if self._closed:
                return
            self.reboots += 1
            self._power_on_state()
            self.counters = dict.fromkeys(self.counters, 0)
            self.cv.notify_all()

    # --- the OS driver on the MIDI interfaces (as the kernel knows snd-usb-audio on a real board's) --
    # The driver itself (rig.os_midi.class_driver) talks to the board only through EP_MIDI_OUT and
    # EP_MIDI_IN, as a real one does; the board just answers pyusb's kernel-driver questions with it.

    def attach_os_driver(self, driver: OsDriver | None) -> None:
        """Register the OS driver bound to the MIDI interfaces (None: no OS driver any more)."""
        with self.cv:
            self._os_driver = driver

    def kernel_driver_active(self, interface: int) -> bool:
        """True while the attached OS driver holds `interface`."""
        driver = self._os_driver
        return driver is not None and driver.active_on(interface)

    def detach_kernel_driver(self, interface: int) -> None:
        """Unbind the OS driver from `interface` (ENOENT when none holds it)."""
        driver = self._os_driver
        if driver is None:
            raise UsbLinkError(errno.ENOENT, f"no OS driver is bound to interface {interface}")
        driver.detach(interface)  # not under the lock: the driver waits for its transfers in flight

    def attach_kernel_driver(self, interface: int) -> None:
        """Bind the OS driver to `interface` again (ENOENT when there is no OS driver)."""
        driver = self._os_driver
        if driver is None:
            raise UsbLinkError(errno.ENOENT, f"no OS driver for interface {interface}")
        driver.attach(interface)

    # --- console (ConsoleHost) ------------------------------------------------------------------

    def console_stats(self) -> dict[str, int]:
        """Every counter, for the `stats` command."""
        return self.stats()

    def console_time_us(self) -> int:
        """Device time for the `time` command."""
        return self.clock.now_us()

    def console_reset_stats(self) -> None:
        """The `reset-stats` command."""
        with self.cv:
            for name in self.counters:
                self.counters[name] = 0

    def console_bytes(self, rx: int, tx: int) -> None:
        """Count console traffic."""
        with self.cv:
            self.counters["cdc_rx_bytes"] += rx
            self.counters["cdc_tx_bytes"] += tx

    def __enter__(self) -> LoopbackBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LoopbackBoard(serial={self.serial_number}, pid={os.getpid()})"


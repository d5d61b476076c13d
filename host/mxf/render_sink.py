"""RenderSink: the miniport end of the render graph — events to MIDI bytes and USB-MIDI 1.0 packets.

"The miniport writes the data and PutMessages the event back to the allocator" [A3]. Output goes
to a writer the rig supplies (it writes the packets to a USB-MIDI OUT endpoint).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from host.ks.state import KSSTATE_RUN, KSSTATE_STOP, KsState
from host.ks.status import STATUS_SUCCESS, NtStatus
from host.midi.spec import LENGTH_BY_STATUS
from host.midi.usbmidi import PACKET_HEADS, PACKET_PADS, UsbMidiEncoder, encode_message
from host.mxf.allocator import AllocatorMXF
from host.mxf.event import DMUS_KEF_EVENT_INCOMPLETE, DMUS_KEF_PACKAGE_EVENT, KernelEvent
from host.mxf.filter import MxfFilter, put_each

PacketWriter = Callable[[bytes], object]
"""Receives USB-MIDI 1.0 event packets (a multiple of 4 bytes): those of one PutMessage, or of one
batch the sequencer released together (put_messages), in order."""
MidiWriter = Callable[[bytes, int, int], object]
"""Receives (MIDI bytes, channel group, presentation time) per event, before packetising."""


def default_cables() -> dict[int, int]:
    """Channel group g (1..16) -> USB-MIDI cable g - 1; group 0 -> cable 0.

    [UNVERIFIED] DirectMusic's channel-group-0 broadcast is not modelled; pass `cables=` to choose.
    """
    cables = {g: g - 1 for g in range(1, 17)}
    cables[0] = 0
    return cables


class RenderSink(MxfFilter):
    """The render miniport stream: encodes each event's bytes and returns the event to the allocator.

    - A COMPLETE event holding one whole 2- or 3-byte message is encoded inline from host.midi's
      packet tables, other whole messages with `encode_message`: nothing is memoised, so a message
      met for the first time costs what a repeated one does; running status across events is
      expanded here from the last channel status sent on that cable. Everything else — INCOMPLETE
      fragments of a long SysEx and the piece that ends them, or bytes that are no valid message —
      goes through one stateful `UsbMidiEncoder` per cable, which handles any chunking. Package
      events are rendered from their pPackageEvt chain.
    - Events whose channel group maps to no cable are counted in `unroutable` and returned.
    - ConnectOutput always fails: "render streams always fail" [A2]; output is the writer.
    - SetState ("IMXF::SetState method"): "if the current state is anything other than KSSTATE_RUN,
      the IMXF interface should hold onto the data and not pass it to the hardware"; in STOP it
      discards data by passing it to the allocator. So: in ACQUIRE and PAUSE events are held (in
      arrival order, `held`) and rendered on reaching RUN; in STOP arriving and held events go back
      to the allocator unrendered (counted in `discarded`). A new sink starts in STOP.
    """

    accepts_connect = False

    def __init__(
        self,
        allocator: AllocatorMXF,
        write_packets: PacketWriter,
        *,
        write_midi: MidiWriter | None = None,
        cables: Mapping[int, int] | None = None,
    ) -> None:
        super().__init__(allocator)
        self.write_packets = write_packets
        self.write_midi = write_midi
        self.cables = dict(default_cables() if cables is None else cables)
        for group, cable in self.cables.items():
            if not 0 <= cable <= 15:
                raise ValueError(f"channel group {group} maps to cable {cable}; USB-MIDI cables are 0..15")
        self._encoders: dict[int, UsbMidiEncoder] = {}
        self._route = {group: (cable, PACKET_HEADS[cable]) for group, cable in self.cables.items()}
        """Channel group -> (cable, that cable's packet headers by status byte)."""
        self._running = [0] * 16
        """Per cable: the last channel status sent (0: none), for events that use running status."""
        self._open: set[int] = set()
        """Cables whose stateful encoder is inside an INCOMPLETE sequence."""
        self._inline = allocator.pointer_size
        self.events_rendered = 0
        self.bytes_rendered = 0
        self.packet_bytes = 0
        self.unroutable = 0
        self.discarded = 0
        """Chains returned to the allocator unrendered because the sink was in STOP."""
        self._held: list[KernelEvent] = []

    def encoder(self, cable: int) -> UsbMidiEncoder:
        """The stateful encoder (and its counters) for one cable."""
        enc = self._encoders.get(cable)
        if enc is None:
            enc = self._encoders[cable] = UsbMidiEncoder(cable)
        return enc

    def _encode(self, data: bytes, cable: int, incomplete: bool) -> bytes:
        """Packets for one event's bytes on `cable`."""
        if not incomplete and cable not in self._open and data:
            running = self._running[cable]
            if data[0] < 0x80 and running:
                data = bytes((running,)) + data
            if data[0] >= 0x80:
                try:
                    packets = encode_message(data, cable)
                except ValueError:  # host.midi's MidiValueError: not one valid message
                    pass
                else:
                    status = data[0]
                    if status < 0xF0:
                        self._running[cable] = status
                    elif status < 0xF8:
                        self._running[cable] = 0
                    return packets
        if incomplete:
            self._open.add(cable)
        else:
            self._open.discard(cable)
        if data and 0xF0 <= data[0] < 0xF8:
            self._running[cable] = 0
        return self.encoder(cable).encode(data)

    def put_message(self, evt: KernelEvent | None) -> NtStatus:
        """IMXF::PutMessage: render the chain (and package chains), write the packets, free the chain."""
        if evt is None:
            return STATUS_SUCCESS
        if self.state is not KSSTATE_RUN:
            return self._not_running(evt)
        return self.put_messages([evt])

    def put_messages(self, events: list[KernelEvent]) -> NtStatus:
        """PutMessage for each of `events` in order. In RUN, each run of COMPLETE events holding one
        routable whole message (the common case) is rendered in one pass, its events returned to the
        allocator and then its packets written in one call (so every event is taken even when the
        writer raises); any other event is rendered on its own, in its place in the order."""
        if self.state is not KSSTATE_RUN:
            return put_each(self._not_running, events)
        if self.write_midi is not None:
            return put_each(self._render, events)
        # The common case, kept lean: one COMPLETE event holding one 2- or 3-byte message, its packet
        # built inline as encode_message builds it (status and data bytes checked); other whole
        # messages through _encode.
        route_of = self._route.get
        running = self._running
        lengths = LENGTH_BY_STATUS
        pads = PACKET_PADS
        open_sequences = self._open
        out: list[bytes] = []
        append = out.append
        status = STATUS_SUCCESS
        while events:
            nbytes = 0
            on_cable, heads, last_group = 0, PACKET_HEADS[0], -1
            # The status of the last message rendered inline on `on_cable` (-1: none yet), written to
            # the cable's running status when the cable changes, before _encode reads it, and at the end.
            last_status = -1
            for evt in events:
                data = evt.u_data
                if evt.p_next_evt is None and not evt.us_flags and data.__class__ is bytes \
                        and (n := len(data)) == evt.cb_event and not open_sequences:
                    if (group := evt.us_channel_group) != last_group:  # a batch is mostly one group
                        if last_status >= 0:
                            running[on_cable] = last_status if last_status < 0xF0 else 0
                            last_status = -1
                        route = route_of(group)
                        if route is None:
                            break
                        on_cable, heads = route
                        last_group = group
                    if n > 1 and lengths[status_byte := data[0]] == n and (data[1] | data[n - 1]) < 0x80:
                        append(heads[status_byte] + data + pads[n] if n != 3 else heads[status_byte] + data)
                        last_status = status_byte
                    else:
                        if last_status >= 0:
                            running[on_cable] = last_status if last_status < 0xF0 else 0
                            last_status = -1
                        append(self._encode(data, on_cable, False))
                    nbytes += n
                    continue
                break
            else:
                if last_status >= 0:
                    running[on_cable] = last_status if last_status < 0xF0 else 0
                self._emit(out, events, nbytes)
                break
            # Not the common case: the events before it (one packet string each in `out`) go out
            # first, then it on its own.
            if last_status >= 0:
                running[on_cable] = last_status if last_status < 0xF0 else 0
            rendered = len(out)
            self._emit(out, events[:rendered], nbytes)
            out.clear()
            result = self._render(events[rendered])
            if result != STATUS_SUCCESS:
                status = NtStatus(result)
            events = events[rendered + 1:]
        return status

    def _emit(self, out: list[bytes], events: list[KernelEvent], nbytes: int) -> None:
        """Count `events` (rendered into `out`, holding `nbytes` MIDI bytes), return them to the
        allocator, then write their packets."""
        if not events:
            return
        self.events_rendered += len(events)
        self.bytes_rendered += nbytes
        self.allocator.put_single_messages(events)
        packets = b"".join(out)
        if packets:
            self.packet_bytes += len(packets)
            self.write_packets(packets)

    def _render(self, evt: KernelEvent) -> NtStatus:
        """Render any chain (package chains included), write its packets, free it."""
        cables = self.cables
        write_midi = self.write_midi
        head = evt
        out: list[bytes] = []
        stack: list[KernelEvent | None] = []
        cur: KernelEvent | None = evt
        while cur is not None:
            # A package is rendered from its chain whatever its cbEvent (see AllocatorMXF package_rule).
            if cur.us_flags & DMUS_KEF_PACKAGE_EVENT and isinstance(cur.u_data, KernelEvent):
                stack.append(cur.p_next_evt)
                cur = cur.p_package_evt
            else:
                data = cur.data
                group = cur.us_channel_group
                cable = cables.get(group)
                if cable is None:
                    self.unroutable += 1
                else:
                    if write_midi is not None:
                        write_midi(data, group, cur.ull_pres_time_100ns)
                    out.append(self._encode(data, cable, bool(cur.us_flags & DMUS_KEF_EVENT_INCOMPLETE)))
                    self.events_rendered += 1
                    self.bytes_rendered += len(data)
                cur = cur.p_next_evt
            while cur is None and stack:
                cur = stack.pop()
        packets = b"".join(out)
        if packets:
            self.packet_bytes += len(packets)
            self.write_packets(packets)
        return self.allocator.put_message(head)

    @property
    def held(self) -> int:
        """Chains held outside RUN, waiting for RUN (or STOP, which discards them)."""
        return len(self._held)

    def _not_running(self, evt: KernelEvent) -> NtStatus:
        """PutMessage outside RUN: hold (ACQUIRE, PAUSE) or discard to the allocator (STOP)."""
        if self.state is KSSTATE_STOP:
            self.discarded += 1
            return self.allocator.put_message(evt)
        self._held.append(evt)
        return STATUS_SUCCESS

    def _state_changed(self, old: KsState, new: KsState) -> None:
        """RUN renders what was held; STOP discards it, and forgets what the encoders hold (an
        unfinished SysEx) and running status."""
        if new is KSSTATE_STOP:
            held, self._held = self._held, []
            for evt in held:
                self.discarded += 1
                self.allocator.put_message(evt)
            self._encoders.clear()
            self._open.clear()
            self._running[:] = [0] * 16
        elif new is KSSTATE_RUN:
            held, self._held = self._held, []
            for evt in held:
                self.put_message(evt)

    def flush(self) -> bytes:
        """End of stream: packets for whatever the encoders still hold (an unfinished message)."""
        packets = b"".join(enc.flush() for enc in self._encoders.values())
        self._open.clear()
        if packets:
            self.packet_bytes += len(packets)
            self.write_packets(packets)
        return packets

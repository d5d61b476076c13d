"""Generates docs/protocol.md, the board's contract for a human, from rig.contract and its
descriptors module.

`python -m rig.contract.protocol_doc > docs/protocol.md` writes it; a test fails when the checked-in file is
stale, so the document cannot drift from the code the loopback and the firmware header come from.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Sequence

from rig import contract as c
from rig.contract import ch9
from rig.contract import descriptors as d

DOC_PATH = "docs/protocol.md"

REQUESTS: dict[c.Request, tuple[str, str]] = {
    c.Request.GET_INFO: ("IN", "`info` (below): contract and firmware version, capabilities, frame limits, "
                               "unique ID"),
    c.Request.GET_FRAMING: ("IN", "KSALLOCATOR_FRAMING_EX with one KS_FRAMING_ITEM (112 bytes), see "
                                  "*Framing*"),
    c.Request.SET_MIDI_MODE: ("OUT", "`midi_mode_config` data stage; STALL on a bad length, mode, cable, "
                                     "reserved byte or SOURCE rate. Empties the EP_MIDI_IN queue (a "
                                     "packet the host has not taken is taken back), so a host that has "
                                     "set a mode has nothing left to drain"),
    c.Request.GET_MIDI_MODE: ("IN", "`midi_mode_config`"),
    c.Request.SET_FRAME_MODE: ("OUT", "`frame_mode_config` data stage; STALL on a bad length, mode, reserved "
                                      "field or payload_len > FRAME_MAX_PAYLOAD. Empties the ring and "
                                      "restarts "
                                      "both frame sequences at 0"),
    c.Request.GET_FRAME_MODE: ("IN", "`frame_mode_config`"),
    c.Request.GET_TIME: ("IN", "`time`: u64 microseconds since boot"),
    c.Request.GET_STATS: ("IN", "`stats`; the GET_STATS request itself is already counted in "
                                "control_requests"),
    c.Request.RESET_STATS: ("OUT", "no data; zeroes every counter (the RESET_STATS itself included) and "
                                   "restarts both frame sequences at 0"),
    c.Request.REBOOT_BOOTLOADER: ("OUT", "no data; reboots into BOOTSEL after the status stage"),
}

TIMED_OUT_WRITES = (
    "A bulk OUT transfer (on any OUT endpoint) that times out is cancelled by the host, as a host "
    "controller driver cancels the transfer's URB: every packet the board acknowledged before the cancel "
    "is delivered (counted, processed, its replies queued) and the packets after it never reached the "
    "board. The board acknowledges a packet only when it takes it whole (else it NAKs), so a cancel never "
    "splits a packet. The host is told how many bytes were acknowledged (libusb's `transferred` of a "
    "timed-out transfer; the rig's links and Board report it as `transferred`), and a writer that tries "
    "again sends only the rest: no packet is delivered twice. Where the count is not known (pyusb over "
    "libusb drops it) the writer must not resend blindly, and the books check reports the difference. A "
    "write whose length is a multiple of 64 ends with its last full packet (no zero-length packet is "
    "added, as libusb adds none). The firmware, the software loopback and the emulator bridge all behave "
    "so. A frame write cut part-way leaves the start of the frame on the board, which takes the next bytes "
    "on EP_FRAME_OUT as its rest: the host finishes that frame (the same frame again sends only the rest) "
    "before it writes another, and Board refuses another frame until then (PartialFrame); when the count "
    "is unknown it asks for SET_FRAME_MODE, which (like a bus reset) drops a half-received frame.")
"""What a bulk OUT transfer that times out has delivered (issue #9: a resend after a timeout delivered
packets twice on the emulator)."""

REENUMERATION = (
    "A device that leaves the bus and enumerates again by itself (a watchdog reset, a reboot of its "
    "firmware) is a new device to the host (USB 2.0 9.1.2: attached, reset, default address, a new "
    "address, descriptors read again): its state (address, configuration, toggles, halts, what was queued) "
    "is gone. The rig does not hide that: a handle opened before it left is stale, and every transfer on it "
    "fails with DeviceReenumerated (a LinkGone; through pyusb a USBError with errno ENODEV, as libusb "
    "reports LIBUSB_ERROR_NO_DEVICE for a handle whose device went) whose text names the device and what "
    "happened, until its holder finds the device again: `EmulatorLink.reattach()` enumerates the new "
    "device, and the emulator target's `reattach()` also finds the same device (VID:PID and serial "
    "number) on the same emulated board and continues with a new pyusb device, console and class driver, "
    "or fails naming the device when it does not enumerate again or another device came back. A request "
    "the new device answered because it was sent as the device came back is refused the same way. "
    "A usb: target's `reattach()` does the same for any device: on libusb it waits until the OS has "
    "enumerated the device again, on a software bus (`bus=emulator`) it enumerates it as the OS would; "
    "it finds the device its selector names with the VID:PID and serial number it had, or fails naming "
    "it, and names what answers to the selector instead (the target is then closed). A board target's "
    "`reattach()` finds our board again by its serial number once the OS has enumerated it, probes it "
    "(GET_INFO) and looks up its OS MIDI ports and console port again, waiting for those it had. "
    "Implemented and tested on emulator, usb: and board targets (`tests/firmware/test_watchdog_reattach.py`; "
    "libusb through a pyusb backend over the emulated board: no real hardware, and no OS re-creating MIDI "
    "or console ports); the software loopback never re-enumerates by itself (its REBOOT_BOOTLOADER only "
    "counts).")
"""What a device that re-enumerates by itself does to an open handle (issue #8)."""

MIDI_MODES: dict[c.MidiMode, str] = {
    c.MidiMode.ECHO: "every good received event packet is sent back unchanged on EP_MIDI_IN",
    c.MidiMode.TRANSFORM: "as ECHO, but CIN 0x8/0x9/0xA (note off, note on, poly pressure) get "
                          "`(note + transpose) mod 128`; every other packet is unchanged",
    c.MidiMode.SOURCE: "input is counted and ignored; the board sends `count` pairs (0 = until the mode "
                       "changes) "
                       "of note-on `(cable<<4)|0x9, 0x90, seq & 0x7F, 1 + ((seq >> 7) % 127)` and note-off "
                       "`(cable<<4)|0x8, 0x80, seq & 0x7F, 0`; each packet is one event, event k is due at "
                       "`k * 1e6 / rate_hz` microseconds after the mode was set",
    c.MidiMode.SINK: "input is counted; nothing is sent",
}

FRAME_MODES: dict[c.FrameMode, str] = {
    c.FrameMode.ECHO: "each good frame takes a ring slot and is sent back with flags = ECHOED, seq = the "
                      "device's "
                      "IN sequence number, rx_time_us = when its last byte arrived, tx_time_us = when it was "
                      "queued; payload and CRC unchanged",
    c.FrameMode.SOURCE: "frames written by the host are checked, counted and dropped; the board queues "
                        "`count` "
                        "frames (0 = until the mode changes) of `payload_len` bytes, byte i = (seq + i) & "
                        "0xFF, "
                        "flags = SOURCED, rx_time_us = 0, one every `interval_us` (0 = whenever a slot is "
                        "free)",
    c.FrameMode.SINK: "frames are checked and counted; nothing is sent and the ring never fills",
}


def _hex(value: int, digits: int = 2) -> str:
    return f"0x{value:0{digits}X}"


def _table(header: tuple[str, ...], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return [*out, ""]


def _layout(layout: c.Layout) -> list[str]:
    rows = []
    offset = 0
    for name, code, doc in layout.fields:
        size = struct.calcsize("<" + code)
        rows.append((str(offset), str(size), f"`{name}`", f"`{code}`", doc))
        offset += size
    lines = [f"### `{layout.name}` ({layout.size} bytes)", "", layout.doc, ""]
    return lines + _table(("offset", "size", "field", "struct code", "meaning"), rows)


def _descriptor_listing() -> list[str]:
    blob = d.config_descriptor()
    names = {ch9.DT_CONFIGURATION: "CONFIGURATION", ch9.DT_INTERFACE: "INTERFACE",
             ch9.DT_ENDPOINT: "ENDPOINT", d.DT_INTERFACE_ASSOCIATION: "INTERFACE ASSOCIATION",
             d.DT_CS_INTERFACE: "CS_INTERFACE", d.DT_CS_ENDPOINT: "CS_ENDPOINT"}
    rows = []
    pos = 0
    while pos < len(blob):
        length = blob[pos]
        chunk = blob[pos:pos + length]
        rows.append((str(pos), str(length), names.get(chunk[1], _hex(chunk[1])), chunk.hex(" ").upper()))
        pos += length
    return _table(("offset", "bLength", "type", "bytes"), rows)


def generate() -> str:
    """The complete text of docs/protocol.md."""
    L: list[str] = []
    add = L.append
    major, minor, patch = c.FIRMWARE_VERSION
    add("# The board's USB protocol")
    add("")
    add("GENERATED by `python -m rig.contract.protocol_doc > docs/protocol.md` from "
        "`rig/contract/__init__.py` and `rig/contract/descriptors.py`; do not edit (a test fails when this "
        "file is stale). The firmware's C header (`firmware/include/rig_contract.h`) and the "
        "software-loopback board (`rig/loopback/`) come from the same source.")
    add("")
    add(f"Contract version {c.CONTRACT_VERSION}. All multi-byte fields are little-endian and packed.")
    add("")
    add("## Identity")
    add("")
    L += _table(("what", "value"), [
        ("VID:PID", f"{_hex(c.VID, 4)}:{_hex(c.PID, 4)} (pid.codes)"),
        ("bcdUSB", _hex(c.BCD_USB, 4)),
        ("bcdDevice", f"{_hex(c.bcd_device(), 4)} (firmware {major}.{minor}.{patch}: 0xMMmp)"),
        ("device class", "0xEF / 0x02 / 0x01 (Interface Association Descriptors)"),
        ("bMaxPacketSize0", str(c.EP0_SIZE)),
        ("configuration", f"value {c.CONFIG_VALUE}, bus powered, {c.MAX_POWER_MA} mA, full speed"),
    ])
    add("### Strings (LANGID 0x0409)")
    add("")
    rows = [("0", "LANGID list: `04 03 09 04`")]
    for index in range(1, max(c.STRINGS) + 1):
        if index == c.STRING_INDEX_SERIAL:
            rows.append((str(index), f"serial number: the flash unique ID as {c.SERIAL_NUMBER_HEX_DIGITS} "
                                     "upper-case hex digits, first byte first"))
        else:
            rows.append((str(index), f"`{c.STRINGS[index]}`"))
    L += _table(("index", "text"), rows)
    add("Any other index or language is answered with STALL.")
    add("")
    add("## Interfaces and endpoints")
    add("")
    L += _table(("interface", "class / subclass", "endpoints", "purpose"), [
        (str(c.IF_AUDIO_CONTROL), "0x01 / 0x01 audio control", "none",
         "AC header (bcdADC 1.00) naming the MIDI streaming interface"),
        (str(c.IF_MIDI_STREAMING), "0x01 / 0x03 MIDI streaming",
         f"{_hex(c.EP_MIDI_OUT)} bulk OUT, {_hex(c.EP_MIDI_IN)} bulk IN ({c.BULK_PACKET_SIZE} bytes)",
         f"USB-MIDI 1.0, {c.MIDI_CABLES} cable: embedded + external IN and OUT jacks"),
        (str(c.IF_VENDOR), "0xFF vendor",
         f"{_hex(c.EP_FRAME_OUT)} bulk OUT, {_hex(c.EP_FRAME_IN)} bulk IN ({c.BULK_PACKET_SIZE} bytes)",
         "frames"),
        (str(c.IF_CDC_COMM), "0x02 / 0x02 CDC ACM",
         f"{_hex(c.EP_CDC_NOTIFY)} interrupt IN ({c.CDC_NOTIFY_PACKET_SIZE} bytes, "
         f"{c.CDC_NOTIFY_INTERVAL_MS} ms)",
         "console control (IAD over interfaces 3 and 4; header, call management, ACM, union)"),
        (str(c.IF_CDC_DATA), "0x0A CDC data",
         f"{_hex(c.EP_CDC_OUT)} bulk OUT, {_hex(c.EP_CDC_IN)} bulk IN ({c.BULK_PACKET_SIZE} bytes)",
         "console data"),
    ])
    add(f"Configuration descriptor, {len(d.config_descriptor())} bytes:")
    add("")
    L += _descriptor_listing()
    add("## Vendor requests")
    add("")
    add(f"Recipient device, wValue 0 and wIndex 0 (anything else: STALL). IN requests use bmRequestType "
        f"{_hex(c.VENDOR_REQUEST_TYPE_IN)}, OUT requests {_hex(c.VENDOR_REQUEST_TYPE_OUT)}; a request sent "
        "with the wrong direction, an unknown bRequest, or a malformed data stage is answered with STALL, "
        "counted in control_stalls, and the board keeps working. An IN request with a smaller wLength gets "
        "the first wLength bytes, as USB truncates every IN data stage.")
    add("")
    requests = []
    for request in c.Request:
        direction, data = REQUESTS[request]
        bm = c.VENDOR_REQUEST_TYPE_IN if direction == "IN" else c.VENDOR_REQUEST_TYPE_OUT
        requests.append((request.name, _hex(bm), _hex(int(request)), "0", "0", direction, data))
    columns = ("request", "bmRequestType", "bRequest", "wValue", "wIndex", "data", "layout / effect")
    L += _table(columns, requests)
    add("## Standard and class requests")
    add("")
    add("GET_DESCRIPTOR (device, configuration 0, strings), SET_ADDRESS, SET_CONFIGURATION (0 or 1), "
        "GET_CONFIGURATION, SET_INTERFACE / GET_INTERFACE (alternate 0 only), GET_STATUS (device, interface, "
        "endpoint: bit 0 = halted), SET_FEATURE / CLEAR_FEATURE(ENDPOINT_HALT) on the endpoints above; CDC "
        "SET_LINE_CODING (7 bytes), GET_LINE_CODING and SET_CONTROL_LINE_STATE to interface "
        f"{c.IF_CDC_COMM}. SET_LINE_CODING with a bCharFormat above 2, a bParityType above 4 or a bDataBits "
        "other than 5..8 or 16 (PSTN 1.2 table 17) is answered with STALL and changes nothing; SEND_BREAK is "
        "not offered (ACM bmCapabilities 0x02) and STALLs; SET_CONTROL_LINE_STATE with DTR (bit 0) set sends "
        "the console prompt, so a terminal opening the port sees it. "
        "Everything else (device qualifier included: the board is full speed only) is answered with STALL. "
        "Bulk endpoints answer only in the configured state; a halted endpoint STALLs until CLEAR_FEATURE. "
        "An IN transfer whose last packet is full is ended by a ZLP, which a host read that the full packet "
        "filled receives as the next (empty) read. A host read whose room left is smaller than the next "
        "packet (any read of a length that is not a multiple of 64, 0 included, once data comes) fails "
        "with overflow (babble; libusb LIBUSB_ERROR_OVERFLOW): the packets of that read are lost to the "
        "host, while the board counts them sent. A read with nothing queued waits, whatever its length. "
        "In the Address state (after a bus reset or SET_CONFIGURATION(0)) requests to an interface or to an "
        "endpoint other than EP0 are answered with STALL (USB 2.0 9.4). "
        "A bus reset and every SET_CONFIGURATION (the current value included) reset the functions: what is "
        "queued for the host (MIDI replies, frames, console output of the session that ends) is dropped, "
        "both frame sequences restart at 0 and halts are cleared; the modes are kept. A SOURCE mode produces "
        "nothing until the device is configured, then starts again from its beginning.")
    add("")
    add("### Re-enumeration")
    add("")
    add(REENUMERATION)
    add("")
    add("## Layouts")
    add("")
    for layout in c.LAYOUTS:
        L += _layout(layout)
    add("## MIDI modes (EP_MIDI_OUT / EP_MIDI_IN, USB-MIDI 1.0 event packets)")
    add("")
    L += _table(("mode", "value", "behaviour"), [(m.name, str(int(m)), MIDI_MODES[m]) for m in c.MidiMode])
    add("Packets with CIN 0 are padding and are not counted. Every other packet counts in midi_rx_packets; "
        "one with the reserved CIN 1 or a cable number >= MIDI_CABLES (or a trailing partial packet) also "
        "counts in midi_rx_bad and is dropped. A host read of EP_MIDI_IN returns the queued packets that fit "
        "its length, as one transfer ended by a short packet or ZLP; a packet holds what was queued (up to "
        "16 events) when EP_MIDI_IN was idle, so one OUT packet's replies travel together and a read ends "
        "at the first short packet. The IN queue holds 256 event packets; "
        "while it has room for fewer than the 16 replies a full USB packet may ask for, the board NAKs "
        "EP_MIDI_OUT (the packet is not received, and a write times out) until the host reads; "
        "midi_tx_overflow counts each time the endpoint becomes NAKed this way, and each SOURCE event that "
        "waits for room. Nothing is dropped.")
    add("")
    add("The software loopback also shows its MIDI side as OS MIDI ports (python-rtmidi virtual ports on "
        "ALSA or JACK), as the OS driver shows a real board's: messages sent to them go through the same "
        "engine and counters, replies come back on the virtual output, and SOURCE sends there while the "
        "ports are attached.")
    add("")
    add("### Timed-out writes")
    add("")
    add(TIMED_OUT_WRITES)
    add("")
    add("## Frames (EP_FRAME_OUT / EP_FRAME_IN)")
    add("")
    add(f"A frame is one bulk transfer: the {c.FRAME_HEADER.size}-byte `frame_header` then `payload_len` "
        "bytes, "
        "ended by a short packet or, when the length is a multiple of "
        f"{c.BULK_PACKET_SIZE}, by the full packet that completes the length its header gives (a host need "
        "not send a zero-length packet, and libusb does not; the board ignores one that follows). Packets "
        "after that point start the next frame; a zero-length transfer is empty and counts nowhere. "
        f"magic = {_hex(c.FRAME_MAGIC, 8)} ('RGFR'), version = {c.FRAME_VERSION}, header_len = "
        f"{c.FRAME_HEADER.size}, payload_len <= {c.FRAME_MAX_PAYLOAD}, payload_crc = CRC-32 (IEEE 802.3, as "
        "zlib.crc32) of the payload. flags: "
        + ", ".join(f"{f.name} = {_hex(int(f))}" for f in c.FrameFlag) + ".")
    add("")
    add("Sequence numbers count per direction from 0 (after a bus reset, SET_FRAME_MODE or RESET_STATS), +1 "
        "per frame, modulo 2^32. A received frame whose seq is not the expected one counts once in "
        "frames_seq_gap, and the expectation continues from it. Frames with a bad magic, version, header_len "
        "or length count in frames_bad_header, with a bad CRC in frames_bad_crc, and are dropped.")
    add("")
    L += _table(("mode", "value", "behaviour"), [(m.name, str(int(m)), FRAME_MODES[m]) for m in c.FrameMode])
    add("### Ring and backpressure")
    add("")
    add(f"The board holds {c.FRAME_RING_SLOTS} frames of up to {c.FRAME_HEADER.size + c.FRAME_MAX_PAYLOAD} "
        "bytes. "
        "A frame occupies its slot until the host has read all of it from EP_FRAME_IN. When a received frame "
        "fills the last slot the board leaves EP_FRAME_OUT unarmed (ring_full_naks + 1): the host's next "
        "write is NAKed and times out (libusb: LIBUSB_ERROR_TIMEOUT) until a slot frees. A frame is never "
        "dropped; ring_high_water records the most slots ever used.")
    add("")
    add("### Framing")
    add("")
    add(f"GET_FRAMING returns KSALLOCATOR_FRAMING_EX with one item: KSMEMORY_TYPE_KERNEL_NONPAGED, bus type "
        f"USB, Frames = {c.FRAME_RING_SLOTS}, FileAlignment = {c.FRAME_ALIGNMENT_MASK}, FramingRange "
        f"{c.FRAME_HEADER.size} .. {c.FRAME_HEADER.size + c.FRAME_MAX_PAYLOAD} step 1, 1:1 compression. The "
        "C "
        "header carries the same bytes as `rig_framing_ex`:")
    add("")
    add("```")
    framing = d.framing_ex()
    for start in range(0, len(framing), 16):
        add(framing[start:start + 16].hex(" ").upper())
    add("```")
    add("")
    add("## Console (CDC ACM)")
    add("")
    add("Lines end with CR or LF; input is not echoed. Each reply is its lines, each ended by CR LF, then "
        "the "
        f"prompt `{c.CONSOLE_PROMPT}`. A line holds at most 256 bytes (more are ignored); words are "
        "separated by spaces and tabs only, and no byte edits the line (a backspace is part of a word). "
        "An unknown command answers `error: unknown command '<name>' (try help)`, the name's bytes "
        "0x21..0x7E other than `\\` and `'` shown as they are and every other byte as `\\xNN` (lower-case "
        "hex). A bus reset or SET_CONFIGURATION ends the session: a partial line is dropped. Console "
        "output is one byte queue (2048 bytes): an EP_CDC_IN packet holds what is queued, up to 64 "
        "bytes, when the endpoint is idle, and the replies to one OUT packet are queued before any of "
        "them is sent, so one host read may carry more than one reply (and the prompt before them).")
    add("")
    replies = {
        "help": "`name - description` per command",
        "version": f"`firmware {major}.{minor}.{patch} contract {c.CONTRACT_VERSION}`",
        "stats": "`name=value` per counter, in `stats` order",
        "time": "decimal microseconds",
        "reset-stats": "`ok`",
        "log": "`log on dropped=N` or `log off dropped=N`; `error: usage: log [on|off]` for another word",
    }
    L += _table(("command", "does", "reply"),
                [(name, doc, replies[name]) for name, doc in c.CONSOLE_COMMANDS.items()])
    add("**Log lines** (while `log on`; off at power-on): `# <device time in us> <event>[ key=value...]`, "
        "each ended by CR LF and never inside a reply, for the events `bus-reset`, `configured value=N` / "
        "`unconfigured`, `midi-mode mode=NAME`, `frame-mode mode=NAME`, `stall bmRequestType=0xNN "
        "bRequest=0xNN`, `frame-error kind=header len=N` / `kind=crc seq=N` / `kind=seq seq=N expected=N`, "
        "`ring-full slots=N`. A reply parser skips lines starting `# ` (rig.client.console does). A line "
        "that does not fit in the console's output queue (nobody reads the port) is dropped whole and "
        "counted in "
        "`dropped`; the board never waits for a reader.")
    add("")
    add(f"**The 1200-baud touch**: setting the line coding to {c.CONSOLE_BAUD_BOOTSEL} baud (opening the "
        "port "
        "at 1200 baud) reboots the board into the RP2040 ROM bootloader (BOOTSEL), as REBOOT_BOOTLOADER "
        "does. "
        "The software loopback has no bootloader: it counts the request (`LoopbackBoard.reboots`) and comes "
        "back as after power-on (unconfigured, default modes, counters zero).")
    add("")
    return "\n".join(L)


def main() -> None:
    sys.stdout.write(generate())


if __name__ == "__main__":
    main()

"""host.midi codec throughput: encode_message, MidiStreamParser, UsbMidiEncoder/Decoder vs bare byte loops.

Each figure is printed with its ratio against a baseline measured in the same run that moves the
same bytes with no MIDI logic (a bytes concatenation or slicing loop). No goal is enforced here.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from bench import _timing
from host.midi.stream import MidiStreamParser
from host.midi.usbmidi import UsbMidiDecoder, UsbMidiEncoder, encode_message, encode_messages

REPEATS = 5


def best_of(run: Callable[[], object]) -> float:
    """Fastest of REPEATS runs, in seconds (the least disturbed by the rest of the machine)."""
    return _timing.best_of(run, REPEATS)


def report(name: str, items: int, unit: str, seconds: float, baseline: float) -> None:
    """Print one figure: per-item time, rate, and the ratio to its baseline."""
    print(f"  {name:<44} {seconds / items * 1e9:8.1f} ns/{unit}  {items / seconds:13,.0f} {unit}/s"
          f"  x{seconds / baseline:5.1f} baseline ({baseline / items * 1e9:.1f} ns/{unit})")


def short_messages(count: int) -> list[bytes]:
    """A deterministic mix of 3-byte and 2-byte channel messages (mostly notes, as in a render)."""
    return _timing.channel_messages(count, seed=1)


def running_status_wire(count: int) -> bytes:
    """short_messages grouped 8 to a status and sent with running status (as keyboards send notes)."""
    msgs = short_messages(count)
    out = bytearray()
    for k in range(0, len(msgs), 8):
        head = msgs[k]
        out += head
        for m in msgs[k + 1:k + 8]:
            out += m[1:] if len(m) == len(head) else head[1:]
    return bytes(out)


def bench_encode_message() -> None:
    """encode_message for short channel messages and for a 4 KiB SysEx."""
    msgs = [m for m in short_messages(100_000) if len(m) == 3]
    head = b"\x09"

    def baseline() -> None:
        for m in msgs:
            head + m

    def encode() -> None:
        for m in msgs:
            encode_message(m)

    def encode_joined() -> None:
        b"".join([encode_message(m) for m in msgs])

    def encode_batch() -> None:
        encode_messages(msgs)

    base = best_of(baseline)
    report("encode_message, 3-byte channel messages", len(msgs), "msg", best_of(encode), base)
    report("  same, loop joined into one bytes", len(msgs), "msg", best_of(encode_joined), base)
    report("  encode_messages (the batch), same output", len(msgs), "msg", best_of(encode_batch), base)
    pack = struct.Struct("4B").pack

    def pack_baseline() -> None:
        for m in msgs:
            pack(9, m[0], m[1], m[2])

    print(f"  {'(struct.pack of the same 4 bytes, for scale)':<44} "
          f"{best_of(pack_baseline) / len(msgs) * 1e9:8.1f} ns/msg")

    sysex = b"\xf0" + bytes(i % 128 for i in range(4094)) + b"\xf7"
    count = 200

    def sysex_encode() -> None:
        for _ in range(count):
            encode_message(sysex)

    def sysex_baseline() -> None:
        for _ in range(count):
            bytes(bytearray(sysex) + bytearray(len(sysex) // 3 + 1))

    report("encode_message, 4 KiB SysEx (per byte)", count * len(sysex), "B", best_of(sysex_encode),
           best_of(sysex_baseline))


def bench_parser() -> None:
    """MidiStreamParser on short messages (one feed, transfer-sized feeds) and on a 64 KiB SysEx."""
    msgs = short_messages(100_000)
    wire = b"".join(msgs)
    transfers = [wire[i:i + 48] for i in range(0, len(wire), 48)]

    def baseline() -> None:
        for m in msgs:
            wire[0:len(m)]

    def parse_whole() -> None:
        MidiStreamParser().feed(wire)

    def parse_transfers() -> None:
        parser = MidiStreamParser()
        for t in transfers:
            parser.feed(t)

    running = running_status_wire(len(msgs))
    running_transfers = [running[i:i + 48] for i in range(0, len(running), 48)]

    def parse_running() -> None:
        parser = MidiStreamParser()
        for t in running_transfers:
            parser.feed(t)

    base = best_of(baseline)
    report("MidiStreamParser, short messages, one feed", len(msgs), "msg", best_of(parse_whole), base)
    report("MidiStreamParser, short messages, 48 B feeds", len(msgs), "msg", best_of(parse_transfers), base)
    report("MidiStreamParser, running status, 48 B feeds", len(msgs), "msg", best_of(parse_running), base)

    sysex = b"\xf0" + bytes(i % 128 for i in range(65534)) + b"\xf7"
    pieces = [sysex[i:i + 64] for i in range(0, len(sysex), 64)]

    def sysex_baseline() -> None:
        held = bytearray()
        for p in pieces:
            held += p
        bytes(held)

    def sysex_parse() -> None:
        parser = MidiStreamParser()
        for p in pieces:
            parser.feed(p)

    def sysex_parse_chunked() -> None:
        parser = MidiStreamParser(sysex_chunk=4096)
        for p in pieces:
            parser.feed(p)

    sysex_base = best_of(sysex_baseline)
    report("MidiStreamParser, 64 KiB SysEx in 64 B feeds", len(sysex), "B", best_of(sysex_parse), sysex_base)
    report("  same, sysex_chunk=4096", len(sysex), "B", best_of(sysex_parse_chunked), sysex_base)


def bench_usb() -> None:
    """UsbMidiDecoder (packets, and packets to messages) and UsbMidiEncoder on short messages."""
    msgs = short_messages(100_000)
    wire = b"".join(msgs)
    packets = b"".join(encode_message(m) for m in msgs)
    transfers = [packets[i:i + 64] for i in range(0, len(packets), 64)]
    count = len(packets) // 4

    def baseline() -> None:
        for i in range(0, len(packets), 4):
            packets[i + 1:i + 4]

    def decode() -> None:
        decoder = UsbMidiDecoder()
        for t in transfers:
            decoder.feed(t)

    def decode_messages() -> None:
        decoder = UsbMidiDecoder()
        for t in transfers:
            decoder.messages(t)

    def encode_stream() -> None:
        encoder = UsbMidiEncoder()
        for i in range(0, len(wire), 48):
            encoder.encode(wire[i:i + 48])

    running = running_status_wire(len(msgs))

    def encode_running() -> None:
        encoder = UsbMidiEncoder()
        for i in range(0, len(running), 48):
            encoder.encode(running[i:i + 48])

    base = best_of(baseline)
    report("UsbMidiDecoder.feed, 64 B transfers", count, "pkt", best_of(decode), base)
    report("UsbMidiDecoder.messages, 64 B transfers", count, "pkt", best_of(decode_messages), base)
    report("UsbMidiEncoder.encode, short messages", count, "msg", best_of(encode_stream), base)
    report("UsbMidiEncoder.encode, running status", count, "msg", best_of(encode_running), base)


def main() -> bool:
    """Measure and print every figure; always True (this module has no hard goal)."""
    bench_encode_message()
    bench_parser()
    bench_usb()
    return True


if __name__ == "__main__":
    main()

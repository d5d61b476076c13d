'use strict';
/*
 * device_events.js: the device-side view of the USB traffic, in emulated time, for captures
 * (rig/links/device_view.py writes it as a second pcapng interface).
 *
 * Off by default: every hook returns at once unless a capture asked for events (request EVENTS, or
 * --device-events), so a run without a capture sends none. Each event goes to Python as its own
 * message: request id 0, status EVENT (7), payload
 *   u64 emulated ns, then the record: u8 version (1), u8 event, u8 endpoint address (0x80 = IN),
 *   u8 DATA PID (0, 1, or 0xff: none), u16 length, u16 reserved (0), u32 buffer control word
 *   (0 when none), then the data (the packet of an armed IN buffer or a completed transfer, the
 *   8 SETUP bytes); all little-endian. The record and data go into the pcapng packet unchanged.
 */

const EVENT = { ARM: 1, COMPLETE: 2, STALL: 3, SETUP: 4, BUS_RESET: 5 };
const VERSION = 1;
const NO_PID = 0xff;
const BUF_DATA_PID = 1 << 13;
const BUF_LEN = 0x3ff;

class DeviceEvents {
  /** `clock` is rp2040js's (its `nanos` is emulated time); `emit(payload)` sends one message. */
  constructor(clock, emit) {
    this.clock = clock;
    this.emit = emit;
    this.on = false;
    this.sent = 0;
  }

  record(event, endpoint, pid, length, word, data) {
    const body = data ? Buffer.from(data.buffer, data.byteOffset, data.length) : Buffer.alloc(0);
    const head = Buffer.alloc(20);
    head.writeBigUInt64LE(BigInt(Math.floor(this.clock.nanos)), 0);
    head.writeUInt8(VERSION, 8);
    head.writeUInt8(event, 9);
    head.writeUInt8(endpoint, 10);
    head.writeUInt8(pid, 11);
    head.writeUInt16LE(length, 12);
    head.writeUInt16LE(0, 14);
    head.writeUInt32LE(word >>> 0, 16);
    this.sent++;
    this.emit(Buffer.concat([head, body]));
  }

  /** The firmware armed a buffer (AVAILABLE written); `data` is an IN buffer's packet. */
  armed(ep, out, word, data) {
    if (!this.on) return;
    this.record(EVENT.ARM, address(ep, out), pidOf(word), word & BUF_LEN, word, out ? null : data);
  }

  /** A packet went: the host took an armed IN buffer, or an OUT packet landed in one. */
  completed(ep, out, word, data) {
    if (!this.on) return;
    this.record(EVENT.COMPLETE, address(ep, out), pidOf(word), data.length, word, data);
  }

  /** The firmware set STALL in a buffer control word. */
  stalled(ep, out, word) {
    if (!this.on) return;
    this.record(EVENT.STALL, address(ep, out), NO_PID, 0, word, null);
  }

  /** The host sent a SETUP packet to EP0. */
  setup(bytes) {
    if (!this.on) return;
    this.record(EVENT.SETUP, 0, 0, bytes.length, 0, bytes);
  }

  /** The device took a bus reset. */
  busReset() {
    if (!this.on) return;
    this.record(EVENT.BUS_RESET, 0, NO_PID, 0, 0, null);
  }
}

function address(ep, out) {
  return out ? ep : 0x80 | ep;
}

function pidOf(word) {
  return word & BUF_DATA_PID ? 1 : 0;
}

module.exports = { DeviceEvents, EVENT };

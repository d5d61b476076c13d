'use strict';
/*
 * host_endpoints.js: what the host knows of the device's endpoints from the descriptors it read, as a
 * host controller driver does: EP0's max packet size (device descriptor bMaxPacketSize0), and for
 * every endpoint of the configuration its wMaxPacketSize, transfer type and bInterval (USB 2.0 9.6.1,
 * 9.6.6). Until a descriptor is read the sizes are 64 (a full-speed host's first guess for EP0).
 * Full-speed legal sizes: EP0 8/16/32/64, bulk 8/16/32/64, interrupt 1..64 (USB 2.0 5.5.3, 5.8.3).
 */

const DEFAULT_SIZE = 64;
const TYPE = { CONTROL: 0, ISOCHRONOUS: 1, BULK: 2, INTERRUPT: 3 };
// Device-mode DPRAM (RP2040 datasheet 4.1.2.5): endpoint control words from 0x08 (EP1 IN, EP1 OUT,
// ...), buffer control words from 0x80 (EP0 IN, EP0 OUT, EP1 IN, ...); EP0's buffer at 0x100.
const EP_CTRL_DOUBLE_BUFFERED = 1 << 30;
const EP_CTRL_INTERRUPT_PER_BUFF = 1 << 29;
const EP_CTRL_INTERRUPT_PER_DOUBLE_BUFF = 1 << 28;
const EP_CTRL_ADDRESS = 0xffc0;
// SIE_CTRL (datasheet 4.1.4): EP0 has no endpoint control word; these bits stand in for it.
const SIE_CTRL_EP0_DOUBLE_BUF = 1 << 30;
const SIE_CTRL_EP0_INT_1BUF = 1 << 29;
const SIE_CTRL_EP0_INT_2BUF = 1 << 28;
const EP0_BUFFER = 0x100; // EP0 buffer 0, shared by IN and OUT; buffer 1 (EP0_DOUBLE_BUF) at 0x140
const HALF_FULL = 1 << 15;
const HALF_AVAILABLE = 1 << 10;
const HALF_LEN = 0x3ff;
const RESET_SELECT = 1 << 12;
const SECOND_BUFFER = 64; // a double-buffered (non-isochronous) endpoint's buffer 1 follows buffer 0

class HostEndpoints {
  constructor() {
    this.forget();
  }

  /** A new device on the bus (after a reset of the chip): nothing known of it yet. */
  forget() {
    this.ep0Size = DEFAULT_SIZE;
    this.endpoints = new Map(); // bEndpointAddress -> { maxPacket, type, interval }
  }

  /** A whole device descriptor was read: take bMaxPacketSize0 (8, 16, 32 or 64; others ignored). */
  learnDevice(bytes) {
    if (bytes.length >= 8 && bytes[1] === 1 && [8, 16, 32, 64].includes(bytes[7])) this.ep0Size = bytes[7];
  }

  /** A whole configuration descriptor (wTotalLength bytes) was read: take every endpoint descriptor. */
  learnConfiguration(bytes) {
    if (bytes.length < 4 || bytes.length < (bytes[2] | (bytes[3] << 8))) return;
    const map = new Map();
    for (let i = 0; i + 6 < bytes.length && bytes[i] >= 2; i += bytes[i]) {
      if (bytes[i + 1] !== 5 || bytes[i] < 7) continue;
      const size = (bytes[i + 4] | (bytes[i + 5] << 8)) & 0x7ff;
      map.set(bytes[i + 2], { maxPacket: size || DEFAULT_SIZE, type: bytes[i + 3] & 3, interval: bytes[i + 6] });
    }
    this.endpoints = map;
  }

  /** Max packet size of endpoint number `ep` in direction `out` (EP0: bMaxPacketSize0). */
  maxPacket(ep, out) {
    if (ep === 0) return this.ep0Size;
    const e = this.endpoints.get(out ? ep : ep | 0x80);
    return e ? e.maxPacket : DEFAULT_SIZE;
  }

  /** bInterval (ms at full speed) of an interrupt IN endpoint, or 0 when it is not one. */
  interruptInterval(ep) {
    const e = this.endpoints.get(ep | 0x80);
    return e && e.type === TYPE.INTERRUPT ? Math.max(1, e.interval) : 0;
  }

  info() {
    const eps = {};
    for (const [addr, e] of this.endpoints) eps[`0x${addr.toString(16).padStart(2, '0')}`] = { ...e };
    return { ep0_size: this.ep0Size, endpoints: eps };
  }
}

/**
 * One endpoint direction's data buffers as the USB controller uses them (RP2040 datasheet 4.1.2.5.2,
 * 4.1.2.5.3). Single buffered: the low half of the buffer control word (length 9:0, AVAILABLE 10,
 * DATA PID 13, FULL 15) and the buffer at the endpoint control word's address. Double buffered
 * (endpoint control DOUBLE_BUFFERED, bit 30; for EP0 SIE_CTRL EP0_DOUBLE_BUF, bit 30): the high half
 * (bits 25:16, 26, 29, 31) describes buffer 1, 64 bytes after buffer 0 (EP0: 0x140 after 0x100); the
 * controller's buffer select starts at buffer 0 and flips after every buffer it completes, so the two
 * are used in turn; a store with RESET (bit 12) puts it back to buffer 0. Each direction has its own
 * select (EP0's IN and OUT too, though they share the buffers).
 * Which completions set the endpoint's BUFF_STATUS bit (raisesStatus): EP_CONTROL INTERRUPT_PER_BUFF
 * (bit 29; EP0: SIE_CTRL EP0_INT_1BUF) every buffer; else INTERRUPT_PER_DOUBLE_BUFF (bit 28; EP0:
 * EP0_INT_2BUF) on a double-buffered endpoint when both buffers are done, i.e. when buffer 1 completes;
 * else none (the buffer control word still says the buffer is done). firmware/README.md lists where
 * the datasheet is silent and what the model decides.
 */
class EndpointBuffers {
  constructor(view, ep, out, sieCtrl = () => 0) {
    this.view = view; // the DPRAM as a DataView
    this.sieCtrl = sieCtrl; // reads SIE_CTRL (EP0's buffering and interrupt bits)
    this.ep = ep;
    this.out = out;
    this.control = 0x80 + 8 * ep + (out ? 4 : 0);
    this.select = 0;
    this.completed = [0, 0]; // packets completed in buffer 0 and buffer 1 (INFO's buffer_completions)
    this.raised = 0; // completions that set the BUFF_STATUS bit (INFO's buffer_status_sets)
  }

  endpointControl() {
    return this.ep === 0 ? 0 : this.view.getUint32(8 * this.ep + (this.out ? 4 : 0), true);
  }

  doubleBuffered() {
    if (this.ep === 0) return (this.sieCtrl() & SIE_CTRL_EP0_DOUBLE_BUF) !== 0;
    return (this.endpointControl() & EP_CTRL_DOUBLE_BUFFERED) !== 0;
  }

  /** Whether the completion of buffer `half` sets the endpoint's BUFF_STATUS bit. */
  raisesStatus(half) {
    const bits = this.ep === 0 ? this.sieCtrl() : this.endpointControl();
    const perBuffer = this.ep === 0 ? SIE_CTRL_EP0_INT_1BUF : EP_CTRL_INTERRUPT_PER_BUFF;
    const perDouble = this.ep === 0 ? SIE_CTRL_EP0_INT_2BUF : EP_CTRL_INTERRUPT_PER_DOUBLE_BUFF;
    if (bits & perBuffer) return true;
    return (bits & perDouble) !== 0 && this.doubleBuffered() && half === 1;
  }

  /** DPRAM offset of buffer `half` (0 or 1). */
  bufferOffset(half) {
    if (this.ep === 0) return EP0_BUFFER + half * SECOND_BUFFER;
    return (this.endpointControl() & EP_CTRL_ADDRESS) + half * SECOND_BUFFER;
  }

  /** The buffer the controller uses next if the firmware has made it AVAILABLE, else null:
   * { half, len, offset, bits } where `bits` is that half of the word moved to bits 15:0. */
  armed() {
    const half = this.doubleBuffered() ? this.select : 0;
    const bits = (this.view.getUint32(this.control, true) >>> (16 * half)) & 0xffff;
    if (!(bits & HALF_AVAILABLE)) return null;
    return { half, len: bits & HALF_LEN, offset: this.bufferOffset(half), bits };
  }

  /** The controller writes the status of buffer `half` back: for IN (`length` null) AVAILABLE and
   * FULL clear; for OUT `length` bytes landed: FULL and the length set, AVAILABLE clear; and RESET
   * (bit 12) clears ("cleared at end of transfer": the select was put back when it was stored).
   * Double buffered, the select then moves to the other buffer. Returns the half, for
   * BUFF_CPU_SHOULD_HANDLE (and raisesStatus, which `raised` counts). */
  complete(half, length = null) {
    const word = this.view.getUint32(this.control, true) & ~RESET_SELECT;
    const shift = 16 * half;
    let bits = (word >>> shift) & 0xffff;
    if (length === null) bits &= ~(HALF_AVAILABLE | HALF_FULL);
    else bits = (bits & ~(HALF_AVAILABLE | HALF_LEN)) | HALF_FULL | (length & HALF_LEN);
    const mask = (0xffff << shift) >>> 0;
    this.view.setUint32(this.control, ((word & ~mask) | (bits << shift)) >>> 0, true);
    this.completed[half]++;
    if (this.raisesStatus(half)) this.raised++;
    if (this.doubleBuffered()) this.select ^= 1;
    return half;
  }

  /** The firmware stored `value` to the buffer control word: RESET selects buffer 0 again. */
  stored(value) {
    if (value & RESET_SELECT) this.select = 0;
  }

  /** Bus or chip reset: the select is back at buffer 0. */
  reset() {
    this.select = 0;
  }
}

/**
 * BUFF_STATUS's memory of a second completion (datasheet, BUFF_STATUS: "It is possible for 2 buffers
 * to be completed, so clearing the buffer status bit may instantly re set it on the next clock
 * cycle"): a completion that comes while its endpoint's bit is still set is owed, and the firmware's
 * acknowledge of that bit sets it again at once. One owed completion per bit: an endpoint direction
 * has at most two buffers.
 * BUFF_CPU_SHOULD_HANDLE ("Which of the double buffers should be handled. Only valid if using an
 * interrupt per buffer"; `shouldHandle`, 1 = buffer 1) names the buffer the set bit stands for: the
 * first completion's while the second is owed, the owed one's once the acknowledge sets the bit
 * again. A completion that sets no bit (per pair, or no interrupt bit) still writes its buffer there.
 */
class BufferStatusLatch {
  constructor() {
    this.reset();
    this.again = 0; // bits set again on an acknowledge
    this.againByBit = new Array(32).fill(0); // the same per BUFF_STATUS bit (INFO's buffer_status_again)
  }

  /** Buffer `half` of the endpoint direction with BUFF_STATUS bit `bit` completed while BUFF_STATUS
   * reads `current`; `raises`: its interrupt bits ask for a bit. True if the bit is to be set now,
   * false if not (none asked, or it is set already: the completion is owed). */
  raise(bit, current, half = 0, raises = true) {
    if (raises && current & bit) {
      this.owed = (this.owed | bit) >>> 0;
      this.owedHalf = half ? (this.owedHalf | bit) >>> 0 : (this.owedHalf & ~bit) >>> 0;
      return false;
    }
    this.shouldHandle = half ? (this.shouldHandle | bit) >>> 0 : (this.shouldHandle & ~bit) >>> 0;
    return raises;
  }

  /** The firmware cleared the bits `cleared`: those owed a completion, to be set again now (and
   * BUFF_CPU_SHOULD_HANDLE names the owed buffers). */
  acknowledged(cleared) {
    const again = (this.owed & cleared) >>> 0;
    this.owed = (this.owed & ~again) >>> 0;
    this.shouldHandle = ((this.shouldHandle & ~again) | (this.owedHalf & again)) >>> 0;
    for (let bit = 0; bit < 32; bit++) {
      if ((again >>> bit) & 1) {
        this.again++;
        this.againByBit[bit]++;
      }
    }
    return again;
  }

  /** Bus or chip reset: nothing owed, BUFF_CPU_SHOULD_HANDLE 0. */
  reset() {
    this.owed = 0;
    this.owedHalf = 0; // per owed bit: 1 when the owed completion was buffer 1's
    this.shouldHandle = 0;
  }
}

module.exports = { HostEndpoints, EndpointBuffers, BufferStatusLatch };

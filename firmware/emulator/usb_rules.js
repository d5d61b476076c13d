'use strict';
/*
 * usb_rules.js: the rules a real RP2040 USB controller and a real USB host hold the firmware to,
 * which rp2040js does not. Written from the RP2040 datasheet (4.1 USB: 4.1.2 device controller,
 * buffer control, EP_STALL_ARM, EP_ABORT, the register list) and USB 2.0 (5.8 bulk, 8.5-8.6 data
 * toggle, 9.1 device states, 9.4 standard requests).
 *
 * The bridge tells this module what the host does (SETUP sent, IN packet taken, OUT packet given,
 * control transfer completed, bus reset) and every firmware store to the USB DPRAM and registers.
 * It keeps the host's view (address, configuration, interface -> endpoints map from the
 * configuration descriptor it saw, data toggles, halts) and reports a broken rule through
 * onViolation(rule, message); in strict mode (the default) the bridge stops the chip as a firmware
 * bug, as the XIP guard does. The message names the rule, the register, the value and the pc.
 *
 * Rules (the names the messages and firmware/README.md use):
 *   toggle          an IN packet whose DATA0/DATA1 PID is not the one the host expects (a host ACKs
 *                   and drops it as a retransmission: data lost), or an OUT buffer armed for the PID
 *                   the host will not send next (the controller ignores the packet). The host's
 *                   toggles: DATA0 after bus reset, SET_CONFIGURATION, SET_INTERFACE (the
 *                   interface's endpoints) and CLEAR_FEATURE(ENDPOINT_HALT); EP0 data stage from
 *                   DATA1, status stage DATA1.
 *   control-stage   a status stage that is not a zero-length packet.
 *   max-packet      an IN packet longer than the endpoint's max packet size (from the descriptors the host read).
 *   address         ADDR_ENDP changed during a SET_ADDRESS before its status stage, or the device
 *                   address differs from the one the host uses when the host sends a token.
 *   buffer-control-owned  a store to a buffer control word while its AVAILABLE bit is set (the
 *                   controller owns it), unless the endpoint is aborted (EP_ABORT and EP_ABORT_DONE
 *                   both set for it). A SETUP hands both EP0 buffers back to the processor.
 *   buffer-owned    a store (core or DMA) into an endpoint's data buffer while it is armed.
 *   available-same-store  AVAILABLE set in a store that also changes other fields of the word, or
 *                   less than one clk_usb period after the store that wrote them (datasheet
 *                   4.1.2.5.1: write the other fields, wait, then set AVAILABLE).
 *   ep0-stall       EP0 STALL in the buffer control word without the EP_STALL_ARM bit of that
 *                   direction (the controller NAKs instead). The controller clears EP_STALL_ARM when
 *                   a SETUP arrives (modelled by the bridge).
 *   halt-cleared    a non-zero endpoint's STALL taken out of its buffer control word while the host
 *                   has not cleared the halt (CLEAR_FEATURE(ENDPOINT_HALT), SET_INTERFACE,
 *                   SET_CONFIGURATION or a bus reset since the firmware stalled it).
 *   w1c             a plain store to a write-one-to-clear register (SIE_STATUS, BUFF_STATUS,
 *                   EP_ABORT_DONE, EP_STATUS_STALL_NAK) with bits that are not write-clearable or not
 *                   set (a read value written back acknowledges what was not handled), or an atomic
 *                   SET/CLR/XOR alias store to one.
 *   irq-pending     the USB interrupt asserted and enabled for more than 5 ms of emulated time: the
 *                   handler returns without acknowledging it.
 *
 * Double-buffered endpoints (EP_CONTROL DOUBLE_BUFFERED, or EP0 with SIE_CTRL EP0_DOUBLE_BUF and its
 * buffer 1 at 0x140; datasheet 4.1.2.5.2 and the EP_BUFFER_CONTROL
 * register table: bits 31:16 are buffer 1's LEN_1, AVAILABLE_1, PID_1, FULL_1, and buffer 1 lies 64
 * bytes after buffer 0) are judged per buffer: `buffer-control-owned`, `available-same-store` and
 * `buffer-owned` apply to each buffer's half of the word and each buffer. A 32-bit store covers both
 * halves, so it must not be made while either buffer is AVAILABLE (the controller writes a buffer's
 * status back into its half; a store of the whole word races that write-back); a 16-bit or 8-bit
 * store covers only its half. Two rules more:
 *   double-pid      both buffers AVAILABLE with the same DATA PID: the controller sends or accepts them
 *                   in turn, so the host meets the same PID twice and drops the second packet as a
 *                   retransmission (USB 2.0 8.6.2) or the controller ignores it.
 *   buffer-length   a buffer made AVAILABLE with LEN over 64: it runs into the next buffer (buffer 0 into
 *                   buffer 1, buffer 1 into whatever follows).
 * `toggle` and `max-packet` already judge each packet, whichever buffer carried it.
 */

const DPRAM_BASE = 0x50100000;
const DPRAM_SIZE = 0x1000;
const BUF_CTRL_FIRST = 0x80;
const BUF_CTRL_LAST = 0xfc;
const EP0_BUFFER = 0x100;
const BUF_FULL = 1 << 15;
const BUF_DATA1 = 1 << 13;
const BUF_STALL = 1 << 11;
const BUF_AVAILABLE = 1 << 10;
const BUF_LEN = 0x3ff;
const EP_CTRL_ENABLE = 1 << 31;
const EP_CTRL_DOUBLE_BUFFERED = 1 << 30;
const HALF_BUFFER = 64; // a double-buffered (non-isochronous) endpoint's buffers: 64 bytes each, buffer 1 after buffer 0
const SIE_CTRL_EP0_DOUBLE_BUF = 1 << 30; // EP0's buffer 1 at 0x140, after buffer 0 at 0x100
const MAX_PACKET = 64;
// USB controller registers (datasheet 4.1.4).
const REG = {
  ADDR_ENDP: 0x00, SIE_STATUS: 0x50, BUFF_STATUS: 0x58, EP_ABORT: 0x60, EP_ABORT_DONE: 0x64,
  EP_STALL_ARM: 0x68, EP_STATUS_STALL_NAK: 0x70, INTS: 0x98,
};
const REG_NAMES = Object.fromEntries(Object.entries(REG).map(([k, v]) => [v, k]));
// Write-one-to-clear bits of each W1C register.
const W1C = {
  [REG.SIE_STATUS]: (0xff << 24) | (1 << 19) | (1 << 18) | (1 << 17) | (1 << 16) | (1 << 11) | (1 << 4),
  [REG.BUFF_STATUS]: 0xffffffff,
  [REG.EP_ABORT_DONE]: 0xffffffff,
  [REG.EP_STATUS_STALL_NAK]: 0xffffffff,
};
const IRQ_USBCTRL = 5;
const IRQ_PENDING_LIMIT_NS = 5e6;
const CLK_USB_HZ = 48e6;
// Standard requests (USB 2.0 table 9-4).
const REQ = { CLEAR_FEATURE: 1, SET_FEATURE: 3, SET_ADDRESS: 5, GET_DESCRIPTOR: 6, SET_CONFIGURATION: 9, SET_INTERFACE: 11 };

function hex(n, digits = 0) {
  return `0x${(n >>> 0).toString(16).padStart(digits, '0')}`;
}

function bufCtrlName(offset) {
  const ep = (offset - BUF_CTRL_FIRST) >> 3;
  return `EP${ep}_${offset & 4 ? 'OUT' : 'IN'}_BUFFER_CONTROL`;
}

function epName(ep, out) {
  return hex(out ? ep : ep | 0x80, 2);
}

/** The bit of endpoint `ep`, direction `out`, in BUFF_STATUS, EP_ABORT and friends. */
function epBit(ep, out) {
  return 1 << (ep * 2 + (out ? 1 : 0));
}

class UsbRules {
  /**
   * mcu: the RP2040; strict: stop on a violation (else record it and go on); onViolation(rule,
   * message) is called for each (in strict mode the bridge stops the chip there).
   */
  constructor(mcu, { strict = true, onViolation, maxPacket = () => MAX_PACKET }) {
    this.mcu = mcu;
    this.usb = mcu.usbCtrl;
    this.view = mcu.usbDPRAMView;
    this.strict = strict;
    this.onViolation = onViolation;
    this.maxPacket = maxPacket; // ep -> the IN endpoint's max packet size the host knows
    this.violations = [];
    this.fired = {}; // rule -> count
    this.lastStore = new Map(); // 2 * buffer control offset + half -> { value, nanos } of the last store to that half
    this.bufferOwner = new Int16Array(DPRAM_SIZE >> 6).fill(-1); // 64-byte block -> buffer control offset
    this.irqSince = null;
    this.storeHalf = null; // the half (0, 1) a 16/8-bit store covers; null for a 32-bit store
    this.resetHost();
  }

  // --- host state ------------------------------------------------------------------------------

  resetHost() {
    this.address = 0;
    this.configuration = 0;
    this.hostPid = [new Uint8Array(16), new Uint8Array(16)]; // [IN, OUT][ep]: next PID the host expects/sends
    this.pidUnknown = [new Uint8Array(16), new Uint8Array(16)];
    this.halted = [new Uint8Array(16), new Uint8Array(16)]; // firmware stalled, host has not cleared
    this.control = null; // { setup fields, phase, dataPid }
    if (!this.interfaces) this.interfaces = null; // interface -> endpoint addresses (kept across resets)
  }

  now() {
    return this.mcu.clock.nanos;
  }

  pc() {
    return hex((this.mcu.core.PC - 2) >>> 0);
  }

  violation(rule, message) {
    this.fired[rule] = (this.fired[rule] || 0) + 1;
    const text = `firmware bug: USB rule '${rule}' broken: ${message}`;
    if (this.violations.length < 20) this.violations.push(text);
    this.onViolation(rule, text);
  }

  info() {
    return {
      strict: this.strict,
      fired: { ...this.fired },
      violations: this.violations.slice(),
      host: {
        address: this.address,
        configuration: this.configuration,
        halted: this.haltedList(),
      },
    };
  }

  haltedList() {
    const out = [];
    for (let ep = 1; ep < 16; ep++) {
      if (this.halted[0][ep]) out.push(epName(ep, false));
      if (this.halted[1][ep]) out.push(epName(ep, true));
    }
    return out;
  }

  /** Endpoints (dir, ep) of interface `itf` from the configuration descriptor, or null if unknown. */
  interfaceEndpoints(itf) {
    if (!this.interfaces || !this.interfaces.has(itf)) return null;
    return this.interfaces.get(itf);
  }

  learnConfiguration(bytes) {
    const map = new Map();
    let itf = -1;
    for (let i = 0; i + 1 < bytes.length && bytes[i] >= 2; i += bytes[i]) {
      const type = bytes[i + 1];
      if (type === 4 && i + 2 < bytes.length) {
        itf = bytes[i + 2];
        if (!map.has(itf)) map.set(itf, []);
      } else if (type === 5 && itf >= 0 && i + 2 < bytes.length) {
        map.get(itf).push(bytes[i + 2]);
      }
    }
    // Only a whole configuration descriptor (wTotalLength bytes) is taken.
    if (bytes.length >= 4 && bytes.length >= (bytes[2] | (bytes[3] << 8))) this.interfaces = map;
  }

  resetEndpoint(addr) {
    const ep = addr & 0x0f;
    const d = addr & 0x80 ? 0 : 1;
    this.hostPid[d][ep] = 0;
    this.pidUnknown[d][ep] = 0;
  }

  allowClear(addr) {
    this.halted[addr & 0x80 ? 0 : 1][addr & 0x0f] = 0;
  }

  forEachNonZero(fn) {
    for (let ep = 1; ep < 16; ep++) {
      fn(ep | 0x80);
      fn(ep);
    }
  }

  // --- host events (called by the bridge) ---------------------------------------------------------

  busReset() {
    this.resetHost();
  }

  /** The host sends a SETUP packet (the bridge then hands it to the controller). */
  setup(bytes) {
    const s = {
      bm: bytes[0], req: bytes[1], value: bytes[2] | (bytes[3] << 8),
      index: bytes[4] | (bytes[5] << 8), length: bytes[6] | (bytes[7] << 8),
    };
    this.checkAddress('SETUP');
    this.control = { ...s, dataPid: 1, addressBefore: this.deviceAddress() };
    // The host asks to clear halts: from here the firmware may take STALL out of these endpoints.
    if ((s.bm & 0x60) === 0 && !(s.bm & 0x80)) {
      if (s.req === REQ.CLEAR_FEATURE && (s.bm & 0x1f) === 2 && s.value === 0) this.allowClear(s.index & 0xff);
      if (s.req === REQ.SET_CONFIGURATION) this.forEachNonZero((a) => this.allowClear(a));
      if (s.req === REQ.SET_INTERFACE && (s.bm & 0x1f) === 1) {
        const eps = this.interfaceEndpoints(s.index & 0xff);
        if (eps) for (const a of eps) this.allowClear(a);
        else this.forEachNonZero((a) => this.allowClear(a));
      }
    }
  }

  /** A control transfer completed its status stage; `data` is the IN data stage, if any. */
  controlDone(data) {
    const s = this.control;
    this.control = null;
    if (!s || (s.bm & 0x60) !== 0) return;
    if (s.bm & 0x80) {
      if (s.req === REQ.GET_DESCRIPTOR && s.value >> 8 === 2 && data) this.learnConfiguration(data);
      return;
    }
    switch (s.req) {
      case REQ.SET_ADDRESS:
        this.address = s.value & 0x7f;
        break;
      case REQ.SET_CONFIGURATION:
        this.configuration = s.value & 0xff;
        this.forEachNonZero((a) => this.resetEndpoint(a));
        break;
      case REQ.SET_INTERFACE: {
        const eps = this.interfaceEndpoints(s.index & 0xff);
        if (eps) for (const a of eps) this.resetEndpoint(a);
        else {
          // Without the configuration descriptor the host cannot tell: accept the next PID.
          for (let ep = 1; ep < 16; ep++) this.pidUnknown[0][ep] = this.pidUnknown[1][ep] = 1;
        }
        break;
      }
      case REQ.CLEAR_FEATURE:
        if ((s.bm & 0x1f) === 2 && s.value === 0 && (s.index & 0x0f) !== 0) this.resetEndpoint(s.index & 0xff);
        break;
      default:
        break;
    }
  }

  /** The control transfer failed (STALL, timeout): nothing takes effect. */
  controlFailed() {
    this.control = null;
  }

  deviceAddress() {
    return this.usb.addrEndp & 0x7f;
  }

  checkAddress(what) {
    const dev = this.deviceAddress();
    if (dev !== this.address) {
      this.violation('address', `the host sends ${what} to address ${this.address} but ADDR_ENDP holds ` +
        `${dev} (${hex(this.usb.addrEndp)}): the device would not answer`);
    }
  }

  /** The host takes an IN packet armed with buffer control `word` (`phase`: EP0 stage, else null). */
  inTaken(ep, word, len, phase) {
    if (ep !== 0) this.checkAddress(`an IN token to ${epName(ep, false)}`);
    const pid = word & BUF_DATA1 ? 1 : 0;
    const where = `${bufCtrlName(BUF_CTRL_FIRST + 8 * ep)} = ${hex(word)}`;
    if (len > this.maxPacket(ep)) {
      this.violation('max-packet', `${epName(ep, false)} sends a ${len}-byte packet (${where}); max packet is ` +
        `${this.maxPacket(ep)}`);
    }
    if (ep === 0) {
      if (phase === 'status-in' && len !== 0) {
        this.violation('control-stage', `EP0 status stage IN is ${len} bytes, not a zero-length packet (${where})`);
      }
      const want = phase === 'status-in' ? 1 : this.control ? this.control.dataPid : pid;
      if (pid !== want) {
        this.violation('toggle', `EP0 IN ${phase || 'packet'} sent as DATA${pid}, the host expects DATA${want} ` +
          `(${where}); a real host drops it`);
      }
      if (this.control && phase === 'data-in') this.control.dataPid ^= 1;
      return;
    }
    this.checkToggle(ep, false, pid, where, 'sent');
  }

  /** The host sends an OUT packet to a buffer armed with `word`. */
  outGiven(ep, word, phase) {
    if (ep !== 0) this.checkAddress(`an OUT token to ${epName(ep, true)}`);
    const pid = word & BUF_DATA1 ? 1 : 0;
    const where = `${bufCtrlName(BUF_CTRL_FIRST + 8 * ep + 4)} = ${hex(word)}`;
    if (ep === 0) {
      const want = phase === 'status-out' ? 1 : this.control ? this.control.dataPid : pid;
      if (pid !== want) {
        this.violation('toggle', `EP0 OUT buffer armed for DATA${pid} but the host sends the ${phase || 'packet'} ` +
          `as DATA${want} (${where}); the controller would not accept it`);
      }
      if (this.control && phase === 'data-out') this.control.dataPid ^= 1;
      return;
    }
    this.checkToggle(ep, true, pid, where, 'armed for');
  }

  checkToggle(ep, out, pid, where, verb) {
    const d = out ? 1 : 0;
    if (this.pidUnknown[d][ep]) {
      this.pidUnknown[d][ep] = 0;
      this.hostPid[d][ep] = pid;
    }
    const want = this.hostPid[d][ep];
    if (pid !== want) {
      const effect = out ? 'the controller would ignore the host\'s packet' : 'a real host ACKs and drops it as a retransmission';
      this.violation('toggle', `${epName(ep, out)} ${verb} DATA${pid} but the host's toggle is DATA${want} ` +
        `(${where}): ${effect}, so data would be lost on a board`);
    }
    this.hostPid[d][ep] = pid ^ 1;
  }

  /** The bridge is about to report STALL on EP0 to the host. */
  ep0Stall(out) {
    const arm = this.usb.epStallArm;
    if (!(arm & (out ? 2 : 1))) {
      this.violation('ep0-stall', `EP0 ${out ? 'OUT' : 'IN'} buffer control has STALL but EP_STALL_ARM is ` +
        `${hex(arm)} (bit ${out ? 1 : 0} clear): the controller NAKs instead of stalling`);
    }
  }

  // --- firmware stores ------------------------------------------------------------------------------

  aborted(ep, out) {
    const bit = epBit(ep, out);
    return (this.usb.epAbort & bit) !== 0 && (this.usb.epAbortDone & bit) !== 0;
  }

  /** A core or DMA store to the DPRAM at `offset` (word aligned): `old` before, `value` after. */
  dpramStore(offset, old, value) {
    if (offset >= BUF_CTRL_FIRST && offset <= BUF_CTRL_LAST) {
      this.bufCtrlStore(offset, old, value);
      return;
    }
    if (offset >= 0x08 && offset < BUF_CTRL_FIRST) {
      this.epCtrlStore(offset, value);
      return;
    }
    if (offset >= EP0_BUFFER) {
      // EP0's buffers serve both directions: buffer 0 at 0x100, buffer 1 at 0x140 when EP0 double-buffers.
      const ep0Half = offset < EP0_BUFFER + HALF_BUFFER ? 0
        : offset < EP0_BUFFER + 2 * HALF_BUFFER && this.doubleBuffered(0, false) ? 1 : -1;
      const owner = ep0Half >= 0 ? -2 : this.bufferOwner[offset >> 6];
      if (owner === -1) return;
      // An owner is a buffer control offset, plus 0x100 for buffer 1 of a double-buffered endpoint.
      const words = owner === -2 ? [BUF_CTRL_FIRST + 0x100 * ep0Half, BUF_CTRL_FIRST + 4 + 0x100 * ep0Half] : [owner];
      for (const w of words) {
        const half = w >> 8;
        const word = this.view.getUint32(w & 0xff, true);
        if ((word >>> (16 * half)) & BUF_AVAILABLE) {
          this.violation('buffer-owned', `store of ${hex(value)} to DPRAM ${hex(DPRAM_BASE + offset)} ` +
            `(pc ${this.pc()}) while ${bufCtrlName(w & 0xff)} = ${hex(word)} has AVAILABLE${half ? '_1' : ''} set: ` +
            `the controller owns that buffer${half ? ' (buffer 1)' : ''}`);
          return;
        }
      }
    }
  }

  epCtrlStore(offset, value) {
    // Endpoint control words: EP1 IN at 0x08, EP1 OUT at 0x0c, ... Rebuild the buffer owner map.
    void offset;
    void value;
    this.bufferOwner.fill(-1);
    for (let ep = 1; ep < 16; ep++) {
      for (const out of [false, true]) {
        const ctrl = this.view.getUint32(8 * ep + (out ? 4 : 0), true);
        if (!(ctrl & EP_CTRL_ENABLE)) continue;
        const block = (ctrl & 0xffc0) >> 6;
        const word = BUF_CTRL_FIRST + 8 * ep + (out ? 4 : 0);
        if (block > 0 && block < this.bufferOwner.length) this.bufferOwner[block] = word;
        const second = block + HALF_BUFFER / 64;
        if ((ctrl & EP_CTRL_DOUBLE_BUFFERED) && block > 0 && second < this.bufferOwner.length) {
          this.bufferOwner[second] = word + 0x100;
        }
      }
    }
  }

  /** Endpoint control DOUBLE_BUFFERED; for EP0 (no endpoint control word) SIE_CTRL EP0_DOUBLE_BUF. */
  doubleBuffered(ep, out) {
    if (ep === 0) return (this.usb.sieCtrl & SIE_CTRL_EP0_DOUBLE_BUF) !== 0;
    return (this.view.getUint32(8 * ep + (out ? 4 : 0), true) & EP_CTRL_DOUBLE_BUFFERED) !== 0;
  }

  bufCtrlStore(offset, old, value) {
    const ep = (offset - BUF_CTRL_FIRST) >> 3;
    const out = (offset & 4) !== 0;
    const name = bufCtrlName(offset);
    const double = this.doubleBuffered(ep, out);
    const width = this.storeHalf === null ? '' : ` (16-bit store to buffer ${this.storeHalf}'s half)`;
    const at = `${name} (${hex(DPRAM_BASE + offset)}) = ${hex(value)}, was ${hex(old)}${width}, pc ${this.pc()}`;
    const covered = this.storeHalf === null ? [0, 1] : [this.storeHalf];
    // A single-buffered endpoint's word describes buffer 0 only (datasheet: buffer 1's fields are
    // valid only in double-buffered mode).
    const judged = double ? covered : covered.filter((h) => h === 0);
    for (const half of judged) this.bufHalfStore(offset, half, old, value, at, double);
    if (double) {
      const a0 = (value & BUF_AVAILABLE) !== 0;
      const a1 = ((value >>> 16) & BUF_AVAILABLE) !== 0;
      const newly = (a0 && !(old & BUF_AVAILABLE)) || (a1 && !((old >>> 16) & BUF_AVAILABLE));
      const pid0 = (value & BUF_DATA1) !== 0;
      const pid1 = ((value >>> 16) & BUF_DATA1) !== 0;
      if (a0 && a1 && newly && pid0 === pid1) {
        this.violation('double-pid', `${at}: both buffers AVAILABLE with DATA${pid0 ? 1 : 0}: the controller uses ` +
          'them in turn, so the second packet repeats the first one\'s PID and the host drops it as a ' +
          'retransmission (or the controller ignores it); consecutive packets alternate DATA0/DATA1 (USB 2.0 8.6)');
      }
    }
    if (ep !== 0) {
      const d = out ? 1 : 0;
      if (this.halted[d][ep] && !(value & BUF_STALL)) {
        this.violation('halt-cleared', `${at}: STALL taken out of ${epName(ep, out)} but the host has not ` +
          'cleared its halt (CLEAR_FEATURE(ENDPOINT_HALT), SET_INTERFACE or SET_CONFIGURATION); a halted ' +
          'endpoint stays halted (USB 2.0 9.4.5)');
      }
      if (value & BUF_STALL) this.halted[d][ep] = 1;
    }
    for (const half of covered) this.lastStore.set(offset * 2 + half, { value, nanos: this.now() });
  }

  /** The rules of one buffer's half (`half` 0: bits 15:0, 1: bits 31:16) of a buffer control store. */
  bufHalfStore(offset, half, old, value, at, double) {
    const ep = (offset - BUF_CTRL_FIRST) >> 3;
    const out = (offset & 4) !== 0;
    const shift = 16 * half;
    const oldBits = (old >>> shift) & 0xffff;
    const bits = (value >>> shift) & 0xffff;
    const which = double ? ` buffer ${half}'s half` : '';
    if ((oldBits & BUF_AVAILABLE) && !this.aborted(ep, out)) {
      const wholeWord = double && this.storeHalf === null;
      let again = '';
      if (wholeWord && bits === oldBits) again = ' (rewritten unchanged by a store to the other buffer\'s half)';
      else if (bits & BUF_AVAILABLE && (bits & ~BUF_AVAILABLE) === (oldBits & ~BUF_AVAILABLE)) {
        again = ' (AVAILABLE set again before the controller consumed the buffer)';
      }
      this.violation('buffer-control-owned', `${at}:${which} written while AVAILABLE is set${again} (the controller ` +
        'owns the buffer; revoke it with EP_ABORT and wait for EP_ABORT_DONE first' +
        `${wholeWord ? '; a 32-bit store covers both buffers\' halves: write the free one with a 16-bit store' : ''})`);
    } else if ((bits & BUF_AVAILABLE) && !(oldBits & BUF_AVAILABLE)) {
      const last = this.lastStore.get(offset * 2 + half);
      const rest = bits & ~BUF_AVAILABLE;
      const lastBits = last ? (last.value >>> shift) & 0xffff : null;
      const minNs = 1e9 / CLK_USB_HZ;
      if (!last || lastBits !== rest || (oldBits & ~BUF_AVAILABLE) !== rest) {
        this.violation('available-same-store', `${at}:${which} AVAILABLE set in the same store as the other fields ` +
          '(datasheet 4.1.2.5.1: write them first, wait for clk_usb, then set AVAILABLE)');
      } else if (this.now() - last.nanos < minNs) {
        this.violation('available-same-store', `${at}:${which} AVAILABLE set ${Math.round(this.now() - last.nanos)} ns ` +
          `after the other fields, less than one clk_usb period (${minNs.toFixed(1)} ns)`);
      }
      if (double && (bits & BUF_LEN) > HALF_BUFFER) {
        this.violation('buffer-length', `${at}: buffer ${half} made AVAILABLE for ${bits & BUF_LEN} bytes; a ` +
          `double-buffered endpoint's buffers are ${HALF_BUFFER} bytes each (datasheet 4.1.2.5.2: buffer 1 lies ` +
          `${HALF_BUFFER} bytes after buffer 0), so the packet would run into the next buffer`);
      }
    }
  }

  /** A store to a USB controller register (`atomic`: 0 plain, 1 XOR, 2 SET, 3 CLR alias). */
  registerStore(offset, raw, atomic, current) {
    const mask = W1C[offset];
    if (mask !== undefined) {
      const name = REG_NAMES[offset];
      const at = `${name} (${hex(0x50110000 + offset)}) written ${hex(raw)} while it reads ${hex(current)}, pc ${this.pc()}`;
      if (atomic !== 0) {
        this.violation('w1c', `${at}: an atomic ${['', 'XOR', 'SET', 'CLR'][atomic]} alias store to a ` +
          'write-one-to-clear register (write the bits to acknowledge to the register itself)');
      } else if (raw & ~mask) {
        this.violation('w1c', `${at}: bits ${hex(raw & ~mask)} are not write-one-to-clear (a read value written back?)`);
      } else if (raw & ~current) {
        this.violation('w1c', `${at}: bits ${hex(raw & ~current)} acknowledge events that are not pending`);
      }
    }
    if (offset === REG.ADDR_ENDP && atomic === 0) {
      const s = this.control;
      if (s && (s.bm & 0x60) === 0 && s.req === REQ.SET_ADDRESS && (raw & 0x7f) !== s.addressBefore) {
        this.violation('address', `ADDR_ENDP (${hex(0x50110000)}) = ${hex(raw)} before the SET_ADDRESS status ` +
          `stage completed (pc ${this.pc()}): the status stage would go to the new address and the host never sees it ` +
          '(USB 2.0 9.4.6)');
      }
    }
  }

  /** Called often by the bridge: the USB interrupt must not stay asserted. */
  poll() {
    const core = this.mcu.core;
    const asserted = this.usb.intStatus !== 0 && (core.enabledInterrupts & (1 << IRQ_USBCTRL)) !== 0;
    if (!asserted) {
      this.irqSince = null;
      return;
    }
    const now = this.now();
    if (this.irqSince === null) {
      this.irqSince = now;
    } else if (now - this.irqSince > IRQ_PENDING_LIMIT_NS) {
      this.irqSince = null;
      this.violation('irq-pending', `USB interrupt asserted for more than ${IRQ_PENDING_LIMIT_NS / 1e6} ms: INTS = ` +
        `${hex(this.usb.intStatus)}, SIE_STATUS = ${hex(this.usb.sieStatus)}, BUFF_STATUS = ${hex(this.usb.buffStatus)} ` +
        `(pc ${this.pc()}); the handler returns without acknowledging it`);
    }
  }
}

module.exports = { UsbRules, BUF_AVAILABLE, BUF_FULL, BUF_STALL, BUF_DATA1, BUF_LEN, epBit, REG };

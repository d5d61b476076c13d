'use strict';
/*
 * ep0_rules_probe.js: the USB rules (firmware/emulator/usb_rules.js) on EP0's buffer control words and
 * buffers with SIE_CTRL EP0_DOUBLE_BUF set and clear: stores made as a firmware would, on a stub chip
 * (DPRAM, SIE_CTRL, clock), the bridge's calling order kept (rules first, then the store). Prints, per
 * case, the rules that fired, as JSON for test_ep0_double_rules.py.
 * Usage: node ep0_rules_probe.js BRIDGE_DIR
 */
const path = require('path');

const { UsbRules } = require(path.join(process.argv[2], 'usb_rules.js'));

const AVAILABLE = 1 << 10;
const DATA1 = 1 << 13;
const EP0_DOUBLE_BUF = 1 << 30;

/** A fresh stub chip and rules in warn mode: the rules fired by `steps(store, clock)`. */
function run(sieCtrl, steps) {
  const dpram = new DataView(new ArrayBuffer(0x1000));
  const mcu = {
    usbCtrl: { sieCtrl, epAbort: 0, epAbortDone: 0, epStallArm: 0, addrEndp: 0 },
    usbDPRAMView: dpram,
    clock: { nanos: 0 },
    core: { PC: 0x10000200, enabledInterrupts: 0 },
  };
  const rules = new UsbRules(mcu, { strict: false, onViolation() {} });
  // A store of `value` to DPRAM `offset`: 32-bit, or 16-bit to half `half` (as the bridge reports it).
  const store = (offset, value, half = null) => {
    const old = dpram.getUint32(offset & ~3, true) >>> 0;
    const word = half === null ? value >>> 0 : ((old & ~(0xffff << (16 * half))) | (value << (16 * half))) >>> 0;
    rules.storeHalf = half;
    rules.dpramStore(offset & ~3, old, word);
    rules.storeHalf = null;
    dpram.setUint32(offset & ~3, word, true);
    mcu.clock.nanos += 100; // a few instructions later: more than one clk_usb period
  };
  steps(store);
  return rules.fired;
}

// Arm EP0 IN buffer 1 (the high half of 0x80) properly: fields, then AVAILABLE, 16-bit stores.
function armBuffer1(store, pid = DATA1) {
  store(0x80, 8 | pid, 1);
  store(0x80, 8 | pid | AVAILABLE, 1);
}

const out = {};
for (const [name, sie] of [['double', EP0_DOUBLE_BUF], ['single', 0]]) {
  out[name] = {
    arm_buffer_1: run(sie, (store) => armBuffer1(store)),
    write_0x140_while_buffer_1_armed: run(sie, (store) => {
      armBuffer1(store);
      store(0x140, 0x12345678);
    }),
    write_0x100_while_only_buffer_1_armed: run(sie, (store) => {
      armBuffer1(store);
      store(0x100, 0x12345678);
    }),
    buffer_1_available_in_one_store: run(sie, (store) => store(0x84, 64 | AVAILABLE, 1)),
    both_halves_same_pid: run(sie, (store) => {
      store(0x80, 8, 0);
      store(0x80, 8 | AVAILABLE, 0);
      armBuffer1(store, 0);
    }),
    buffer_1_longer_than_64: run(sie, (store) => {
      store(0x84, 65, 1);
      store(0x84, 65 | AVAILABLE, 1);
    }),
  };
}
process.stdout.write(JSON.stringify(out));

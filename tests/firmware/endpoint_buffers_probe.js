'use strict';
/*
 * endpoint_buffers_probe.js: drives the USB DPRAM of an emulated RP2040 as a double-buffering
 * firmware would (endpoint control DOUBLE_BUFFERED, both halves of the buffer control word, RESET)
 * and takes the buffers as the bridge's controller model (firmware/emulator/host_endpoints.js
 * EndpointBuffers) does, printing what it saw as JSON for test_endpoint_buffers.py.
 * Usage: node endpoint_buffers_probe.js BRIDGE_DIR
 */
const path = require('path');

const bridgeDir = process.argv[2];
const { RP2040 } = require(require.resolve('rp2040js', { paths: [bridgeDir] }));
const { EndpointBuffers } = require(path.join(bridgeDir, 'host_endpoints.js'));

const DPRAM = 0x50100000;
const mcu = new RP2040();
mcu.logger = { debug() {}, info() {}, warn() {}, error() {} };
mcu.usbCtrl.DPRAMUpdated = () => {}; // rp2040js's own buffer handling is replaced, as in the bridge
const w = (offset, value) => mcu.writeUint32(DPRAM + offset, value >>> 0);
const r = (offset) => mcu.readUint32(DPRAM + offset) >>> 0;
const ENABLE = 1 << 31;
const DOUBLE = 1 << 30;
const BULK = 2 << 26;
const half = (len, pid, full) => len | (1 << 10) | (pid << 13) | (full ? 1 << 15 : 0);
const out = {};

// EP2 IN, double buffered at 0x180 (buffer 1 at 0x1c0): two packets armed at once, DATA0 then DATA1.
w(0x10, ENABLE | DOUBLE | BULK | 0x180);
for (let i = 0; i < 16; i += 4) {
  w(0x180 + i, 0x11111111);
  w(0x1c0 + i, 0x22222222);
}
const ep2in = new EndpointBuffers(mcu.usbDPRAMView, 2, false);
w(0x90, half(8, 0, true) | (half(4, 1, true) << 16));
const taken = [];
for (let a = ep2in.armed(); a !== null && taken.length < 4; a = ep2in.armed()) {
  taken.push({ half: a.half, len: a.len, pid: (a.bits >> 13) & 1, offset: a.offset,
    first: mcu.usbDPRAM[a.offset] });
  ep2in.complete(a.half);
}
out.in_taken = taken;
out.in_word_after = r(0x90);
// Only buffer 1 armed while the select points at buffer 0: the controller waits (NAK), in order.
w(0x90, half(4, 0, true) << 16);
out.in_only_buffer1_armed = ep2in.armed();
// RESET (bit 12) moves the select back to buffer 0 whatever it was.
ep2in.complete(1);
out.select_before_reset = ep2in.select;
w(0x90, (1 << 12));
ep2in.stored(r(0x90));
out.select_after_reset = ep2in.select;

// EP3 OUT, double buffered at 0x200: both halves armed for 64 bytes; two packets land in turn.
w(0x1c, ENABLE | DOUBLE | BULK | 0x200);
const ep3out = new EndpointBuffers(mcu.usbDPRAMView, 3, true);
w(0x9c, half(64, 0, false) | (half(64, 1, false) << 16));
const landed = [];
for (const [len, byte] of [[10, 0xaa], [3, 0xbb]]) {
  const a = ep3out.armed();
  if (a === null) {
    landed.push(null); // nothing armed where the select points: the packet would be NAKed
    continue;
  }
  mcu.usbDPRAM.fill(byte, a.offset, a.offset + len);
  landed.push({ half: a.half, offset: a.offset, done: ep3out.complete(a.half, len) });
}
out.out_landed = landed;
out.out_word_after = r(0x9c);
out.out_armed_after = ep3out.armed();

// A single-buffered endpoint never looks at the high half, and its select stays at 0.
w(0x20, ENABLE | BULK | 0x240);
const ep4in = new EndpointBuffers(mcu.usbDPRAMView, 4, false);
w(0xa0, half(2, 1, true) | (half(5, 0, true) << 16));
const single = ep4in.armed();
ep4in.complete(single.half);
out.single = { half: single.half, len: single.len, offset: single.offset, select: ep4in.select,
  armed_after: ep4in.armed() };

process.stdout.write(JSON.stringify(out));

'use strict';
/*
 * buffer_interrupts_probe.js: which buffer completions set an endpoint's BUFF_STATUS bit, and where
 * EP0's buffers lie, in the bridge's controller model (firmware/emulator/host_endpoints.js
 * EndpointBuffers), for every combination of the interrupt bits: EP_CONTROL INTERRUPT_PER_BUFF (29)
 * and INTERRUPT_PER_DOUBLE_BUFF (28) with DOUBLE_BUFFERED (30) on or off, and for EP0 SIE_CTRL
 * EP0_DOUBLE_BUF (30), EP0_INT_1BUF (29), EP0_INT_2BUF (28); and BUFF_STATUS keeping a second
 * completion for the acknowledge (BufferStatusLatch), BUFF_CPU_SHOULD_HANDLE with it, and RESET cleared
 * when a buffer is written back. Prints JSON for test_buffer_interrupts.py.
 * Usage: node buffer_interrupts_probe.js BRIDGE_DIR
 */
const path = require('path');

const { EndpointBuffers, BufferStatusLatch } = require(path.join(process.argv[2], 'host_endpoints.js'));

const ENABLE = 1 << 31;
const BULK = 2 << 26;
const AVAILABLE = 1 << 10;
const view = new DataView(new ArrayBuffer(0x1000));
let sieCtrl = 0;

/** Arm both halves (or buffer 0 alone when single buffered), complete `packets` buffers in turn and
 * give, per completion, [the half, whether it set BUFF_STATUS]. */
function run(buffers, packets) {
  const seen = [];
  for (let i = 0; i < packets; i++) {
    view.setUint32(buffers.control, (AVAILABLE | 8) | ((AVAILABLE | 8) << 16), true);
    const armed = buffers.armed();
    const half = buffers.complete(armed.half, buffers.out ? 8 : null);
    seen.push([half, buffers.raisesStatus(half)]);
  }
  return { seen, raised: buffers.raised };
}

const out = { endpoint: {}, ep0: {} };
// EP2 IN at 0x180 with each combination of the three bits.
for (const double of [false, true]) {
  for (const [name, bits] of [['none', 0], ['per_buff', 1 << 29], ['per_double', 1 << 28], ['both', 3 << 28]]) {
    view.setUint32(0x10, ENABLE | BULK | (double ? 1 << 30 : 0) | bits | 0x180, true);
    out.endpoint[`${double ? 'double' : 'single'}_${name}`] = run(new EndpointBuffers(view, 2, false), 4);
  }
}
// A RESET store puts the select back at buffer 0: the pair counts from there.
view.setUint32(0x10, ENABLE | BULK | (1 << 30) | (1 << 28) | 0x180, true);
const reset = new EndpointBuffers(view, 2, false);
const before = run(reset, 1).seen;
reset.stored(1 << 12);
out.endpoint.per_double_after_reset = before.concat(run(reset, 2).seen);

// EP0 OUT: buffering and interrupts from SIE_CTRL; its buffers at 0x100 and 0x140.
for (const [name, bits] of [['single_int_1buf', 1 << 29], ['single_none', 0], ['single_int_2buf', 1 << 28],
  ['double_int_1buf', (1 << 30) | (1 << 29)], ['double_int_2buf', (1 << 30) | (1 << 28)], ['double_none', 1 << 30]]) {
  sieCtrl = bits;
  const ep0 = new EndpointBuffers(view, 0, true, () => sieCtrl);
  const offsets = [];
  const seen = [];
  for (let i = 0; i < 4; i++) {
    view.setUint32(0x84, (AVAILABLE | 64) | ((AVAILABLE | 64) << 16), true);
    const armed = ep0.armed();
    offsets.push(armed.offset);
    const half = ep0.complete(armed.half, 10 + i);
    seen.push([half, ep0.raisesStatus(half)]);
  }
  out.ep0[name] = { offsets, seen, word: view.getUint32(0x84, true) >>> 0 };
}
// BUFF_STATUS as a register: bit 4 (EP2 IN) set by a completion, a second completion while it is set,
// the firmware's acknowledge (write 1 to clear), then another acknowledge.
const latch = new BufferStatusLatch();
let status = 0;
const complete = (bit) => {
  if (latch.raise(bit, status)) status |= bit;
};
const acknowledge = (bits) => {
  const before = status;
  status &= ~bits;
  status |= latch.acknowledged(before & ~status);
  return status;
};
complete(1 << 4);
complete(1 << 4); // buffer 1 done before the firmware acknowledged buffer 0
const afterFirst = acknowledge(1 << 4);
const afterSecond = acknowledge(1 << 4);
complete(1 << 5); // one completion only: the acknowledge clears it for good
const single = acknowledge(1 << 5);
out.latch = { after_first_ack: afterFirst, after_second_ack: afterSecond, single_after_ack: single, again: latch.again };

// BUFF_CPU_SHOULD_HANDLE (bit 4: EP2 IN) beside the latch: buffer `first` completes and sets the bit,
// the other buffer completes while it is still set, then two acknowledges.
function shouldHandle(first) {
  const handles = new BufferStatusLatch();
  let bits = 0;
  const done = (half) => {
    if (handles.raise(1 << 4, bits, half)) bits |= 1 << 4;
    return handles.shouldHandle;
  };
  const ack = () => {
    const before = bits;
    bits &= ~(1 << 4);
    bits |= handles.acknowledged(before & ~bits);
    return [bits, handles.shouldHandle];
  };
  return { first: done(first), while_owed: done(first ^ 1), after_first_ack: ack(), after_second_ack: ack() };
}
out.should_handle = { buffer_0_first: shouldHandle(0), buffer_1_first: shouldHandle(1) };

// RESET (bit 12) stored with buffer 0's AVAILABLE while the select points at buffer 1: buffer 0 is
// used, and the controller clears RESET when it writes that buffer back ("cleared at end of transfer").
view.setUint32(0x10, ENABLE | BULK | (1 << 30) | (1 << 29) | 0x180, true);
const cleared = new EndpointBuffers(view, 2, false);
run(cleared, 1); // the select now points at buffer 1
const armWord = (1 << 12) | AVAILABLE | 8;
view.setUint32(cleared.control, armWord, true);
cleared.stored(armWord);
const armedHalf = cleared.armed().half;
cleared.complete(armedHalf, null);
out.reset_select = { used: armedHalf, word_after: view.getUint32(cleared.control, true) >>> 0, select_after: cleared.select };
process.stdout.write(JSON.stringify(out));

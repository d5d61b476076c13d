'use strict';
/*
 * bridge.js: runs the rig firmware in rp2040js and acts as its USB host, serving the device to
 * Python (rig/links/emulator.py) over stdio with a length-prefixed framed protocol.
 *
 * Usage: node bridge.js IMAGE.bin --rom ROM.bin [--flash-uid HEX16] [--timeout-scale N] [--usb-rules MODE]
 *        [--bootsel] [--device-events]
 *
 * Every message both ways: u32 length (of what follows), u32 request id, u8 op/status, payload;
 * little-endian. Requests (op): 1 PING, 2 CONTROL, 3 WRITE (bulk/interrupt OUT), 4 READ (IN),
 * 5 RESET (bus reset), 6 INFO, 7 QUIT, 8 CANCEL (end a waiting read), 9 EVENTS (u8 1/0: device-side
 * events on/off, for captures; --device-events turns them on from boot), 10 WATCHDOG (a test hook:
 * the watchdog fires as if the firmware wrote CTRL.TRIGGER). Replies (status): 0 OK,
 * 1 TIMEOUT, 2 STALL, 3 ERROR, 4 GONE, 5 OVERFLOW, 6 CANCELLED; status 7 EVENT (id 0) is a
 * device-side event, see device_events.js.
 * Once the firmware has enabled USB and taken the first bus reset the bridge sends id 0 status OK
 * with a JSON payload ({"ready": true, ...}); a chip that stops before that (bad boot2 CRC, fault,
 * flash read with XIP off) gets id 0 status GONE with the reason, and the bridge exits.
 * After a watchdog reset the device leaves the bus (pending and later USB requests get GONE) and
 * attaches again when the rebooted firmware enables USB: the host resets it and sends id 0 status OK
 * with the same JSON (`attachments` counts them); it is then at address 0, unconfigured, and the
 * host (rig/links/emulator.py `reattach`) enumerates it again (USB 2.0 9.1.2).
 *
 * The chip boots like an RP2040: the model boot ROM (rom/rom_model.S, built as ROM.bin) loads boot2
 * from flash into SRAM, checks its CRC and enters it; boot2 sets up XIP and VTOR and enters the
 * image. The SSI, IO_QSPI and a W25Q80-style flash chip are modelled in qspi_flash.js (unique ID
 * from --flash-uid); a flash read while XIP is off stops the chip as a firmware bug. The ROM talks
 * to the bridge by `bkpt` (codes in rom_model.S); any other breakpoint is a firmware fault. When the
 * firmware calls the ROM's reset_usb_boot the chip goes to BOOTSEL: it leaves the bus, pending and
 * later USB requests get GONE, and the bridge keeps answering PING and INFO (which says so).
 *
 * Host model (see ../../../shared/reference/rp2040-emulation.md for the emulator's behaviour):
 * - IN packets are taken from the device 10 us (emulated) after it arms them, and only while a
 *   read waits on that endpoint (EP0: during a control transfer); otherwise the firmware sees
 *   NAKs, as from a real host (the emulator itself cannot NAK IN traffic; we intercept
 *   buffer-control writes for it). A read that times out keeps what arrived for the next read.
 * - OUT packets are handed over one per arm (onEndpointRead), never two before the first lands.
 * - STALL is seen by watching buffer-control writes for bit 11 (the emulator has no callback).
 * - Packet sizes come from the descriptors the host read (host_endpoints.js): EP0 bMaxPacketSize0,
 *   each endpoint's wMaxPacketSize (64 until read); interrupt IN endpoints are polled at bInterval.
 * - Buffers as the controller uses them (host_endpoints.js EndpointBuffers): a double-buffered
 *   endpoint's two buffers (EP0's with SIE_CTRL EP0_DOUBLE_BUF, at 0x100 and 0x140) are taken in turn
 *   by the buffer select (not rp2040js's out-of-order handling), a completion sets BUFF_STATUS as
 *   the interrupt bits say (EP_CONTROL INTERRUPT_PER_BUFF / INTERRUPT_PER_DOUBLE_BUFF, SIE_CTRL
 *   EP0_INT_1BUF / EP0_INT_2BUF), BUFF_CPU_SHOULD_HANDLE names the buffer the set bit stands for, and
 *   a buffer's write-back clears the word's RESET bit.
 * - A bulk write sends its data in max-size packets and ends with a short packet; it appends no ZLP
 *   when the length is a multiple of the max packet size (libusb does not either): a host that wants one writes a
 *   zero-length transfer. While the device is not configured (the host saw SET_CONFIGURATION 0 or a
 *   bus reset) its non-zero endpoints do not exist: reads and writes fail at once (ERROR), as
 *   libusb's do.
 * - The silicon's and the host's rules (usb_rules.js) are checked on every USB DPRAM and register
 *   store and every packet: a firmware that breaks one stops as a firmware bug naming the rule
 *   (--usb-rules strict, the default); --usb-rules warn records them in INFO and goes on (for
 *   firmware we did not write); --usb-rules off. Env RIG_BRIDGE_USB_RULES sets the default.
 *   As on silicon, a buffer control word keeps AVAILABLE until its packet has gone; EP_ABORT makes
 *   the host see NAKs; a SETUP clears EP_STALL_ARM and hands both EP0 buffers back.
 * - Emulated time never runs ahead of wall time (idle waits sleep), so device time looks real;
 *   env RIG_BRIDGE_NO_PACE=1 lets idle waits complete at once instead (faster SOURCE modes).
 *   Tests only: env RIG_BRIDGE_HOLD_CONTROL_MS=N stops the bridge for N ms after it starts each
 *   control transfer (a process the machine does not schedule).
 * - Wall-clock timeouts are the caller's times the timeout scale: --timeout-scale auto (the default)
 *   divides by the measured emulation speed (emulated over wall time while the core runs, a moving
 *   average; INFO's emulation_speed) with a margin, at least 3x and at most 30x; a number fixes it.
 *   A transfer also waits until the device has had the caller's timeout in its own time (emulated
 *   time, and wall time waiting for the host with nothing scheduled): a starved node fails nothing.
 * - INFO's `cycles`: rp2040js's per-instruction cycle figures summed over everything the core ran
 *   (nothing runs in wfi); env RIG_BRIDGE_PROFILE=1 adds `cycles_by_pc`, the same per address.
 */

const fs = require('fs');
const { RP2040 } = require('rp2040js');
const { QspiFlash } = require('./qspi_flash');
const { UsbRules, epBit } = require('./usb_rules');
const { HostEndpoints, EndpointBuffers, BufferStatusLatch } = require('./host_endpoints');
const { installChipModel, resetChip } = require('./chip_model');
const { DeviceEvents } = require('./device_events');

const OP = { PING: 1, CONTROL: 2, WRITE: 3, READ: 4, RESET: 5, INFO: 6, QUIT: 7, CANCEL: 8, EVENTS: 9, WATCHDOG: 10 };
const WATCHDOG_CTRL = 0x40058000;
const WATCHDOG_TRIGGER = 1 << 31;
const ST = { OK: 0, TIMEOUT: 1, STALL: 2, ERROR: 3, GONE: 4, OVERFLOW: 5, CANCELLED: 6, EVENT: 7 };
const IN_CAP = 128 * 1024;
const BUF_STALL = 1 << 11;
const BUF_AVAILABLE = 1 << 10;
const BOOT_TIMEOUT_MS = 10000;
const ROM_SIZE = 16 * 1024;
/** The flash's unique ID when --flash-uid is not given (deliberately not the old "RIGEMU01"). */
const DEFAULT_FLASH_UID = 'E6605838834B2E21';
// The model ROM's breakpoint codes (rom/rom_model.S).
const ROM_BKPT = { TRACE: 0xb0, BOOT2: 0xb1, BAD_BOOT2: 0xb2, FAULT: 0xb3 };
// Public ROM functions by their two-letter table code (datasheet 2.8.3.1).
const ROM_FUNCTION_NAMES = {
  IF: 'connect_internal_flash', EX: 'flash_exit_xip', FC: 'flash_flush_cache', CX: 'flash_enter_cmd_xip',
  UB: 'reset_usb_boot', RE: 'flash_range_erase', RP: 'flash_range_program',
};
const BOOT2_SRAM = 0x20041f00;

function parseArgs(argv) {
  const args = {
    image: null, rom: null, flashUid: DEFAULT_FLASH_UID, timeoutScale: 'auto',
    usbRules: process.env.RIG_BRIDGE_USB_RULES || 'strict', bootsel: false, deviceEvents: false,
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--timeout-scale') {
      const v = argv[++i];
      args.timeoutScale = v === 'auto' ? 'auto' : Number(v);
    } else if (argv[i] === '--usb-rules') {
      args.usbRules = String(argv[++i]);
    } else if (argv[i] === '--rom') {
      args.rom = argv[++i];
    } else if (argv[i] === '--bootsel') {
      args.bootsel = true; // the BOOTSEL button held from power-on: QSPI_SS reads low
    } else if (argv[i] === '--device-events') {
      args.deviceEvents = true;
    } else if (argv[i] === '--flash-uid') {
      args.flashUid = String(argv[++i]);
    } else if (!args.image) {
      args.image = argv[i];
    } else {
      throw new Error(`unexpected argument ${argv[i]}`);
    }
  }
  if (!args.image || !args.rom) {
    throw new Error('usage: node bridge.js IMAGE.bin --rom ROM.bin [--flash-uid HEX16] [--timeout-scale N]');
  }
  if (args.timeoutScale !== 'auto' && !(args.timeoutScale > 0)) {
    throw new Error('--timeout-scale must be a positive number or auto');
  }
  if (!['strict', 'warn', 'off'].includes(args.usbRules)) throw new Error('--usb-rules must be strict, warn or off');
  if (!/^[0-9a-fA-F]{16}$/.test(args.flashUid)) throw new Error('--flash-uid must be 16 hex digits');
  return args;
}

const args = parseArgs(process.argv.slice(2));
const image = fs.readFileSync(args.image);
const romImage = fs.readFileSync(args.rom);
if (romImage.length > ROM_SIZE) throw new Error(`${args.rom} is ${romImage.length} bytes; the ROM holds ${ROM_SIZE}`);

// --- the emulated chip --------------------------------------------------------------------------

const mcu = new RP2040();
mcu.logger = {
  debug() {},
  info() {},
  warn() {},
  error(component, message) {
    process.stderr.write(`rp2040js error: ${component}: ${message}\n`);
  },
};
// The ROM first: loadBootrom resets the chip, which fills flash with 0xFF. The core starts at the
// ROM's reset vector (VTOR is 0 out of reset).
const romWords = new Uint32Array(Math.ceil(romImage.length / 4));
new Uint8Array(romWords.buffer).set(romImage);
mcu.loadBootrom(romWords);
mcu.flash.set(image, 0);
const usb = mcu.usbCtrl;
const clock = mcu.clock;
const events = new DeviceEvents(clock, (payload) => send(0, ST.EVENT, payload));
events.on = args.deviceEvents;

// --- chip state: running, stopped (a fault: the bridge exits) or in BOOTSEL (the bridge stays) -----

let halted = false; // no more instructions run
const hostWait = { since: null, total: 0 }; // wall ns the core spent in wfi with nothing scheduled

// The device's own time: emulated time, plus the wall time it waited for the host with nothing
// scheduled (emulated time stands still then, though the device is as ready as it will be).
function deviceNanos() {
  return clock.nanos + hostWait.total + (hostWait.since === null ? 0 : wallNanos() - hostWait.since);
}
let readySent = false;
let deviceGone = null; // why USB requests get GONE (BOOTSEL, or off the bus after a watchdog reset)
let reattaching = false; // a watchdog reset took the device off the bus: it attaches at its next bus reset
let attachments = 0; // times the device attached to the bus (the first boot included)
let bootsel = null;

function hex(n) {
  return `0x${(n >>> 0).toString(16)}`;
}

function stopChip(why, exitCode) {
  if (halted) return;
  halted = true;
  process.stderr.write(why + '\n');
  if (!readySent) send(0, ST.GONE, Buffer.from(why));
  failAll(ST.GONE, why);
  process.stdout.end(() => process.exit(exitCode));
}

function enterBootsel(gpioActivityMask, disableInterfaceMask) {
  halted = true;
  usbReady = false;
  bootsel = {
    gpio_activity_mask: gpioActivityMask,
    disable_interface_mask: disableInterfaceMask,
    emulated_us: Math.floor(clock.nanos / 1000),
  };
  deviceGone = 'device rebooted into the USB bootloader (BOOTSEL): reset_usb_boot(gpio_activity_mask=' +
    `${hex(gpioActivityMask)}, disable_interface_mask=${hex(disableInterfaceMask)}); it left the bus and ` +
    'does not come back with this firmware (the bootloader\'s own USB device is not modelled)';
  if (!readySent) send(0, ST.GONE, Buffer.from(deviceGone));
  failAll(ST.GONE, deviceGone);
}

const qspi = new QspiFlash(mcu, {
  uid: Buffer.from(args.flashUid, 'hex'),
  onFault: (why) => stopChip(why, 3),
});
const chipResets = []; // watchdog resets: { reason, emulated_us, pc }
const chip = installChipModel(mcu, { bootsel: args.bootsel, onReset: (reason) => watchdogReset(reason) });

// --- the model boot ROM: its function table, and what its breakpoints tell us ------------------------

const romView = new DataView(romWords.buffer);
const romFunctions = new Map(); // entry address (no Thumb bit) -> name
for (let entry = romView.getUint16(0x14, true); entry + 4 <= romImage.length; entry += 4) {
  const code = romView.getUint16(entry, true);
  if (code === 0) break;
  const letters = String.fromCharCode(code & 0xff, code >> 8);
  romFunctions.set(romView.getUint16(entry + 2, true) & ~1, ROM_FUNCTION_NAMES[letters] || letters);
}
const romCalls = {};
for (const name of romFunctions.values()) romCalls[name] = 0;
// CRC-32/MPEG-2 (poly 0x04C11DB7, init 0xFFFFFFFF, no reflection, no final XOR): what any boot ROM checks.
function crc32Mpeg2(bytes) {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte << 24;
    for (let b = 0; b < 8; b++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
  }
  return crc >>> 0;
}
// boot2 as the image holds it, judged without any ROM: a real ROM that finds the CRC wrong retries and
// then starts its USB bootloader (2e8a:0003) instead of the image; ours stops the chip.
const boot2Stored = image.length >= 256 ? image.readUInt32LE(252) : null;
const boot2Computed = crc32Mpeg2(image.subarray(0, 252));
const boot = {
  boot2_entered: false, boot2_crc: null, vtor_writes: [],
  image_boot2: { stored_crc: boot2Stored === null ? null : hex(boot2Stored), computed_crc: hex(boot2Computed),
    crc_ok: boot2Stored === boot2Computed },
  bootsel_button: args.bootsel,
};

// Who sets VTOR (boot2 should, before the image's own reset handler): the first few writes.
const ppbWrite = mcu.ppb.writeUint32.bind(mcu.ppb);
mcu.ppb.writeUint32 = (offset, value) => {
  if (offset === 0xd08 && boot.vtor_writes.length < 4) {
    boot.vtor_writes.push({ value: hex(value), pc: hex(mcu.core.PC - 2) });
  }
  ppbWrite(offset, value);
};

function romBreak(code, pc) {
  const r = mcu.core.registers;
  switch (code) {
    case ROM_BKPT.TRACE: {
      const name = romFunctions.get(pc);
      if (name === undefined) return false;
      romCalls[name]++;
      if (name === 'reset_usb_boot') enterBootsel(r[0] >>> 0, r[1] >>> 0);
      return true;
    }
    case ROM_BKPT.BOOT2:
      boot.boot2_entered = true;
      boot.boot2_crc = hex(r[0]);
      return true;
    case ROM_BKPT.BAD_BOOT2:
      stopChip(`boot2 CRC mismatch: the ROM computed ${hex(r[0])} over the image's first 252 bytes but ` +
        `offset 252 holds ${hex(r[1])}; a real RP2040 would stay in the USB bootloader`, 2);
      return true;
    case ROM_BKPT.FAULT:
      stopChip(`fault before boot2 set VTOR (NMI or HardFault in the ROM's vectors, pc ${hex(pc)})`, 3);
      return true;
    default:
      return false;
  }
}

// A breakpoint from the ROM is a message to us; any other is the firmware's fault and default
// handlers stopping: the device is gone. rp2040js has already stepped past the bkpt.
mcu.onBreak = (code) => {
  const pc = (mcu.core.PC - 2) >>> 0;
  if (pc < ROM_SIZE && romBreak(code, pc)) return;
  stopChip(`firmware stopped at a breakpoint (bkpt #${code}, pc ${hex(pc)}): a fault or unexpected interrupt`, 3);
};

// --- USB host state ------------------------------------------------------------------------------

const inQueue = []; // per endpoint: received IN packets (Uint8Array)
const inBytes = []; // per endpoint: bytes buffered
const inPending = []; // per endpoint: { data, word } armed by the device, not yet taken
const inAlarm = [];
const inScheduled = []; // per endpoint: delivery alarm pending (rp2040js alarms do not say)
const outArmed = []; // per endpoint: max size of the armed OUT buffer, or undefined
const outWord = []; // per endpoint: the buffer control word that armed it
const stalled = [[], []]; // [dir 0 = IN, 1 = OUT][ep]
for (let ep = 0; ep < 16; ep++) {
  inQueue.push([]);
  inBytes.push(0);
  inPending.push(null);
  outArmed.push(undefined);
  outWord.push(0);
  inAlarm.push(clock.createAlarm(() => deliverIn(ep)));
  inScheduled.push(false);
}
let usbReady = false;
let resetWaiters = [];
let instructions = 0;
// Cycles the core ran, by rp2040js's per-instruction figures (its core.cycles is not ours to reset);
// nothing runs while the core waits in wfi, so the sum is the firmware's own work. With env
// RIG_BRIDGE_PROFILE=1 they are also summed per instruction address (INFO's cycles_by_pc).
let cycles = 0;
const cyclesByPc = process.env.RIG_BRIDGE_PROFILE === '1' ? new Map() : null;
const dpram = mcu.usbDPRAMView;
const hostEps = new HostEndpoints(); // packet sizes and polling intervals from the descriptors read
const inTakenAt = new Array(16).fill(-Infinity); // per endpoint: emulated ns the host last took an IN packet
const ruleMode = args.usbRules;
const rules = new UsbRules(mcu, {
  strict: ruleMode === 'strict',
  onViolation: (rule, message) => {
    if (ruleMode === 'strict') stopChip(message, 3);
    else if (ruleMode === 'warn' && rules.fired[rule] === 1) process.stderr.write(message + '\n');
  },
  maxPacket: (ep) => hostEps.maxPacket(ep, false),
});

const epBuffers = [[], []]; // [dir 0 = IN, 1 = OUT][ep]: the controller's buffer select and buffers
for (let ep = 0; ep < 16; ep++) {
  epBuffers[0].push(new EndpointBuffers(dpram, ep, false, () => usb.sieCtrl));
  epBuffers[1].push(new EndpointBuffers(dpram, ep, true, () => usb.sieCtrl));
}
// A second completion behind a BUFF_STATUS bit, and BUFF_CPU_SHOULD_HANDLE (which buffer the bit
// stands for; written for every completion, though the datasheet calls it valid only per buffer).
const statusLatch = new BufferStatusLatch();

// The controller has written a buffer's status back: the BUFF_STATUS bit as the endpoint's interrupt
// bits say (EndpointBuffers.raisesStatus); a bit already set keeps the completion for the firmware's
// acknowledge (BufferStatusLatch).
function bufferDone(ep, out, half) {
  if (statusLatch.raise(epBit(ep, out), usb.buffStatus, half, epBuffers[out ? 1 : 0][ep].raisesStatus(half))) {
    usb.indicateBufferReady(ep, out);
  }
}
const usbRead = usb.readUint32.bind(usb);
usb.readUint32 = (offset) => (offset === 0x5c ? statusLatch.shouldHandle : usbRead(offset)); // rp2040js reads 0

function endpointEnabled(ep, out) {
  return ep === 0 || (dpram.getUint32(0x8 * ep + (out ? 4 : 0), true) & 0x80000000) !== 0;
}

function aborting(ep, out) {
  return (usb.epAbort & epBit(ep, out)) !== 0;
}

function controlPhase(ep) {
  return ep === 0 && control ? control.phase : null;
}

// The host takes the IN packet: the controller writes the status back (AVAILABLE and FULL clear).
function deliverIn(ep) {
  inScheduled[ep] = false;
  const pending = inPending[ep];
  if (!pending) return;
  inPending[ep] = null;
  inTakenAt[ep] = clock.nanos;
  const half = epBuffers[0][ep].complete(pending.half);
  if (ruleMode !== 'off') rules.inTaken(ep, pending.word, pending.data.length, controlPhase(ep));
  events.completed(ep, false, pending.word, pending.data);
  inQueue[ep].push(pending.data);
  inBytes[ep] += pending.data.length;
  bufferDone(ep, false, half);
  armIn(ep); // double buffered: the other buffer may be waiting already
  kick();
}

// The IN buffer the controller uses next, when the firmware has made it available, waits for the host.
function armIn(ep) {
  const armed = epBuffers[0][ep].armed();
  if (!armed) return;
  const data = mcu.usbDPRAM.slice(armed.offset, armed.offset + armed.len);
  inPending[ep] = { data, word: armed.bits, half: armed.half };
  events.armed(ep, false, armed.bits, data);
  tryTakeIn(ep);
}

// The OUT buffer the controller fills next, when the firmware has made it available. While a packet
// is on its way it is not: the buffer it lands in decides which one is next (finishRead asks again).
function armOut(ep) {
  if (outLanding[ep] > 0) return false;
  const armed = epBuffers[1][ep].armed();
  if (!armed) return false;
  outArmed[ep] = armed.len;
  outWord[ep] = armed.bits;
  events.armed(ep, true, armed.bits, null);
  kick();
  return true;
}

function readPending(ep) {
  return readQueues[ep].some((op) => !op.done && !op.complete);
}

// Like a real host controller, the bridge takes an IN packet only while a read waits for it
// (EP0: while a control transfer runs); otherwise the device sees NAKs. An aborted endpoint NAKs.
// An interrupt IN endpoint is polled once per bInterval frames (USB 2.0 5.7.4): a packet armed
// sooner than that after the last one waits for the next poll.
function tryTakeIn(ep) {
  if (inPending[ep] && !inScheduled[ep] && !aborting(ep, false) &&
      (ep === 0 || (readPending(ep) && inBytes[ep] < IN_CAP))) {
    inScheduled[ep] = true;
    const nextPoll = inTakenAt[ep] + hostEps.interruptInterval(ep) * 1e6 - clock.nanos;
    inAlarm[ep].schedule(Math.max(usb.writeDelayMicroseconds * 1000, nextPoll));
  }
}

// The host sends an OUT packet into the armed buffer; it lands readDelay later (finishRead).
const outPackets = new Array(16).fill(0); // per endpoint: OUT packets the host sent (ZLPs included)
const outZlps = new Array(16).fill(0);
const outLanding = new Array(16).fill(0); // per endpoint: OUT packets sent that have not landed yet
function giveOut(ep, data) {
  outPackets[ep]++;
  outLanding[ep]++;
  if (data.length === 0) outZlps[ep]++;
  if (ruleMode !== 'off') rules.outGiven(ep, outWord[ep], controlPhase(ep));
  outArmed[ep] = undefined;
  usb.endpointReadDone(ep, data);
}

// Every core and DMA store to the DPRAM passes here first (the old value is still in place).
const protoWrite32 = Object.getPrototypeOf(mcu).writeUint32;
mcu.writeUint32 = function writeUint32(address, value) {
  const a = address >>> 0;
  if (a >= 0x50100000 && a < 0x50101000 && ruleMode !== 'off' && !halted) {
    const offset = (a - 0x50100000) & ~3;
    rules.dpramStore(offset, dpram.getUint32(offset, true), value >>> 0);
  }
  protoWrite32.call(mcu, address, value);
};
// rp2040js turns a 16- or 8-bit DPRAM store into a 32-bit read-modify-write: the rules are told which
// half of a buffer control word the store really covers (a double-buffered endpoint's other buffer).
for (const name of ['writeUint16', 'writeUint8']) {
  const proto = Object.getPrototypeOf(mcu)[name];
  mcu[name] = function narrowWrite(address, value) {
    const a = address >>> 0;
    if (a < 0x50100000 || a >= 0x50101000) return proto.call(mcu, address, value);
    rules.storeHalf = (a >> 1) & 1;
    try {
      return proto.call(mcu, address, value);
    } finally {
      rules.storeHalf = null;
    }
  };
}

// Stores to the USB controller's registers: the rules see them, and EP_ABORT finishes a packet
// already on the wire before the controller reports the endpoint idle (EP_ABORT_DONE).
const usbAtomic = usb.writeUint32Atomic.bind(usb);
usb.writeUint32Atomic = (offset, value, atomicType) => {
  if (ruleMode !== 'off' && !halted) rules.registerStore(offset, value >>> 0, atomicType, usb.readUint32(offset) >>> 0);
  if (offset === 0x60) {
    const mask = atomicType === 2 ? value : atomicType === 0 ? value : 0;
    for (let ep = 0; ep < 16; ep++) {
      if ((mask & epBit(ep, false)) && inScheduled[ep]) {
        inAlarm[ep].cancel();
        deliverIn(ep);
      }
      if (mask & epBit(ep, true)) {
        const alarm = usb.endpointReadAlarms[ep];
        while (alarm.buffers.length) {
          alarm.alarm.cancel();
          usb.finishRead(ep, alarm.buffers.shift());
        }
      }
    }
  }
  const statusBefore = usb.buffStatus;
  usbAtomic(offset, value, atomicType);
  if (offset === 0x58) {
    const again = statusLatch.acknowledged((statusBefore & ~usb.buffStatus) >>> 0);
    if (again) {
      usb.buffStatus = (usb.buffStatus | again) >>> 0;
      usb.buffStatusUpdated();
    }
  }
};

usb.DPRAMUpdated = (offset, value) => {
  if (usb.hostMode || offset < 0x80 || offset > 0xfc) return; // rp2040js acts only on buffer control
  const ep = (offset - 0x80) >> 3;
  const out = (offset & 4) !== 0;
  if (value & BUF_STALL && !stalled[out ? 1 : 0][ep]) events.stalled(ep, out, value);
  stalled[out ? 1 : 0][ep] = (value & BUF_STALL) !== 0;
  if (value & BUF_STALL) kick();
  epBuffers[out ? 1 : 0][ep].stored(value);
  if (out) {
    if (!armOut(ep)) outArmed[ep] = undefined; // taken back (EP_ABORT, a SETUP, or a bug the rules report)
    return;
  }
  if (inScheduled[ep]) return; // the buffer on its way stays; the next is taken once it is done
  inPending[ep] = null;
  armIn(ep);
};

// An OUT packet lands: as the controller does, only in a buffer still armed on an enabled endpoint
// (the firmware may have closed it meanwhile); AVAILABLE clears, FULL and the length are set.
usb.finishRead = (ep, buffer) => {
  outLanding[ep] = Math.max(0, outLanding[ep] - 1);
  const buffers = epBuffers[1][ep];
  const armed = buffers.armed();
  if (!armed || !endpointEnabled(ep, true)) {
    if (outArmed[ep] === undefined) armOut(ep);
    return;
  }
  const n = Math.min(buffer.length, armed.len, 0x1000 - armed.offset);
  mcu.usbDPRAM.set(buffer.subarray(0, n), armed.offset);
  events.completed(ep, true, armed.bits, buffer.subarray(0, n));
  bufferDone(ep, true, buffers.complete(armed.half, n));
  if (outArmed[ep] === undefined) armOut(ep); // double buffered: the other buffer may be waiting
};

usb.onUSBEnabled = () => usb.resetDevice();
usb.onResetReceived = () => {
  usbReady = true;
  events.busReset();
  if (reattaching) {
    // The rebooted firmware enabled USB and took the host's bus reset: the device is back, new.
    reattaching = false;
    deviceGone = null;
    attachments++;
    send(0, ST.OK, Buffer.from(JSON.stringify(info())));
  }
  const waiters = resetWaiters;
  resetWaiters = [];
  for (const w of waiters) w();
  kick();
};
usb.onEndpointRead = () => {}; // OUT arming is taken by our DPRAMUpdated hook instead
usb.onEndpointWrite = () => {}; // IN traffic is taken by our DPRAMUpdated hook instead

// --- watchdog reset -------------------------------------------------------------------------------

// The watchdog fired: the chip resets (core, pads, QSPI, USB controller) and boots from the ROM again.
// A device already on the bus leaves it: pending and later USB requests get GONE, as a board's USB
// device disappears (the host would see a new device, or the ROM's bootloader, enumerate after).
function watchdogReset(reason) {
  const entry = { reason, emulated_us: Math.floor(clock.nanos / 1000), pc: hex(mcu.core.PC - 2) };
  if (chipResets.length < 16) chipResets.push(entry);
  const wasReady = readySent;
  forgetEndpoints();
  for (const reads of usb.endpointReadAlarms) {
    if (!reads) continue;
    reads.alarm.cancel();
    reads.buffers.length = 0;
  }
  outLanding.fill(0);
  for (const field of ['mainCtrl', 'sieCtrl', 'sieStatus', 'intRaw', 'intEnable', 'intForce', 'buffStatus',
    'addrEndp', 'usbPwr', 'epAbort', 'epAbortDone', 'epStallArm', 'epStatusStallNak']) usb[field] = 0;
  mcu.usbDPRAM.fill(0);
  rules.resetHost();
  hostEps.forget();
  usbReady = false;
  qspi.reset();
  resetChip(mcu, args.bootsel);
  if (wasReady && deviceGone === null) {
    deviceGone = `the chip was reset by its watchdog (${reason}, pc ${entry.pc}): its USB device left the bus; ` +
      'it attaches again when the rebooted firmware enables USB (EmulatorLink.reattach enumerates it)';
    reattaching = true;
    failAll(ST.GONE, deviceGone);
  }
  kick();
}

// A bridge never outlives the process that started it: stdin ends when the parent exits, and if it
// does not (the pipe was handed on), a changed parent pid says so.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) process.exit(0);
}, 500).unref();

// --- protocol ------------------------------------------------------------------------------------

function send(id, status, payload) {
  const body = payload ? Buffer.from(payload) : Buffer.alloc(0);
  const head = Buffer.alloc(9);
  head.writeUInt32LE(5 + body.length, 0);
  head.writeUInt32LE(id >>> 0, 4);
  head.writeUInt8(status, 8);
  process.stdout.write(Buffer.concat([head, body]));
}

function u32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

function wallTimeout(ms) {
  return ms === 0 ? 0 : Math.max(1, Math.round(ms * timeoutScale()));
}

// Operations in flight. Control transfers run one at a time; writes queue per OUT endpoint;
// reads queue per IN endpoint.
const controlQueue = [];
let control = null;
const writeQueues = [];
const readQueues = [];
for (let ep = 0; ep < 16; ep++) {
  writeQueues.push([]);
  readQueues.push([]);
}

// A transfer times out once its wall timeout (the caller's, scaled) has passed AND the device has had
// the caller's timeout in its own time: emulated time, plus wall time spent waiting for the host with
// nothing scheduled (`deviceNanos`). On a loaded machine node may not run for seconds while the
// firmware works on a transfer: wall time alone then failed transfers the device was never given
// time for (a control transfer timed out at load 33; issue #9). A halted core times out on wall time.
function armTimer(op, ms, onTimeout) {
  const wall = wallTimeout(ms);
  if (wall > 0) {
    const due = deviceNanos() + ms * 1e6;
    const expire = () => {
      op.timer = null;
      if (op.done) return;
      const owed = due - deviceNanos();
      if (owed > 0 && !halted) {
        op.timer = setTimeout(expire, Math.max(1, Math.round((owed / 1e6) * timeoutScale())));
        kick();
        return;
      }
      onTimeout();
      kick();
    };
    op.timer = setTimeout(expire, wall);
  }
}

function finish(op, status, payload) {
  if (op.done) return;
  op.done = true;
  if (op.timer) clearTimeout(op.timer);
  send(op.id, status, payload);
}

function startControl(op) {
  control = op;
  op.phase = 'setup';
  armTimer(op, op.timeoutMs, () => {
    if (control === op) control = null;
    finish(op, ST.TIMEOUT, Buffer.from('control transfer timed out'));
  });
  if (HOLD_CONTROL_MS > 0) holdProcess(HOLD_CONTROL_MS);
}

// Tests only: stop everything (chip and event loop) for `ms` of wall time, as a machine that does
// not schedule this process would.
function holdProcess(ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) { /* starved */ }
}

function serviceControl() {
  if (!control && controlQueue.length && usbReady && (usb.buffStatus & 3) === 0) {
    startControl(controlQueue.shift());
  }
  const op = control;
  if (!op) return;
  if (op.done) {
    control = null;
    return;
  }
  if (op.phase === 'setup') {
    // A SETUP cancels whatever EP0 was doing.
    inQueue[0] = [];
    inBytes[0] = 0;
    inPending[0] = null;
    inAlarm[0].cancel();
    inScheduled[0] = false;
    outArmed[0] = undefined;
    stalled[0][0] = stalled[1][0] = false;
    // The controller on a SETUP: EP_STALL_ARM clears and both EP0 buffers go back to the processor.
    usb.epStallArm = 0;
    const available = epBuffers[0][0].doubleBuffered() ? BUF_AVAILABLE | (BUF_AVAILABLE << 16) : BUF_AVAILABLE;
    for (const offset of [0x80, 0x84]) {
      dpram.setUint32(offset, (dpram.getUint32(offset, true) & ~available) >>> 0, true);
    }
    rules.setup(op.setup);
    op.received = [];
    op.receivedLen = 0;
    op.sentOut = 0;
    op.phase = op.in ? (op.wLength > 0 ? 'data-in' : 'status-out') : (op.data.length > 0 ? 'data-out' : 'status-in');
    events.setup(op.setup);
    usb.sendSetupPacket(op.setup);
    return;
  }
  const inStage = op.phase === 'data-in' || op.phase === 'status-in';
  if (stalled[inStage ? 0 : 1][0]) {
    if (ruleMode !== 'off') rules.ep0Stall(!inStage);
    control = null;
    rules.controlFailed();
    finish(op, ST.STALL, Buffer.from('control request stalled'));
    return;
  }
  if (op.phase === 'data-in') {
    while (inQueue[0].length) {
      const pkt = inQueue[0].shift();
      inBytes[0] -= pkt.length;
      op.received.push(pkt);
      op.receivedLen += pkt.length;
      if (pkt.length < hostEps.ep0Size || op.receivedLen >= op.wLength) {
        op.phase = 'status-out';
        break;
      }
    }
    tryTakeIn(0);
  }
  if (op.phase === 'data-out') {
    if (outArmed[0] !== undefined) {
      const chunk = op.data.subarray(op.sentOut, op.sentOut + hostEps.ep0Size);
      op.sentOut += chunk.length;
      giveOut(0, Uint8Array.from(chunk));
      if (op.sentOut >= op.data.length) op.phase = 'status-in';
    }
  }
  if (op.phase === 'status-out') {
    if (outArmed[0] !== undefined) {
      giveOut(0, new Uint8Array(0));
      op.phase = 'status-out-sent';
      op.statusAt = clock.nanos;
    }
  }
  if (op.phase === 'status-out-sent') {
    // Complete once the firmware has seen the status stage land.
    if (clock.nanos > op.statusAt + usb.readDelayMicroseconds * 1000 && (usb.buffStatus & 3) === 0) {
      control = null;
      const data = Buffer.concat(op.received.map((p) => Buffer.from(p)));
      controlCompleted(data);
      finish(op, ST.OK, data.subarray(0, op.wLength));
    }
  }
  if (op.phase === 'status-in') {
    while (inQueue[0].length) {
      const pkt = inQueue[0].shift();
      inBytes[0] -= pkt.length;
      if (pkt.length === 0) {
        control = null;
        controlCompleted(null);
        finish(op, ST.OK, u32(op.data.length));
        break;
      }
    }
    tryTakeIn(0);
  }
}

// The host's side of a finished control transfer: a new configuration (or none) drops what the
// host had for the old one; its non-zero endpoints are gone while unconfigured.
function controlCompleted(data) {
  const before = rules.configuration;
  const setup = rules.control;
  if (setup && setup.bm === 0x80 && setup.req === 6 && data) {
    if (setup.value >> 8 === 1) hostEps.learnDevice(data);
    if (setup.value >> 8 === 2) hostEps.learnConfiguration(data);
  }
  rules.controlDone(data);
  if (setup && (setup.bm & 0x60) === 0 && !(setup.bm & 0x80) && setup.req === 9) {
    for (let ep = 1; ep < 16; ep++) {
      inQueue[ep] = [];
      inBytes[ep] = 0;
      if (rules.configuration === 0 && before !== 0) {
        for (const q of [writeQueues[ep], readQueues[ep]]) {
          const ops = q.splice(0);
          for (const op of ops) finish(op, ST.ERROR, Buffer.from(notConfigured(ep)));
        }
      }
    }
  }
}

function notConfigured(ep) {
  return `endpoint 0x${ep.toString(16).padStart(2, "0")} does not exist: the device is not configured (SET_CONFIGURATION 0 or a bus ` +
    'reset); a host sends no tokens to it';
}

function serviceWrites(ep) {
  const queue = writeQueues[ep];
  while (queue.length && queue[0].done) queue.shift();
  const op = queue[0];
  if (!op) return;
  if (rules.configuration === 0) {
    queue.shift();
    finish(op, ST.ERROR, Buffer.from(notConfigured(ep)));
    return;
  }
  if (stalled[1][ep]) {
    queue.shift();
    finish(op, ST.STALL, Buffer.from(`endpoint 0x${ep.toString(16)} stalled`));
    return;
  }
  if (outArmed[ep] === undefined || aborting(ep, true) || !endpointEnabled(ep, true)) return;
  const chunk = op.data.subarray(op.sent, op.sent + hostEps.maxPacket(ep, true));
  op.sent += chunk.length;
  op.packets++;
  giveOut(ep, Uint8Array.from(chunk));
  // The transfer ends with its last packet: short, or full with no ZLP after it (as libusb sends
  // it); an empty write is one ZLP.
  if (op.sent >= op.data.length) {
    queue.shift();
    finish(op, ST.OK, u32(op.data.length));
  }
}

function serviceReads(ep) {
  const queue = readQueues[ep];
  while (queue.length && queue[0].done) queue.shift();
  const op = queue[0];
  if (!op) return;
  if (rules.configuration === 0) {
    queue.shift();
    finish(op, ST.ERROR, Buffer.from(notConfigured(0x80 | ep)));
    return;
  }
  while (inQueue[ep].length && !op.complete) {
    const pkt = inQueue[ep].shift();
    inBytes[ep] -= pkt.length;
    op.packets.push(pkt);
    op.got += pkt.length;
    if (pkt.length < hostEps.maxPacket(ep, false) || op.got >= op.length) op.complete = true;
  }
  tryTakeIn(ep);
  if (op.complete) {
    queue.shift();
    const data = Buffer.concat(op.packets.map((p) => Buffer.from(p)));
    if (data.length > op.length) {
      // Babble: a packet longer than the room left in the read. A host controller reports it as
      // an overflow (libusb LIBUSB_ERROR_OVERFLOW) and the data of the transfer is lost, while the
      // device saw its packets acknowledged.
      finish(op, ST.OVERFLOW, Buffer.from(`overflow: device sent ${data.length} bytes, read asked ${op.length}`));
    } else {
      finish(op, ST.OK, data);
    }
    return;
  }
  if (stalled[0][ep] && op.got === 0) {
    queue.shift();
    finish(op, ST.STALL, Buffer.from(`endpoint 0x${(0x80 | ep).toString(16)} stalled`));
  }
}

function service() {
  if (ruleMode !== 'off' && !halted) rules.poll();
  serviceControl();
  serviceControl();
  for (let ep = 1; ep < 16; ep++) {
    serviceWrites(ep);
    serviceReads(ep);
  }
}

function failAll(status, message) {
  const all = [control, ...controlQueue];
  for (const q of writeQueues) all.push(...q);
  for (const q of readQueues) all.push(...q);
  control = null;
  controlQueue.length = 0;
  for (const q of writeQueues) q.length = 0;
  for (const q of readQueues) q.length = 0;
  for (const op of all) if (op) finish(op, status, Buffer.from(message));
}

// The host's view of every endpoint goes: queued IN data, armed buffers, halts.
// Packets the controller completed per endpoint, by buffer ([buffer 0, buffer 1]; buffer 1 only
// when the endpoint double-buffers), since boot.
// With `raised`, the completions that set the endpoint's BUFF_STATUS bit instead (buffer_status_sets).
function bufferCompletions(raised = false) {
  const out = {};
  for (let ep = 0; ep < 16; ep++) {
    for (const dir of [0, 1]) {
      const b = epBuffers[dir][ep];
      const done = b.completed;
      if (done[0] + done[1] > 0) {
        out[`0x${(dir ? ep : ep | 0x80).toString(16).padStart(2, '0')}`] = raised ? b.raised : done.slice();
      }
    }
  }
  return out;
}

// Per endpoint with any: completions kept behind a set BUFF_STATUS bit, set again on the acknowledge.
function bufferStatusAgain() {
  const out = {};
  statusLatch.againByBit.forEach((n, bit) => {
    if (n) out[`0x${((bit & 1) ? bit >> 1 : (bit >> 1) | 0x80).toString(16).padStart(2, '0')}`] = n;
  });
  return out;
}

function forgetEndpoints() {
  for (let ep = 0; ep < 16; ep++) {
    inQueue[ep] = [];
    inBytes[ep] = 0;
    inPending[ep] = null;
    inAlarm[ep].cancel();
    inScheduled[ep] = false;
    outArmed[ep] = undefined;
    stalled[0][ep] = stalled[1][ep] = false;
    epBuffers[0][ep].reset();
    epBuffers[1][ep].reset();
  }
  statusLatch.reset();
}

function busReset(op) {
  failAll(ST.ERROR, 'bus reset');
  forgetEndpoints();
  rules.busReset();
  usbReady = false;
  resetWaiters.push(() => finish(op, ST.OK, null));
  armTimer(op, op.timeoutMs, () => finish(op, ST.TIMEOUT, Buffer.from('device did not take the bus reset')));
  usb.resetDevice();
}

// A read that ends before it completes (timeout, cancel) keeps what arrived for the next read:
// nothing is lost.
function endRead(ep, op, status, why) {
  if (op.done) return;
  if (op.packets.length) {
    inQueue[ep].unshift(...op.packets);
    for (const pkt of op.packets) inBytes[ep] += pkt.length;
  }
  finish(op, status, Buffer.from(`read from endpoint 0x${(0x80 | ep).toString(16)} ${why}`));
}

const USB_OPS = new Set([OP.CONTROL, OP.WRITE, OP.READ, OP.RESET]);

function handle(id, opcode, p) {
  if (deviceGone !== null && USB_OPS.has(opcode)) {
    send(id, ST.GONE, Buffer.from(deviceGone));
    return;
  }
  switch (opcode) {
    case OP.PING: {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(Math.floor(clock.nanos)), 0);
      send(id, ST.OK, b);
      break;
    }
    case OP.CONTROL: {
      const setup = Uint8Array.from(p.subarray(0, 8));
      const bm = setup[0];
      const wLength = setup[6] | (setup[7] << 8);
      const timeoutMs = p.readUInt32LE(8);
      const data = p.subarray(12);
      const op = { id, setup, in: (bm & 0x80) !== 0, wLength, data, timeoutMs };
      if (!op.in && data.length !== wLength) {
        send(id, ST.ERROR, Buffer.from(`OUT data is ${data.length} bytes but wLength is ${wLength}`));
        break;
      }
      controlQueue.push(op);
      break;
    }
    case OP.WRITE: {
      const ep = p.readUInt8(0) & 0x0f;
      const op = { id, data: p.subarray(5), sent: 0, packets: 0, timeoutMs: p.readUInt32LE(1) };
      writeQueues[ep].push(op);
      armTimer(op, op.timeoutMs, () => finish(op, ST.TIMEOUT, Buffer.from(`write to endpoint 0x${ep.toString(16)} timed out (NAK) after ${op.sent} bytes`)));
      break;
    }
    case OP.READ: {
      const ep = p.readUInt8(0) & 0x0f;
      const op = { id, length: p.readUInt32LE(1), timeoutMs: p.readUInt32LE(5), packets: [], got: 0 };
      readQueues[ep].push(op);
      armTimer(op, op.timeoutMs, () => endRead(ep, op, ST.TIMEOUT, 'timed out'));
      break;
    }
    case OP.CANCEL: {
      // libusb_cancel_transfer on every read waiting on the endpoint (an OS driver letting go of it).
      // A read that has packets already ends with them, as a cancelled transfer reports what it
      // received: the device counted them sent, so they belong to that reader, not the next one.
      const ep = p.readUInt8(0) & 0x0f;
      for (const op of readQueues[ep]) {
        if (op.packets.length) finish(op, ST.OK, Buffer.concat(op.packets.map((b) => Buffer.from(b))));
        else endRead(ep, op, ST.CANCELLED, 'cancelled');
      }
      readQueues[ep].length = 0;
      send(id, ST.OK, null);
      break;
    }
    case OP.RESET:
      busReset({ id, timeoutMs: p.length >= 4 ? p.readUInt32LE(0) : 1000 });
      break;
    case OP.EVENTS:
      events.on = p.length > 0 && p.readUInt8(0) !== 0;
      send(id, ST.OK, u32(events.sent));
      break;
    case OP.INFO:
      send(id, ST.OK, Buffer.from(JSON.stringify(info())));
      break;
    case OP.WATCHDOG:
      // As the firmware's own store to CTRL.TRIGGER would: the chip resets (chip_model.js).
      if (halted) {
        send(id, ST.ERROR, Buffer.from('the chip is stopped: no watchdog runs'));
        break;
      }
      mcu.writeUint32(WATCHDOG_CTRL, WATCHDOG_TRIGGER);
      send(id, ST.OK, null);
      break;
    case OP.QUIT:
      failAll(ST.GONE, 'bridge quitting');
      send(id, ST.OK, null);
      process.stdout.end(() => process.exit(0));
      break;
    default:
      send(id, ST.ERROR, Buffer.from(`unknown op ${opcode}`));
  }
}

// Raw clock-tree registers, read back as the firmware left them, so Python can check the setup
// against the datasheet's rules (rp2040js accepts any values; it only derives clk_sys and clk_peri).
const CLOCK_REGS = {
  xosc: [0x40024000, { ctrl: 0x00, startup: 0x0c }],
  pll_sys: [0x40028000, { cs: 0x00, pwr: 0x04, fbdiv_int: 0x08, prim: 0x0c }],
  pll_usb: [0x4002c000, { cs: 0x00, pwr: 0x04, fbdiv_int: 0x08, prim: 0x0c }],
  clocks: [
    0x40008000,
    {
      ref_ctrl: 0x30, ref_div: 0x34, sys_ctrl: 0x3c, sys_div: 0x40, peri_ctrl: 0x48,
      usb_ctrl: 0x54, usb_div: 0x58, adc_ctrl: 0x60, adc_div: 0x64, rtc_ctrl: 0x6c, rtc_div: 0x70,
    },
  ],
};

function clockRegisters() {
  const out = { xosc_hz: mcu.xoscFreq, derived: { clk_sys_hz: mcu.clkSys, clk_peri_hz: mcu.clkPeri } };
  for (const [block, [base, regs]] of Object.entries(CLOCK_REGS)) {
    const peripheral = mcu.findPeripheral(base);
    out[block] = {};
    for (const [name, offset] of Object.entries(regs)) {
      out[block][name] = peripheral.readUint32(offset) >>> 0;
    }
  }
  // rp2040js reads CLK_REF_DIV back masked with 0x30 instead of 0x300 (INT is bits 9:8): report the
  // value it stored, which is what the firmware wrote.
  out.clocks.ref_div = mcu.clocks.refDiv >>> 0;
  return out;
}

function info() {
  return {
    ready: usbReady,
    attachments,
    state: bootsel ? 'bootsel' : halted ? 'stopped' : 'running',
    emulated_us: Math.floor(clock.nanos / 1000),
    instructions,
    cycles,
    ...(cyclesByPc !== null ? { cycles_by_pc: Object.fromEntries(cyclesByPc) } : {}),
    clk_sys_hz: mcu.clkSys,
    clocks: clockRegisters(),
    image_bytes: image.length,
    timeout_scale: timeoutScale(),
    timeout_scale_mode: args.timeoutScale === 'auto' ? 'auto' : 'fixed',
    emulation_speed: Number(speed.value.toFixed(3)),
    emulation_speed_samples: speed.samples,
    rom: { image: args.rom, bytes: romImage.length, calls: { ...romCalls } },
    boot: { ...boot, vtor: hex(mcu.core.VTOR) },
    flash: qspi.info(),
    chip: { ...chip.vreg.info(), bootsel_button: args.bootsel, watchdog_resets: chipResets.slice() },
    usb_rules: { mode: ruleMode, ...rules.info() },
    host_endpoints: hostEps.info(),
    buffer_completions: bufferCompletions(),
    buffer_status_sets: bufferCompletions(true),
    buffer_status_again: bufferStatusAgain(),
    device_events: { on: events.on, sent: events.sent },
    out_packets: Object.fromEntries(outPackets.map((n, ep) => [ep, { packets: n, zlps: outZlps[ep] }]).filter(([, v]) => v.packets)),
    bootsel,
  };
}

let inputBuffer = Buffer.alloc(0);
process.stdin.on('data', (chunk) => {
  inputBuffer = Buffer.concat([inputBuffer, chunk]);
  while (inputBuffer.length >= 4) {
    const len = inputBuffer.readUInt32LE(0);
    if (inputBuffer.length < 4 + len) break;
    const msg = inputBuffer.subarray(4, 4 + len);
    inputBuffer = inputBuffer.subarray(4 + len);
    if (len < 5) {
      send(0, ST.ERROR, Buffer.from('short message'));
      continue;
    }
    try {
      handle(msg.readUInt32LE(0), msg.readUInt8(4), msg.subarray(5));
    } catch (err) {
      send(msg.readUInt32LE(0), ST.ERROR, Buffer.from(String(err && err.stack ? err.stack : err)));
    }
  }
  kick();
});
process.stdin.on('end', () => process.exit(0));
process.stdout.on('error', () => process.exit(0));

// --- the run loop ----------------------------------------------------------------------------------

const wallStart = process.hrtime.bigint();
let sliceTimer = null;
let sliceImmediate = null;
const SLICE_INSTRUCTIONS = 100000;
const PACE = process.env.RIG_BRIDGE_NO_PACE !== '1';
const HOLD_CONTROL_MS = Number(process.env.RIG_BRIDGE_HOLD_CONTROL_MS || 0);

function wallNanos() {
  return Number(process.hrtime.bigint() - wallStart);
}

function kick() {
  if (sliceImmediate === null) {
    if (sliceTimer !== null) {
      clearTimeout(sliceTimer);
      sliceTimer = null;
    }
    sliceImmediate = setImmediate(runSlice);
  }
}

// Emulation speed: how much device time passes per wall second, sampled every SPEED_SAMPLE_MS as a
// moving average. Emulated time never runs ahead of wall time (pacing), and while the core sleeps
// with nothing scheduled (waiting for the host) the device is not behind, so that wall time counts
// as kept up with. A wfi firmware comes out near 1; a busy-polling one at the emulator's raw speed.
// `auto` timeouts are the caller's divided by it (times a margin), never below the 3x that a wfi
// firmware's short bursts need and never above 30x.
const SPEED_MARGIN = 1.2;
const MIN_AUTO_SCALE = 3;
const MAX_AUTO_SCALE = 30;
const SPEED_SAMPLE_MS = 250;
const speed = { value: 1, samples: 0, lastWall: 0, lastDevice: 0 };
setInterval(() => {
  const now = wallNanos();
  const device = deviceNanos(); // the host-wait time in it counts as kept up with
  const dWall = now - speed.lastWall;
  if (dWall > 0 && !halted) {
    const sample = Math.min(1, (device - speed.lastDevice) / dWall);
    speed.value = speed.samples === 0 ? sample : 0.7 * speed.value + 0.3 * sample;
    speed.samples++;
  }
  speed.lastWall = now;
  speed.lastDevice = device;
}, SPEED_SAMPLE_MS).unref();
function timeoutScale() {
  if (args.timeoutScale !== 'auto') return args.timeoutScale;
  return Math.min(MAX_AUTO_SCALE, Math.max(MIN_AUTO_SCALE, SPEED_MARGIN / Math.max(speed.value, 1e-3)));
}

function runSlice() {
  sliceImmediate = null;
  if (hostWait.since !== null) {
    hostWait.total += wallNanos() - hostWait.since;
    hostWait.since = null;
  }
  const core = mcu.core;
  let idleUntil = null;
  service();
  if (halted) return;
  for (let i = 0; i < SLICE_INSTRUCTIONS && !halted; ) {
    if (core.waiting) {
      if (!clock.nextAlarm) {
        idleUntil = Infinity; // nothing will happen until the host does something
        break;
      }
      const next = clock.nanosToNextAlarm;
      const target = clock.nanos + next;
      if (PACE && target > wallNanos()) {
        idleUntil = target;
        break;
      }
      clock.tick(next);
      i += 100;
      service();
    } else {
      const pc = core.PC;
      const spent = core.executeInstruction();
      clock.tick((spent * 1e9) / mcu.clkSys);
      if (!boot.boot2_entered && (core.PC >>> 8) === 0x20041f) {
        boot.boot2_entered = true; // the ROM (ours or a real one) jumped into the SRAM copy of boot2
      }
      i++;
      instructions++;
      cycles += spent;
      if (cyclesByPc !== null) cyclesByPc.set(pc, (cyclesByPc.get(pc) || 0) + spent);
      if ((i & 0x3ff) === 0) service();
    }
  }
  if (halted) return;
  service();
  if (idleUntil === null) {
    sliceImmediate = setImmediate(runSlice);
  } else if (idleUntil !== Infinity) {
    const delayMs = Math.max(0, (idleUntil - wallNanos()) / 1e6);
    sliceTimer = setTimeout(() => {
      sliceTimer = null;
      kick();
    }, Math.min(delayMs, 50));
  } else {
    // Idle: wait for host input; also poll now and then so op timeouts and pacing stay live.
    hostWait.since = wallNanos();
    sliceTimer = setTimeout(() => {
      sliceTimer = null;
      kick();
    }, 20);
  }
}

const bootTimer = setTimeout(() => {
  if (!usbReady) {
    process.stderr.write(`firmware did not enable USB and take a bus reset within ${BOOT_TIMEOUT_MS} ms\n`);
    process.exit(2);
  }
}, BOOT_TIMEOUT_MS);
resetWaiters.push(() => {
  clearTimeout(bootTimer);
  readySent = true;
  attachments++;
  send(0, ST.OK, Buffer.from(JSON.stringify(info())));
});
kick();

'use strict';
/*
 * chip_model_probe.js: drives the bridge's chip model (firmware/emulator/chip_model.js: VREG and chip
 * reset, pads, watchdog) and the flash model's program, erase and quad I/O (qspi_flash.js) through
 * the emulated memory map, as firmware would, and prints what it saw as JSON for
 * test_chip_model.py. Usage: node chip_model_probe.js BRIDGE_DIR BOOTSEL(0|1)
 */
const path = require('path');

const bridgeDir = process.argv[2];
const bootsel = process.argv[3] === '1';
const { RP2040 } = require(require.resolve('rp2040js', { paths: [bridgeDir] }));
const { QspiFlash } = require(path.join(bridgeDir, 'qspi_flash.js'));
const { installChipModel } = require(path.join(bridgeDir, 'chip_model.js'));

const SSI = 0x18000000;
const IO_QSPI = 0x40018000;
const out = { faults: [], resets: [] };

const mcu = new RP2040();
mcu.logger = { debug() {}, info() {}, warn() {}, error() {} };
mcu.flash.set(Uint8Array.from([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]), 0x1000);
const qspi = new QspiFlash(mcu, { uid: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), onFault: (w) => out.faults.push(w) });
installChipModel(mcu, { bootsel, onReset: (why) => out.resets.push(why) });
const w = (addr, value) => mcu.writeUint32(addr, value);
const r = (addr) => mcu.readUint32(addr) >>> 0;
const { serialMode, burst } = require(path.join(__dirname, 'ssi_probe.js')).ssi(r, w);

// VREG_AND_CHIP_RESET, and what a write changes.
out.vreg = r(0x40064000);
out.bod = r(0x40064004);
out.chip_reset = r(0x40064008);
w(0x40064000, 0xc1); // VSEL 1.15 V, EN
out.vreg_after_write = r(0x40064000);
// Pads and the SS line as the ROM samples it (SIO GPIO_HI_IN bit 1).
out.pad_gpio0 = r(0x4001c004);
out.pad_qspi = [0x04, 0x08, 0x0c, 0x10, 0x14, 0x18].map((o) => r(0x40020000 + o));
out.ss_in = (r(0xd0000008) >> 1) & 1;

// Watchdog: a forced trigger calls the reset once and leaves the watchdog stopped.
w(0x40058000, (1 << 30) | (1 << 31));
out.resets_after_trigger = out.resets.slice();
out.watchdog_ctrl_after = r(0x40058000) & (1 << 30);

const read4 = (a) => burst([0x03, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff, 0, 0, 0, 0]).slice(4);

serialMode();
// Program without write enable does nothing; with it, bits only go from 1 to 0 and the page wraps.
burst([0x02, 0x00, 0x20, 0x00, 0x00]);
out.program_without_wel = read4(0x2000);
burst([0x06]);
burst([0x02, 0x00, 0x20, 0x00, 0x0f, 0xf0]);
out.programmed = read4(0x2000);
burst([0x06]);
burst([0x02, 0x00, 0x20, 0x00, 0xf3]);
out.programmed_again = read4(0x2000);
out.wel_after_program = burst([0x05, 0])[1] & 2;
burst([0x06]);
burst([0x02, 0x00, 0x20, 0xff, 0xa1, 0xa2]); // the second byte wraps to the page's start
out.page_wrap = [read4(0x20fc)[3], read4(0x2000)[0]];
// Erase: 4 KiB sector (20h) from any address inside it; 64 KiB block (D8h).
burst([0x06]);
burst([0x20, 0x00, 0x2f, 0x10]);
out.after_sector_erase = read4(0x2000);
out.untouched_by_erase = read4(0x1000);
burst([0x06]);
burst([0xd8, 0x00, 0x00, 0x00]);
out.after_block_erase = read4(0x1000);
mcu.flash.set(Uint8Array.from([0xc0, 0xff, 0xee, 0x00]), 0x100);

// Quad I/O: EBh without QE is ignored; QE by 01h with two bytes; EBh through the enhanced SPI mode.
function quadRead(addr, mode) {
  w(SSI + 0x08, 0);
  w(SSI + 0x00, (2 << 21) | (31 << 16) | (3 << 8)); // quad, 32-bit frames, EEPROM read
  w(SSI + 0x04, 0);
  w(SSI + 0xf4, (4 << 11) | (2 << 8) | (8 << 2) | 1); // 4 wait cycles, 8-bit instruction, ADDR_L 8, 1C2A
  w(SSI + 0x08, 1);
  w(SSI + 0x60, 0xeb);
  w(SSI + 0x60, ((addr << 8) | mode) >>> 0);
  r(SSI + 0x28);
  return r(SSI + 0x60) >>> 0;
}
function continuousXip() {
  w(SSI + 0x08, 0);
  w(SSI + 0xf4, ((0xa0 << 24) | (4 << 11) | (0 << 8) | (8 << 2) | 2) >>> 0); // no instruction, 2C2A
  w(SSI + 0x08, 1);
}
out.eb_without_qe = quadRead(0x100, 0xa0);
out.qe_info = qspi.info();
continuousXip();
out.xip_reason_without_qe = qspi.offReason;
serialMode();
burst([0x06]);
burst([0x01, 0x00, 0x02]);
out.sr2_after_qe = burst([0x35, 0])[1];
out.eb_with_qe = quadRead(0x100, 0xa0);
out.continuous = qspi.info().continuous_read;
continuousXip();
out.quad_xip = qspi.xip;
out.quad_xip_reason = qspi.offReason;
out.quad_xip_read = r(0x10000100);
// A serial FFh burst (what flash_exit_xip clocks) ends continuous read mode: XIP is off again.
serialMode();
burst([0xff, 0xff, 0xff, 0xff]);
out.continuous_after_exit = qspi.info().continuous_read;
w(SSI + 0x08, 0);
w(SSI + 0x00, (2 << 21) | (31 << 16) | (3 << 8));
continuousXip();
out.xip_reason_after_exit = qspi.offReason;
out.info = qspi.info();
process.stdout.write(JSON.stringify(out));

'use strict';
/*
 * flash_model_probe.js: drives the bridge's QSPI flash model (firmware/emulator/qspi_flash.js)
 * through the emulated chip's memory map, as firmware would, and prints what it saw as JSON for
 * test_flash_model.py. Usage: node flash_model_probe.js BRIDGE_DIR
 */
const path = require('path');

const bridgeDir = process.argv[2];
const { RP2040 } = require(require.resolve('rp2040js', { paths: [bridgeDir] }));
const { QspiFlash } = require(path.join(bridgeDir, 'qspi_flash.js'));

const SSI = 0x18000000;
const IO_QSPI = 0x40018000;
const SS_CTRL = IO_QSPI + 0x0c;
const out = { faults: [] };

const mcu = new RP2040();
mcu.logger = { debug() {}, info() {}, warn() {}, error() {} };
mcu.flash.set(Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0x01, 0x02]), 0x100);
const qspi = new QspiFlash(mcu, {
  uid: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
  onFault: (why) => out.faults.push(why),
});
const w = (addr, value) => mcu.writeUint32(addr, value);
const r = (addr) => mcu.readUint32(addr) >>> 0;
const { serialMode, burst } = require(path.join(__dirname, 'ssi_probe.js')).ssi(r, w);

// Out of reset: no XIP, and a flash read is reported (once: the model stops at the first).
out.reset_xip = qspi.xip;
out.reset_reason = qspi.offReason;
r(0x10000000);
out.guard_fault = out.faults.slice();
qspi.faulted = false; // the bridge stops the chip at the first fault; the probe goes on



serialMode();
out.serial_reason = qspi.offReason;
out.jedec = burst([0x9f, 0, 0, 0]);
out.sr1 = burst([0x05, 0, 0]);
out.sr2 = burst([0x35, 0]);
burst([0x06]);
out.sr1_after_wren = burst([0x05, 0]);
burst([0x04]);
out.sr1_after_wrdi = burst([0x05, 0]);
out.device_id_ab = burst([0xab, 0, 0, 0, 0]);
out.manufacturer_device_90 = burst([0x90, 0, 0, 0, 0, 0]);
out.read_03 = burst([0x03, 0, 0x01, 0x00, 0, 0, 0, 0]);
out.fast_read_0b = burst([0x0b, 0, 0x01, 0x02, 0, 0, 0]);

// Chip select forced low by the pad override spans bursts: RUID read a byte at a time.
w(SS_CTRL, 2 << 8);
const ruid = [];
for (const b of [0x4b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) ruid.push(...burst([b]));
w(SS_CTRL, 3 << 8);
out.ruid = ruid;
w(SS_CTRL, 0);

// Without the override, looking at SR between bytes ends the burst: 9F alone, then 00 as a command.
out.split_burst = [...burst([0x9f]), ...burst([0])];

// EEPROM read mode (TMOD 3): the command frames go out, then NDF + 1 frames come back.
w(SSI + 0x08, 0);
w(SSI + 0x00, (7 << 16) | (3 << 8));
w(SSI + 0x04, 2);
w(SSI + 0x08, 1);
out.eeprom_jedec = burst([0x9f]);
// CTRLR0 is locked while the SSI is enabled: the write is ignored and counted.
w(SSI + 0x00, 31 << 16);
out.ctrlr0_after_locked_write = r(SSI + 0x00);

// Power-down: XIP cannot work; 0xAB releases it.
serialMode();
burst([0xb9]);
out.powered_down_jedec = burst([0x9f, 0, 0, 0]);
w(SSI + 0x08, 0);
w(SSI + 0x00, (31 << 16) | (3 << 8));
w(SSI + 0x04, 0);
w(SSI + 0xf4, (0x03 << 24) | (2 << 8) | (6 << 2));
w(SSI + 0x08, 1);
out.powered_down_reason = qspi.offReason;
r(0x10000004); // the guard is back while XIP is off
out.powered_down_fault = out.faults[out.faults.length - 1];
qspi.faulted = false;
w(SSI + 0x08, 0);
w(SSI + 0x00, 7 << 16);
w(SSI + 0x08, 1);
burst([0xab]);
w(SSI + 0x08, 0);
w(SSI + 0x00, (31 << 16) | (3 << 8));
w(SSI + 0x08, 1);
out.xip_after_release = qspi.xip;
out.xip_read = r(0x10000100);
out.faults_after_xip_read = out.faults.length;

// Chip select forced while the SSI is set up for XIP: XIP does not work.
w(SS_CTRL, 3 << 8);
out.forced_cs_reason = qspi.offReason;
w(SS_CTRL, 0);
out.info = qspi.info();
process.stdout.write(JSON.stringify(out));

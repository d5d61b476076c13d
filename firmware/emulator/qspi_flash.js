'use strict';
/*
 * qspi_flash.js: the RP2040's XIP SSI (0x18000000), the IO_QSPI pin controls (0x40018000) and the
 * XIP cache controls (0x14000000), with a Winbond W25Q80-style serial flash behind them, far enough
 * for the model boot ROM (rom/rom_model.S), our boot2 and our firmware. rp2040js models none of
 * this: its SSI answers zeros, IO_QSPI is unimplemented and flash reads as plain memory whatever
 * the SSI does. Written from the RP2040 datasheet (4.10 SSI, 2.19 IO, 4.4 XIP) and the W25Q80
 * datasheet.
 *
 * XIP: core and DMA reads of 0x10000000-0x13FFFFFF work only while the SSI is set up for XIP (see
 * xipOffReason). While it is not, such a read hangs or reads garbage on a real chip, so the model
 * installs a guard on the emulator's memory reads (the core fetches instructions through
 * mcu.readUint16 too) that reports it as a firmware bug; the guard is removed while XIP is on, so
 * normal running pays nothing for it.
 *
 * Serial commands (SSI register interface, TMOD 0, 1 or 3): a frame written to DR0 is shifted out
 * at once, most significant byte first, and what the chip returns goes to the RX FIFO (16 frames).
 * With chip select left to the SSI, a burst is the DR0 writes made before the firmware next reads
 * SR, DR0, RXFLR or TXFLR: chip select is low for the burst, then high (on a real chip it rises
 * when the TX FIFO runs dry). With chip select forced by IO_QSPI SS_CTRL OUTOVER, the override
 * decides. Timing (SCK rate, FIFO draining) is not modelled.
 *
 * Quad I/O (what pico-sdk's W25Q080 boot2 does): status register 2's QE bit (set with 01h and two
 * bytes, or 31h) enables the quad commands; EBh (fast read quad I/O: address, mode byte, two dummy
 * bytes = 4 clocks, data) sent through the SSI's enhanced SPI mode (SPI_FRF quad, TMOD 3, INST_L
 * and ADDR_L from SPI_CTRLR0) leaves the chip in continuous read mode when its mode bits are 10b
 * (M[5:4]); then every chip-select cycle starts with the address, no command, until a mode byte
 * without them (or FFh clocked as the first byte) ends it. XIP works with EBh and 8-bit instruction,
 * or in continuous mode with no instruction and XIP_CMD as the mode bits. Program and erase change
 * the flash array (so XIP reads see them): page program 02h (within the 256-byte page, bits only go
 * 1 -> 0), sector erase 20h (4 KiB), block erase 52h (32 KiB) and D8h (64 KiB), chip erase C7h/60h;
 * each needs write enable and clears it. BUSY is never set (no timing).
 */

const { BasePeripheral } = require('rp2040js');

const FLASH_BASE = 0x10000000;
const FLASH_END = 0x14000000;
const FIFO_DEPTH = 16;

// SSI registers (datasheet 4.10.13).
const SSI = {
  CTRLR0: 0x00, CTRLR1: 0x04, SSIENR: 0x08, MWCR: 0x0c, SER: 0x10, BAUDR: 0x14, TXFTLR: 0x18,
  RXFTLR: 0x1c, TXFLR: 0x20, RXFLR: 0x24, SR: 0x28, IMR: 0x2c, ISR: 0x30, RISR: 0x34, IDR: 0x58,
  VERSION_ID: 0x5c, DR0: 0x60, DR_LAST: 0xec, RX_SAMPLE_DLY: 0xf0, SPI_CTRLR0: 0xf4,
  TXD_DRIVE_EDGE: 0xf8,
};
const SR_TFNF = 1 << 1;
const SR_TFE = 1 << 2;
const SR_RFNE = 1 << 3;
const SR_RFF = 1 << 4;
// Registers the SSI takes only while disabled (SSIENR = 0); written while enabled they are ignored.
const SSI_LOCKED = new Set([SSI.CTRLR0, SSI.CTRLR1, SSI.BAUDR, SSI.SPI_CTRLR0]);

// IO_QSPI (datasheet 2.19.6.2): pins SCLK, SS, SD0..SD3, each STATUS at 8n and CTRL at 8n + 4.
const QSPI_PINS = ['SCLK', 'SS', 'SD0', 'SD1', 'SD2', 'SD3'];
const PIN_SS = 1;
const CTRL_RESET = 0x1f; // FUNCSEL 0x1f (null) until connect_internal_flash selects function 0 (XIP)
const OUTOVER = ['normal', 'invert', 'low', 'high'];

// W25Q80DV identification (datasheet 7.3 / 8.2): Winbond, memory type 40h, capacity 14h (8 Mbit).
const JEDEC_ID = [0xef, 0x40, 0x14];
const DEVICE_ID = 0x13;

/**
 * The flash chip: commands arrive byte by byte while chip select is low; a command ends (and takes
 * effect, for the ones that act on chip select going high) at deselect().
 */
class W25Q80 {
  constructor(memory, uid) {
    this.memory = memory; // rp2040js's flash array: XIP reads go to it directly
    this.uid = uid;
    this.selected = false;
    this.poweredDown = false;
    this.sr1 = 0; // BUSY is never set: program and erase take no time
    this.sr2 = 0; // QE clear, as shipped
    this.continuous = false; // continuous read mode (EBh with M[5:4] = 10b)
    this.quadWithoutQe = 0; // EBh bursts while QE was clear (the chip ignores them)
    this.programmed = 0; // bytes page-programmed
    this.erased = 0; // bytes erased
    this.resetEnabled = false;
    this.commands = {}; // by hex command byte: how many times the chip has run it
    this.unmodelled = 0; // commands it ignored (program, erase and anything else not listed below)
    this.cmd = null;
    this.bytes = []; // the bytes received after the command byte
  }

  select() {
    if (this.selected) return;
    this.selected = true;
    this.cmd = this.continuous ? 0xeb : null; // in continuous mode the address comes first
    this.bytes = [];
  }

  get writeEnabled() { return (this.sr1 & 0x02) !== 0; }

  /** 24-bit address from the first three bytes after the command. */
  address() {
    return (this.bytes[0] << 16) | (this.bytes[1] << 8) | this.bytes[2];
  }

  erase(size) {
    const start = (this.address() & ~(size - 1)) % this.memory.length;
    this.memory.fill(0xff, start, Math.min(start + size, this.memory.length));
    this.erased += size;
  }

  /** Page program: bytes after the address go into the 256-byte page, wrapping within it. */
  program() {
    const addr = this.address();
    const page = addr & ~0xff;
    const data = this.bytes.slice(3, 3 + 256);
    data.forEach((b, i) => {
      const at = (page | ((addr + i) & 0xff)) % this.memory.length;
      this.memory[at] &= b;
    });
    this.programmed += data.length;
  }

  deselect() {
    if (!this.selected) return;
    this.selected = false;
    const cmd = this.cmd;
    this.cmd = null;
    if (cmd === null) return;
    const name = cmd.toString(16).toUpperCase().padStart(2, '0');
    this.commands[name] = (this.commands[name] || 0) + 1;
    if (this.poweredDown) {
      if (cmd === 0xab) this.poweredDown = false; // release from power-down
      return;
    }
    const n = this.bytes.length;
    const wel = this.writeEnabled;
    switch (cmd) {
      case 0xeb: // quad I/O read: the mode byte decides whether the next cycle skips the command
        if (!(this.sr2 & 0x02)) {
          this.quadWithoutQe++;
          this.continuous = false;
        } else if (n >= 4) this.continuous = (this.bytes[3] & 0x30) === 0x20;
        else if (this.continuous && n >= 1 && this.bytes[0] === 0xff) this.continuous = false;
        break;
      case 0x02:
        if (wel && n >= 4) this.program();
        this.sr1 &= ~0x02;
        break;
      case 0x20: case 0x52: case 0xd8:
        if (wel && n >= 3) this.erase(cmd === 0x20 ? 0x1000 : cmd === 0x52 ? 0x8000 : 0x10000);
        this.sr1 &= ~0x02;
        break;
      case 0xc7: case 0x60:
        if (wel) {
          this.memory.fill(0xff);
          this.erased += this.memory.length;
        }
        this.sr1 &= ~0x02;
        break;
      case 0x31: // write status register 2
        if (wel && n >= 1) this.sr2 = this.bytes[0] & 0x43;
        this.sr1 &= ~0x02;
        break;
      case 0x06: this.sr1 |= 0x02; break; // write enable: WEL
      case 0x04: this.sr1 &= ~0x02; break; // write disable
      case 0x01: // write status registers 1 (and 2), when write-enabled
        if ((this.sr1 & 0x02) && n >= 1) {
          this.sr1 = this.bytes[0] & 0xfc;
          if (n >= 2) this.sr2 = this.bytes[1] & 0x43;
        }
        this.sr1 &= ~0x02;
        break;
      case 0xb9: this.poweredDown = true; break;
      case 0x66: this.resetEnabled = true; return;
      case 0x99:
        if (this.resetEnabled) this.sr1 &= ~0x02;
        break;
      case 0x03: case 0x0b: case 0x4b: case 0x9f: case 0x90: case 0xab: case 0x05: case 0x35: case 0xff:
        break;
      default:
        this.unmodelled++;
    }
    this.resetEnabled = false;
  }

  /** One byte in on DI, one byte out on DO. */
  transfer(out) {
    if (!this.selected) return 0xff;
    if (this.cmd === null) {
      this.cmd = out;
      return 0xff;
    }
    const i = this.bytes.length;
    this.bytes.push(out);
    if (this.poweredDown) return 0xff; // only 0xAB is heard, and it says nothing until released
    switch (this.cmd) {
      case 0xeb: { // quad I/O read: 24-bit address, mode byte, 4 dummy clocks (2 bytes), then data
        if (!(this.sr2 & 0x02) || i < 6) return 0xff;
        return this.memory[(this.address() + (i - 6)) % this.memory.length];
      }
      case 0x03: // read data: 24-bit address, then data
      case 0x0b: { // fast read: 24-bit address, one dummy byte, then data
        const skip = this.cmd === 0x03 ? 3 : 4;
        if (i < skip) return 0xff;
        const addr = ((this.bytes[0] << 16) | (this.bytes[1] << 8) | this.bytes[2]) + (i - skip);
        return this.memory[addr % this.memory.length];
      }
      case 0x4b: // read unique ID: four dummy bytes, then the 64-bit ID, most significant byte first
        return i >= 4 && i < 12 ? this.uid[i - 4] : 0xff;
      case 0x9f: // JEDEC ID
        return i < 3 ? JEDEC_ID[i] : 0xff;
      case 0x90: // manufacturer and device ID: 24-bit address (bit 0 picks the order), then the pair
        return i < 3 ? 0xff : [0xef, DEVICE_ID][(i - 3 + (this.bytes[2] & 1)) & 1];
      case 0xab: // release power-down / device ID: three dummy bytes, then the device ID
        return i < 3 ? 0xff : DEVICE_ID;
      case 0x05: return this.sr1; // status register 1, repeated while selected
      case 0x35: return this.sr2; // status register 2
      default: return 0xff;
    }
  }

  info() {
    return {
      model: 'W25Q80 (model)',
      uid: Buffer.from(this.uid).toString('hex').toUpperCase(),
      jedec_id: Buffer.from(JEDEC_ID).toString('hex').toUpperCase(),
      powered_down: this.poweredDown,
      quad_enabled: (this.sr2 & 0x02) !== 0,
      continuous_read: this.continuous,
      quad_reads_without_qe: this.quadWithoutQe,
      bytes_programmed: this.programmed,
      bytes_erased: this.erased,
      commands: { ...this.commands },
      unmodelled_commands: this.unmodelled,
    };
  }
}

class XipSsi extends BasePeripheral {
  constructor(mcu, name, qspi) {
    super(mcu, name);
    this.qspi = qspi;
    this.reset();
    this.ignoredWrites = 0; // writes to a locked register while the SSI was enabled
    this.rxOverflows = 0;
  }

  reset() {
    // Reset values: everything 0 but SPI_CTRLR0.XIP_CMD (03h).
    this.regs = { [SSI.CTRLR0]: 0, [SSI.BAUDR]: 0, [SSI.SER]: 0, [SSI.SSIENR]: 0, [SSI.CTRLR1]: 0,
      [SSI.SPI_CTRLR0]: 0x03000000 };
    this.rx = [];
    this.burst = false; // chip select is low for an SSI-driven burst
    this.enhancedWrites = 0; // DR writes in this enhanced-SPI burst (instruction, then address)
  }

  get spiCtrlr0() { return this.regs[SSI.SPI_CTRLR0] >>> 0; }
  get instBytes() { return [0, 1, 1, 2][(this.spiCtrlr0 >> 8) & 3]; } // INST_L: 0, 4 (as 8), 8, 16 bits
  get addrBytes() { return (((this.spiCtrlr0 >> 2) & 0xf) * 4) / 8; } // ADDR_L in 4-bit units
  get waitBytes() { return (((this.spiCtrlr0 >> 11) & 0x1f) * [1, 2, 4, 1][this.spiFrf]) / 8; }

  /** A DR write in enhanced (dual/quad) SPI EEPROM mode: the instruction, then the address. */
  writeEnhanced(value) {
    const first = this.enhancedWrites === 0 && this.instBytes > 0;
    const bytes = first ? this.instBytes : this.addrBytes;
    this.enhancedWrites++;
    for (let b = bytes - 1; b >= 0; b--) this.qspi.shiftByte((value >>> (8 * b)) & 0xff);
  }

  get enabled() { return (this.regs[SSI.SSIENR] & 1) !== 0; }
  get ctrlr0() { return this.regs[SSI.CTRLR0] >>> 0; }
  get tmod() { return (this.ctrlr0 >> 8) & 3; }
  get frameBits() { return ((this.ctrlr0 >> 16) & 0x1f) + 1; }
  get spiFrf() { return (this.ctrlr0 >> 21) & 3; }

  endBurst() {
    if (!this.burst) return;
    this.burst = false;
    if (this.tmod === 3 && this.spiFrf !== 0) {
      for (let d = 0; d < this.waitBytes; d++) this.qspi.shiftByte(0xff);
    }
    this.enhancedWrites = 0;
    if (this.tmod === 3) {
      // EEPROM read: after the command frames, NDF + 1 frames are clocked in.
      const frames = (this.regs[SSI.CTRLR1] & 0xffff) + 1;
      for (let f = 0; f < frames; f++) this.pushRx(this.shiftFrame(0));
    }
    this.qspi.ssiBurst();
  }

  pushRx(frame) {
    if (this.rx.length < FIFO_DEPTH) this.rx.push(frame);
    else this.rxOverflows++;
  }

  shiftFrame(frame) {
    const bytes = this.frameBits / 8;
    let inValue = 0;
    for (let b = bytes - 1; b >= 0; b--) {
      inValue = ((inValue << 8) | this.qspi.shiftByte((frame >>> (8 * b)) & 0xff)) >>> 0;
    }
    return inValue;
  }

  writeDR(value) {
    if (!this.enabled) return; // the FIFOs are held clear while the SSI is disabled
    const why = this.frameBits % 8 !== 0 ? `${this.frameBits}-bit frames`
      : this.spiFrf === 3 ? 'reserved SPI frame format 3'
        : this.spiFrf !== 0 && this.tmod !== 3 ? `${['', 'dual', 'quad'][this.spiFrf]} SPI frames outside EEPROM mode`
          : this.tmod === 2 ? 'receive-only mode (TMOD 2)' : null;
    if (why) {
      this.qspi.unmodelled(`the SSI model does not do register transfers with ${why}`);
      return;
    }
    if (!this.burst) {
      this.burst = true;
      this.qspi.ssiBurst();
    }
    if (this.spiFrf !== 0) {
      this.writeEnhanced(value >>> 0);
      return;
    }
    const mask = this.frameBits === 32 ? 0xffffffff : (1 << this.frameBits) - 1;
    const inValue = this.shiftFrame(value & mask);
    if (this.tmod === 0) this.pushRx(inValue); // TMOD 1 (transmit only) and 3 drop what comes back
  }

  readUint32(offset) {
    if (offset >= SSI.DR0 && offset <= SSI.DR_LAST) {
      this.endBurst();
      return this.rx.length ? this.rx.shift() : 0;
    }
    switch (offset) {
      case SSI.SR:
        this.endBurst();
        return SR_TFNF | SR_TFE | (this.rx.length ? SR_RFNE : 0) | (this.rx.length >= FIFO_DEPTH ? SR_RFF : 0);
      case SSI.RXFLR:
        this.endBurst();
        return this.rx.length;
      case SSI.TXFLR:
        this.endBurst();
        return 0;
      case SSI.IDR: return 0x51535049;
      case SSI.VERSION_ID: return 0x3430312a;
      case SSI.ISR: case SSI.RISR: return 0;
      default: return (this.regs[offset] || 0) >>> 0;
    }
  }

  writeUint32(offset, value) {
    if (offset >= SSI.DR0 && offset <= SSI.DR_LAST) {
      this.writeDR(value >>> 0);
      return;
    }
    if (SSI_LOCKED.has(offset) && this.enabled) {
      this.ignoredWrites++;
      return;
    }
    if (offset === SSI.SSIENR) {
      this.endBurst();
      if (!(value & 1)) this.rx = [];
    }
    this.regs[offset] = value >>> 0;
    this.qspi.update();
  }

  info() {
    return { enabled: this.enabled, ctrlr0: hex(this.ctrlr0), spi_ctrlr0: hex(this.regs[SSI.SPI_CTRLR0]),
      baudr: this.regs[SSI.BAUDR], ignored_writes: this.ignoredWrites, rx_overflows: this.rxOverflows };
  }
}

class IoQspi extends BasePeripheral {
  constructor(mcu, name, qspi) {
    super(mcu, name);
    this.qspi = qspi;
    this.reset();
  }

  reset() {
    this.ctrl = QSPI_PINS.map(() => CTRL_RESET);
  }

  funcsel(pin) { return this.ctrl[pin] & 0x1f; }
  outover(pin) { return (this.ctrl[pin] >> 8) & 3; }

  readUint32(offset) {
    const pin = offset >> 3;
    if (offset < 8 * QSPI_PINS.length) {
      if (offset & 4) return this.ctrl[pin];
      // STATUS: OUTTOPAD (bit 9) and OETOPAD (bit 13); SS reads back the chip-select level.
      const level = pin === PIN_SS ? !this.qspi.chip.selected : false;
      return (level ? (1 << 9) | (1 << 17) : 0) | (1 << 13);
    }
    return 0; // interrupt registers: nothing is modelled
  }

  writeUint32(offset, value) {
    if (offset < 8 * QSPI_PINS.length && (offset & 4)) {
      this.ctrl[offset >> 3] = value & 0x3003331f; // FUNCSEL and the four overrides
      this.qspi.update();
    }
  }
}

class XipCtrl extends BasePeripheral {
  constructor(mcu, name) {
    super(mcu, name);
    this.ctrlValue = 3; // EN | ERR_BADWRITE
    this.flushes = 0;
  }

  readUint32(offset) {
    switch (offset) {
      case 0x00: return this.ctrlValue;
      case 0x04: return 0; // FLUSH: the read waits for the flush, which the model does at once
      case 0x08: return 0x3; // STAT: FLUSH_READY, FIFO_EMPTY
      default: return 0;
    }
  }

  writeUint32(offset, value) {
    if (offset === 0x00) this.ctrlValue = value & 0xf;
    else if (offset === 0x04) this.flushes++; // the cache itself is not modelled
  }
}

function hex(n) {
  return `0x${(n >>> 0).toString(16)}`;
}

/**
 * The QSPI side of the chip: installs the three peripherals into `mcu` and keeps track of XIP.
 * `onFault(message)` is called once for a firmware bug (a flash read while XIP is off) or a use
 * the model does not cover; the caller stops the chip.
 */
class QspiFlash {
  constructor(mcu, { uid, onFault }) {
    this.mcu = mcu;
    this.onFault = onFault;
    this.chip = new W25Q80(mcu.flash, uid);
    this.ssi = new XipSsi(mcu, 'SSI', this);
    this.io = new IoQspi(mcu, 'IO_QSPI_BASE', this);
    this.xipCtrl = new XipCtrl(mcu, 'XIP_CTRL_BASE');
    mcu.peripherals[0x18000] = this.ssi;
    mcu.peripherals[0x40018] = this.io;
    mcu.peripherals[0x14000] = this.xipCtrl;
    this.xip = null;
    this.offReason = null;
    this.xipChanges = 0;
    this.guarded = false;
    this.faulted = false;
    this.makeReaders();
    this.update();
  }

  /** Why XIP reads would not work now, or null when they would. */
  xipOffReason() {
    const ssi = this.ssi;
    const spi = ssi.regs[SSI.SPI_CTRLR0] >>> 0;
    const cmd = spi >>> 24;
    const wait = (spi >> 11) & 0x1f;
    if (!ssi.enabled) return 'the SSI is disabled (SSIENR = 0)';
    if ((ssi.regs[SSI.BAUDR] & 0xfffe) === 0) return 'the SSI clock is stopped (BAUDR = 0)';
    if (!(ssi.regs[SSI.SER] & 1)) return 'no slave is selected (SER = 0)';
    if (ssi.tmod !== 3) return `the SSI is in serial command mode (TMOD ${ssi.tmod}, XIP needs 3)`;
    if (ssi.frameBits !== 32) return `XIP needs 32-bit frames (DFS_32 = ${ssi.frameBits - 1})`;
    const quad = ssi.spiFrf === 2;
    if (ssi.spiFrf === 1 || ssi.spiFrf === 3) return 'dual-SPI XIP reads are not modelled (SPI_FRF 1)';
    if (quad) {
      const why = this.quadXipProblem(spi, cmd, wait);
      if (why) return why;
    } else {
      if ((spi & 3) !== 0 || ((spi >> 8) & 3) !== 2 || ((spi >> 2) & 0xf) !== 6) {
        return 'SPI_CTRLR0 does not ask for an 8-bit instruction and a 24-bit address';
      }
      if (!((cmd === 0x03 && wait === 0) || (cmd === 0x0b && wait === 8))) {
        return `XIP command 0x${cmd.toString(16)} with ${wait} wait cycles is not a read the chip does`;
      }
    }
    for (const pin of quad ? [0, PIN_SS, 2, 3, 4, 5] : [0, PIN_SS, 2, 3]) {
      if (this.io.funcsel(pin) !== 0) return `QSPI ${QSPI_PINS[pin]} is not connected to the SSI (FUNCSEL ${this.io.funcsel(pin)})`;
    }
    if (this.io.outover(PIN_SS) !== 0) return `chip select is forced ${OUTOVER[this.io.outover(PIN_SS)]} (IO_QSPI SS_CTRL OUTOVER)`;
    if (this.chip.poweredDown) return 'the flash is powered down (B9h)';
    return null;
  }

  /** Why a quad XIP setup would not read the flash (null when it would): EBh with the QE bit. */
  quadXipProblem(spi, cmd, wait) {
    if (!(this.chip.sr2 & 0x02)) return 'quad XIP reads need the flash\'s QE bit (status register 2 bit 1)';
    const inst = (spi >> 8) & 3;
    const addrL = (spi >> 2) & 0xf;
    if (addrL !== 8) return `quad EBh reads send 24 address and 8 mode bits (ADDR_L 8, not ${addrL})`;
    if (wait !== 4) return `the chip's EBh has 4 dummy clocks, SPI_CTRLR0 asks for ${wait}`;
    if (inst === 2 && cmd === 0xeb && (spi & 3) === 1) return null; // instruction each time, serial
    if (inst === 0 && (spi & 3) === 2) {
      if ((cmd & 0x30) !== 0x20) return `XIP_CMD 0x${cmd.toString(16)} as mode bits ends continuous read mode`;
      if (!this.chip.continuous) return 'no instruction is sent but the chip is not in continuous read mode';
      return null;
    }
    return `quad XIP with INST_L ${inst}, TRANS_TYPE ${spi & 3}, command 0x${cmd.toString(16)} is not a read the chip does`;
  }

  /** Chip-level reset (watchdog): SSI, IO_QSPI and XIP_CTRL registers back to their reset values;
   * the flash chip is not reset (it keeps its status registers and continuous read mode). */
  reset() {
    this.ssi.reset();
    this.io.reset();
    this.xipCtrl.ctrlValue = 3;
    this.update();
  }

  /** Re-evaluate chip select and XIP after a register write; (un)install the read guard. */
  update() {
    this.updateCs();
    const reason = this.xipOffReason();
    const xip = reason === null;
    if (xip !== this.xip) {
      if (this.xip !== null) this.xipChanges++;
      this.xip = xip;
      if (xip) this.removeGuard();
      else this.installGuard();
    }
    this.offReason = reason;
  }

  /** Chip select as the pad drives it: the override when there is one, else the SSI. */
  updateCs() {
    const over = this.io.outover(PIN_SS);
    let low;
    if (over === 2) low = true;
    else if (over === 3) low = false;
    else {
      const driven = this.ssi.burst && this.io.funcsel(PIN_SS) === 0 && (this.ssi.regs[SSI.SER] & 1) !== 0;
      low = over === 1 ? !driven : driven;
    }
    if (low) this.chip.select();
    else this.chip.deselect();
  }

  /** An SSI-driven burst starts or ends: chip select follows, and a command it ends may change XIP. */
  ssiBurst() {
    this.update();
  }

  shiftByte(out) {
    // The SSI can only reach the chip through the XIP pad functions.
    if (this.io.funcsel(0) !== 0 || this.io.funcsel(2) !== 0 || this.io.funcsel(3) !== 0) return 0xff;
    return this.chip.transfer(out);
  }

  unmodelled(message) {
    this.fault(`${message} (pc 0x${((this.mcu.core.PC - 2) >>> 0).toString(16)})`);
  }

  fault(message) {
    if (this.faulted) return;
    this.faulted = true;
    this.onFault(message);
  }

  /**
   * The guard's read functions, and the plain ones, set once as own properties of `mcu` so that
   * switching between them only changes their values: adding and deleting properties would drop
   * the object into V8's slow dictionary mode and slow every memory access for good.
   */
  makeReaders() {
    const mcu = this.mcu;
    const proto = Object.getPrototypeOf(mcu);
    const check = (address) => {
      const a = address >>> 0;
      if (a >= FLASH_BASE && a < FLASH_END) this.guardTrip(a);
    };
    this.plainReads = { readUint32: proto.readUint32, readUint16: proto.readUint16, readUint8: proto.readUint8 };
    this.guardedReads = {
      readUint32: (address) => {
        check(address);
        return proto.readUint32.call(mcu, address);
      },
      readUint16: (address) => {
        check(address);
        return proto.readUint16.call(mcu, address);
      },
      readUint8: (address) => {
        check(address);
        return proto.readUint8.call(mcu, address);
      },
    };
    Object.assign(mcu, this.plainReads);
  }

  installGuard() {
    if (this.guarded) return;
    this.guarded = true;
    Object.assign(this.mcu, this.guardedReads);
  }

  removeGuard() {
    if (!this.guarded) return;
    this.guarded = false;
    Object.assign(this.mcu, this.plainReads);
  }

  guardTrip(address) {
    const core = this.mcu.core;
    const fetch = address === (core.PC & ~1) || address === (core.PC & ~1) + 2;
    const pc = fetch ? address : (core.PC - 2) >>> 0;
    this.fault(`firmware bug: flash ${fetch ? 'instruction fetch' : 'read'} at ${hex(address)} ` +
      `(pc ${hex(pc)}) while XIP is off: ${this.offReason || this.xipOffReason()}; ` +
      'a real RP2040 would hang or read garbage here');
  }

  info() {
    return {
      ...this.chip.info(),
      xip: this.xip,
      xip_off_reason: this.offReason,
      xip_changes: this.xipChanges,
      chip_select: this.chip.selected ? 'low' : 'high',
      cache_flushes: this.xipCtrl.flushes,
      ssi: this.ssi.info(),
    };
  }
}

module.exports = { QspiFlash, W25Q80, FLASH_BASE, FLASH_END };

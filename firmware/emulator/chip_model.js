'use strict';
/*
 * chip_model.js: parts of the RP2040 that rp2040js 1.4.1 leaves out or gets wrong and that a real
 * boot ROM or firmware we did not write depends on (RP2040 datasheet 2.10 VREG_AND_CHIP_RESET,
 * 2.19.6.3/2.19.6.4 pad reset values, 4.7 watchdog):
 * - VREG_AND_CHIP_RESET (0x40064000): rp2040js reads 0xffffffff there, so a real ROM sees the
 *   rescue flag (CHIP_RESET.PSM_RESTART_FLAG, bit 24) and halts. Modelled with the datasheet's
 *   reset values: VREG 0xb1 (EN, 1.10 V) with ROK (bit 12) while enabled, BOD 0x91, CHIP_RESET
 *   HAD_POR (bit 8) after power-on; PSM_RESTART_FLAG is cleared by writing 1.
 * - Pads: rp2040js gives every pad 0x36 with input disabled, so a real ROM reads QSPI_SS low and
 *   takes it for the BOOTSEL button. The datasheet's reset values: GPIOn 0x56, QSPI SCLK 0x56, SD0-3
 *   0x52, SS 0x5a (pull-up); the SS line reads high (the pull-up and the flash's own) unless
 *   `bootsel` holds it low as the button does. rp2040js also maps the PADS_QSPI registers (SCLK, SD0,
 *   SD1, SD2, SD3, SS at 0x04..0x18) onto its pins in IO_QSPI order (SCLK, SS, SD0..SD3), so a write
 *   to SD0's pad changed SS: the registers are mapped to their own pins here.
 * - Watchdog: rp2040js re-arms a fired watchdog with zero delay and calls a handler that only logs,
 *   so a firmware (or the real ROM's reset_usb_boot) that reboots through it spins for ever in one
 *   emulated microsecond. Here a fired watchdog stops counting and calls `onReset(reason)`: the
 *   caller resets the chip (resetChip below does the core and the pads).
 */

const { BasePeripheral } = require('rp2040js');

const VREG_RESET = 0xb1;
const BOD_RESET = 0x91;
const VREG_ROK = 1 << 12;
const CHIP_HAD_POR = 1 << 8;
const CHIP_PSM_RESTART_FLAG = 1 << 24;
const PAD_GPIO_RESET = 0x56;
const PAD_QSPI_RESET = [0x56, 0x5a, 0x52, 0x52, 0x52, 0x52]; // SCLK, SS, SD0..SD3 (rp2040js order)
const QSPI_SS = 1;
const PADS_QSPI_PIN = [0, 2, 3, 4, 5, 1]; // PADS_QSPI register n (0x04 + 4n) -> rp2040js qspi[] index

class VregAndChipReset extends BasePeripheral {
  constructor(mcu) {
    super(mcu, 'VREG_AND_CHIP_RESET_BASE');
    this.vreg = VREG_RESET;
    this.bod = BOD_RESET;
    this.chipReset = CHIP_HAD_POR;
  }

  readUint32(offset) {
    switch (offset) {
      case 0x00: return this.vreg | (this.vreg & 1 ? VREG_ROK : 0);
      case 0x04: return this.bod;
      case 0x08: return this.chipReset;
      default: return 0;
    }
  }

  writeUint32(offset, value) {
    switch (offset) {
      case 0x00: this.vreg = value & 0xf3; break; // VSEL[7:4], HIZ[1], EN[0]; ROK is read-only
      case 0x04: this.bod = value & 0xf1; break;
      case 0x08: if (value & CHIP_PSM_RESTART_FLAG) this.chipReset &= ~CHIP_PSM_RESTART_FLAG; break;
      default: break;
    }
  }

  info() {
    return { vreg: this.readUint32(0), bod: this.bod, chip_reset: this.chipReset };
  }
}

/** Pads at their reset values; QSPI_SS reads low only while `bootsel` holds the button. */
function resetPads(mcu, bootsel) {
  for (const pin of mcu.gpio) pin.padValue = PAD_GPIO_RESET;
  mcu.qspi.forEach((pin, i) => {
    pin.padValue = PAD_QSPI_RESET[i];
  });
  mcu.qspi[QSPI_SS].setInputValue(!bootsel);
}

/** Install the models into `mcu`; `onReset(reason)` runs when the watchdog fires. */
function installChipModel(mcu, { bootsel = false, onReset }) {
  const vreg = new VregAndChipReset(mcu);
  mcu.peripherals[0x40064] = vreg;
  mcu.peripherals[0x40020].getPinFromOffset = (offset) => mcu.qspi[PADS_QSPI_PIN[(offset - 4) >>> 2]];
  resetPads(mcu, bootsel);
  const watchdog = mcu.peripherals[0x40058];
  // The watchdog resets itself with the chip (PSM WDSEL): it stops until the firmware arms it again.
  // A trigger written to CTRL takes effect after rp2040js has finished that write (which would
  // otherwise re-enable the watchdog from the written value).
  const fire = (reason) => {
    watchdog.enable = false;
    watchdog.timer.enable = false;
    watchdog.alarm.enable = false;
    onReset(reason);
  };
  let writing = false;
  let pending = null;
  const write = watchdog.writeUint32.bind(watchdog);
  watchdog.writeUint32 = (offset, value) => {
    writing = true;
    try {
      write(offset, value);
    } finally {
      writing = false;
    }
    if (pending !== null) {
      const reason = pending;
      pending = null;
      fire(reason);
    }
  };
  watchdog.onWatchdogTrigger = () => {
    const reason = watchdog.reason === 2 ? 'watchdog forced (CTRL.TRIGGER)' : 'watchdog timer expired';
    if (writing) pending = reason;
    else fire(reason);
  };
  return { vreg, watchdog };
}

/**
 * The processor and the pads back to their reset state (what a watchdog reset with the ROM's WDSEL
 * resets that the bridge can reach): NVIC, PRIMASK, mode, VTOR 0, then SP and PC from the ROM's
 * vectors. Other peripherals keep their registers (rp2040js has no reset for them); the watchdog's
 * scratch registers and REASON survive, as on the chip.
 */
function resetChip(mcu, bootsel) {
  const core = mcu.core;
  core.pendingInterrupts = 0;
  core.enabledInterrupts = 0;
  core.interruptPriorities = [0xffffffff, 0, 0, 0];
  core.pendingNMI = core.pendingPendSV = core.pendingSVCall = core.pendingSystick = false;
  core.PM = false;
  core.IPSR = 0;
  core.currentMode = 0; // thread mode
  core.SPSEL = 0;
  core.waiting = false;
  core.eventRegistered = false;
  core.VTOR = 0;
  core.reset();
  resetPads(mcu, bootsel);
}

module.exports = { installChipModel, resetChip, VregAndChipReset };

/**
 * SSI helpers the emulator probes (chip_model_probe.js, flash_model_probe.js) share: drive the flash
 * through the emulated SSI in serial mode. `r`/`w` read and write the emulated memory map.
 */
'use strict';

const SSI = 0x18000000;
const IO_QSPI = 0x40018000;

function ssi(r, w) {
  /** The SSI in serial 8-bit mode, the QSPI pins on their SSI function. */
  function serialMode() {
    for (let pin = 0; pin < 6; pin++) w(IO_QSPI + 8 * pin + 4, 0); // FUNCSEL 0: the SSI
    w(SSI + 0x08, 0);
    w(SSI + 0x14, 6);
    w(SSI + 0x00, 7 << 16); // 8-bit frames, TMOD 0
    w(SSI + 0x10, 1);
    w(SSI + 0x08, 1);
  }
  /** One SSI-driven burst: write every byte, then look at SR (which ends the burst) and read back. */
  function burst(bytes) {
    for (const b of bytes) w(SSI + 0x60, b);
    const got = [];
    while (r(SSI + 0x28) & 0x08) got.push(r(SSI + 0x60));
    return got;
  }
  return { serialMode, burst };
}

module.exports = { SSI, IO_QSPI, ssi };

/* rom_model.S: a model RP2040 boot ROM of our own, for the emulator (rp2040js ships no ROM).
 *
 * Written from the RP2040 datasheet's description of the ROM (section 2.8), not from the Raspberry
 * Pi ROM: the header at 0x00 (vectors, the 'M','u',1 magic, 16-bit pointers to the public function
 * table, the data table and rom_table_lookup), a flash boot that loads boot2 into SRAM, checks its
 * CRC and enters it, and the public functions our firmware calls. It has no USB bootloader, no
 * BOOTSEL button or watchdog boot paths, no core 1 launch, no flash erase/program and none of the
 * ROM's memory or floating-point helpers (firmware/README.md lists what it leaves out).
 *
 * The Node bridge (emulator/bridge.js) learns about ROM events from `bkpt`: rp2040js hands the
 * immediate to the bridge synchronously and then goes on with the next instruction. The bridge
 * honours these codes only when the breakpoint's own pc lies in the ROM:
 *   ROM_TRACE      the first instruction of every public function: the bridge finds the function by
 *                  its pc in the function table and counts the call; at reset_usb_boot it reads r0
 *                  (gpio_activity_mask) and r1 (disable_interface_mask) and takes the chip to BOOTSEL
 *   ROM_BOOT2      the flash boot is about to enter boot2 (r0 = boot2's CRC)
 *   ROM_BAD_BOOT2  boot2's CRC does not match (r0 = computed, r1 = stored): a real RP2040 would stay
 *                  in the USB bootloader, so the bridge refuses to boot
 *   ROM_FAULT      an NMI or HardFault taken while VTOR still points at the ROM
 * Internal calls (the flash boot's) branch past the trace breakpoint, so the bridge counts only the
 * calls made from outside the ROM.
 */
    .syntax unified
    .cpu cortex-m0plus
    .thumb

    .equ ROM_TRACE, 0xB0
    .equ ROM_BOOT2, 0xB1
    .equ ROM_BAD_BOOT2, 0xB2
    .equ ROM_FAULT, 0xB3

    .equ ROM_VERSION, 3                 /* the byte at 0x13; the firmware does not read it */
    .equ STACK_TOP, 0x20042000          /* top of SCRATCH_Y, as the datasheet's ROM uses */
    .equ XIP_BASE, 0x10000000
    .equ BOOT2_SRAM, 0x20041F00         /* where boot2 runs (datasheet 2.8.1.3) */
    .equ BOOT2_SIZE, 256
    .equ BOOT2_CRC_OFFSET, 252
    .equ CRC_POLY, 0x04C11DB7           /* CRC-32/MPEG-2: MSB first, init all ones, no final XOR */

    .equ XIP_CTRL_BASE, 0x14000000
    .equ XIP_CTRL_FLUSH, 0x04
    .equ SSI_BASE, 0x18000000
    .equ SSI_CTRLR0, 0x00
    .equ SSI_CTRLR1, 0x04
    .equ SSI_SSIENR, 0x08
    .equ SSI_SER, 0x10
    .equ SSI_BAUDR, 0x14
    .equ SSI_SR, 0x28
    .equ SSI_DR0, 0x60
    .equ SSI_SPI_CTRLR0, 0xF4
    .equ SSI_SR_RFNE, 0x08
    .equ IO_QSPI_BASE, 0x40018000
    .equ IO_QSPI_SCLK_CTRL, 0x04        /* then SS, SD0..SD3 at steps of 8 */
    .equ IO_QSPI_SS_CTRL, 0x0C
    .equ OUTOVER_MASK, (3 << 8)
    .equ OUTOVER_LOW, (2 << 8)
    .equ OUTOVER_HIGH, (3 << 8)

    /* SSI settings. Serial commands: standard SPI, 8-bit frames, transmit-and-receive, SCK = clk_sys/6
     * (the divisor the datasheet gives for flash_exit_xip). XIP by 03h reads: 32-bit frames, EEPROM
     * read mode, an 8-bit instruction 03h and a 24-bit address. */
    .equ CMD_BAUDR, 6
    .equ CMD_CTRLR0, (7 << 16)
    .equ XIP_CTRLR0, (31 << 16) | (3 << 8)
    .equ XIP_SPI_CTRLR0, (0x03 << 24) | (2 << 8) | (6 << 2)

    .macro ROM_CODE a, b
    .hword \a | (\b << 8)
    .endm

    .section .text
/* --- header (datasheet 2.8.2): fixed offsets -------------------------------------------------- */
    .org 0x00
    .word STACK_TOP                     /* 0x00 initial SP */
    .word rom_reset + 1                 /* 0x04 reset (Thumb bit set) */
    .word rom_nmi + 1                   /* 0x08 NMI */
    .word rom_hardfault + 1             /* 0x0C HardFault */
    .byte 'M', 'u', 0x01                /* 0x10 magic: board_rom_present() reads these three bytes */
    .byte ROM_VERSION                   /* 0x13 version */
    .hword func_table                   /* 0x14 public function table */
    .hword data_table                   /* 0x16 public data table */
    .hword rom_table_lookup + 1         /* 0x18 rom_table_lookup(table, code), a Thumb function */

    .align 2
/* --- tables: (code, pointer) halfword pairs ended by code 0; function pointers carry the Thumb bit */
func_table:
    ROM_CODE 'I', 'F'
    .hword connect_internal_flash + 1
    ROM_CODE 'E', 'X'
    .hword flash_exit_xip + 1
    ROM_CODE 'F', 'C'
    .hword flash_flush_cache + 1
    ROM_CODE 'C', 'X'
    .hword flash_enter_cmd_xip + 1
    ROM_CODE 'U', 'B'
    .hword reset_usb_boot + 1
    .hword 0

data_table:
    ROM_CODE 'C', 'R'
    .hword rom_identity
    .hword 0

rom_identity:
    .asciz "rig model boot ROM (emulator only; not the Raspberry Pi ROM)"
    .align 1

/* --- void *rom_table_lookup(const uint16_t *table, uint32_t code) ------------------------------
 * Walks the (code, pointer) pairs; returns the pointer for `code`, or 0 when the table has none. */
rom_table_lookup:
    ldrh r2, [r0]                       /* this entry's code */
    cmp r2, #0
    beq 2f                              /* code 0 ends the table */
    cmp r2, r1
    beq 1f
    adds r0, #4                         /* next (code, pointer) pair */
    b rom_table_lookup
1:  ldrh r0, [r0, #2]                   /* found: the entry's pointer */
    bx lr
2:  movs r0, #0                         /* not found */
    bx lr

/* --- flash boot -------------------------------------------------------------------------------- */
rom_reset:
    /* The stack goes below the boot2 copy: from the initial SP at 0x20042000 it would grow into the
     * copy's last bytes (the CRC) during the check. boot2 is entered with this SP too. */
    ldr r0, =BOOT2_SRAM
    mov sp, r0
    /* Connect the SSI to the QSPI pads and take the flash out of any continuous-read mode, release
     * chip select, then read boot2 through XIP with plain 03h commands (XIP is on from here). */
    bl _connect_internal_flash
    bl _flash_exit_xip
    bl _flash_flush_cache
    bl _flash_enter_cmd_xip
    ldr r0, =XIP_BASE
    ldr r1, =BOOT2_SRAM
    movs r2, #(BOOT2_SIZE / 4)
copy_boot2:
    ldmia r0!, {r3}
    stmia r1!, {r3}
    subs r2, #1
    bne copy_boot2
    /* Check the CRC the build stamped at offset 252 against the first 252 bytes of the copy. */
    ldr r0, =BOOT2_SRAM
    movs r1, #BOOT2_CRC_OFFSET
    bl crc32_mpeg2
    ldr r1, =BOOT2_SRAM + BOOT2_CRC_OFFSET
    ldr r1, [r1]
    cmp r0, r1
    bne bad_boot2
    bkpt #ROM_BOOT2                     /* r0 = the CRC: the bridge records that boot2 is entered */
    /* Enter boot2 (Thumb) with lr = 0: our boot2 then vectors into the image at 0x10000100 itself;
     * called with lr != 0 it returns instead. */
    movs r1, #0
    mov lr, r1
    ldr r0, =BOOT2_SRAM + 1
    bx r0

bad_boot2:
    bkpt #ROM_BAD_BOOT2                 /* r0 = computed, r1 = stored; the bridge stops the chip */
    b bad_boot2

/* uint32_t crc32_mpeg2(const uint8_t *data r0, uint32_t len r1): CRC-32/MPEG-2 a byte at a time
 * from crc_table (the check value of "123456789" is 0x0376E6E7). Table-driven because the check runs
 * while the emulator is still cold: bit by bit it cost about 12k instructions, 20 ms of start-up.
 * Clobbers r1-r3. */
crc32_mpeg2:
    push {r4, r5, lr}
    movs r2, #0
    mvns r2, r2                         /* crc = 0xFFFFFFFF */
    ldr r4, =crc_table
crc_byte:
    ldrb r3, [r0]
    adds r0, #1
    lsrs r5, r2, #24
    eors r3, r5                         /* index = (crc >> 24) ^ byte */
    lsls r3, r3, #2
    ldr r3, [r4, r3]
    lsls r2, r2, #8
    eors r2, r3                         /* crc = (crc << 8) ^ crc_table[index] */
    subs r1, #1
    bne crc_byte
    mov r0, r2
    pop {r4, r5, pc}

rom_nmi:
rom_hardfault:
    bkpt #ROM_FAULT
    b rom_hardfault

/* --- public functions (datasheet 2.8.3.1) ---------------------------------------------------------
 * Each starts with the trace breakpoint; the flash boot calls the underscore labels after it. */

/* connect_internal_flash: every QSPI pin (SCLK, SS, SD0-SD3) to function 0 (the XIP SSI) with no
 * overrides, so the SSI drives the flash again. (The real ROM also resets the QSPI pad controls.) */
connect_internal_flash:
    bkpt #ROM_TRACE
_connect_internal_flash:
    ldr r0, =IO_QSPI_BASE + IO_QSPI_SCLK_CTRL
    movs r1, #0
    movs r2, #6
1:  str r1, [r0]                        /* FUNCSEL 0, every override "normal" */
    adds r0, #8
    subs r2, #1
    bne 1b
    bx lr

/* flash_exit_xip: the SSI to serial command mode (8-bit frames, SCK = clk_sys/6), then the XIP exit
 * sequence: with chip select forced low, 0xFF bytes take a flash in continuous-read mode (dual or
 * quad) back to command mode; chip select is left forced high, as the datasheet describes, until
 * flash_flush_cache releases it. (The real ROM drives all four IO lines high; this model clocks
 * 0xFF on the serial line, which a chip in serial mode takes as the "mode bit reset" command.) */
/* SSIENR (r3 = SSI_BASE): the SSI's other registers may be written only while it is 0 (DW_apb_ssi). */
    .macro SSI_ENABLE on
    movs r1, #\on
    str r1, [r3, #SSI_SSIENR]
    .endm

flash_exit_xip:
    bkpt #ROM_TRACE
_flash_exit_xip:
    push {r4, lr}
    ldr r3, =SSI_BASE
    SSI_ENABLE 0                        /* disabled: XIP stops here */
    movs r1, #CMD_BAUDR
    str r1, [r3, #SSI_BAUDR]
    ldr r1, =CMD_CTRLR0
    str r1, [r3, #SSI_CTRLR0]
    movs r1, #1
    str r1, [r3, #SSI_SER]              /* slave select 0: the flash */
    SSI_ENABLE 1
    ldr r2, =IO_QSPI_BASE + IO_QSPI_SS_CTRL
    ldr r4, =OUTOVER_MASK
    ldr r0, [r2]
    bics r0, r4
    ldr r1, =OUTOVER_LOW
    orrs r0, r1
    str r0, [r2]                        /* chip select low */
    movs r0, #4                         /* four 0xFF bytes: 32 clocks, covering quad and dual modes */
1:  movs r1, #0xFF
    str r1, [r3, #SSI_DR0]
2:  ldr r1, [r3, #SSI_SR]
    movs r4, #SSI_SR_RFNE
    tst r1, r4
    beq 2b                              /* wait for the byte clocked back */
    ldr r1, [r3, #SSI_DR0]              /* and drop it */
    subs r0, #1
    bne 1b
    ldr r4, =OUTOVER_MASK
    ldr r0, [r2]
    orrs r0, r4                         /* OUTOVER_HIGH is both bits set */
    str r0, [r2]                        /* chip select high */
    pop {r4, pc}

/* flash_flush_cache: flush the XIP cache (the write starts it, the read waits for it), then release
 * the chip-select override so the SSI drives chip select again. */
flash_flush_cache:
    bkpt #ROM_TRACE
_flash_flush_cache:
    ldr r0, =XIP_CTRL_BASE
    movs r1, #1
    str r1, [r0, #XIP_CTRL_FLUSH]
    ldr r1, [r0, #XIP_CTRL_FLUSH]
    ldr r0, =IO_QSPI_BASE + IO_QSPI_SS_CTRL
    ldr r1, [r0]
    ldr r2, =OUTOVER_MASK
    bics r1, r2                         /* OUTOVER normal */
    str r1, [r0]
    bx lr

/* flash_enter_cmd_xip: XIP by standard serial 03h reads; the flash stays in command mode, so it
 * still takes other commands. The clock divisor is left as flash_exit_xip set it. */
flash_enter_cmd_xip:
    bkpt #ROM_TRACE
_flash_enter_cmd_xip:
    ldr r3, =SSI_BASE
    SSI_ENABLE 0
    ldr r1, =XIP_CTRLR0
    str r1, [r3, #SSI_CTRLR0]
    movs r1, #0
    str r1, [r3, #SSI_CTRLR1]           /* one 32-bit frame per XIP read */
    ldr r1, =XIP_SPI_CTRLR0
    movs r0, #SSI_SPI_CTRLR0
    str r1, [r3, r0]
    SSI_ENABLE 1                        /* XIP works again from here */
    bx lr

/* reset_usb_boot(gpio_activity_mask r0, disable_interface_mask r1): the bridge takes the chip into
 * BOOTSEL at the trace breakpoint and runs no more code. Like the real function it never returns. */
reset_usb_boot:
    bkpt #ROM_TRACE
1:  b 1b

    .ltorg

/* crc_table[i] = CRC-32/MPEG-2 register after shifting in byte i alone (poly 0x04C11DB7, MSB first),
 * computed here by the assembler. */
    .macro CRC_ENTRY i
    .set crc_value, (\i << 24)
    .rept 8
    .set crc_value, ((crc_value << 1) ^ (((crc_value >> 31) & 1) * CRC_POLY)) & 0xFFFFFFFF
    .endr
    .word crc_value
    .endm

    .align 2
crc_table:
    .set crc_index, 0
    .rept 256
    CRC_ENTRY crc_index
    .set crc_index, crc_index + 1
    .endr

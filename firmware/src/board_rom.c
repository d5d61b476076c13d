/* board_rom.c: boot-ROM services: the USB bootloader reboot and the flash unique ID.
 * The ROM's function table (datasheet 2.8.3) is looked up by two-letter codes, once, at boot. Every
 * RP2040 has the ROM and the emulator runs our model of it (emulator/rom/rom_model.S), so there is
 * no fallback any more: a ROM without the magic or without a function we call stops the firmware at
 * `bkpt #1` before USB starts (the device never enumerates; the emulator bridge reports the
 * breakpoint), instead of quietly serving a made-up serial number. */
#include <stddef.h>

#include "board.h"
#include "hw_regs.h"

#define ROM_CODE(a, b) ((uint32_t)(a) | ((uint32_t)(b) << 8))

typedef void *(*rom_table_lookup_fn)(const uint16_t *table, uint32_t code);
typedef void (*rom_void_fn)(void);
typedef void (*rom_reset_usb_boot_fn)(uint32_t gpio_activity_mask, uint32_t disable_interface_mask);

static uint8_t unique_id[8];
static rom_void_fn rom_connect_internal_flash;
static rom_void_fn rom_flash_exit_xip;
static rom_void_fn rom_flash_flush_cache;
static rom_reset_usb_boot_fn rom_reset_usb_boot;

/* ROM addresses are near zero, which GCC 12 treats as a null-pointer offset (-Warray-bounds):
 * hide the constant from the optimiser. */
static inline uintptr_t rom_addr(uintptr_t a) {
    __asm__("" : "+r"(a));
    return a;
}

static bool rom_present(void) {
    /* 0x10: 'M', 'u', 1 (datasheet 2.8.2). Read bytewise through a volatile pointer. */
    const volatile uint8_t *rom = (const volatile uint8_t *)rom_addr(0x10u);
    return rom[0] == 'M' && rom[1] == 'u' && rom[2] == 1u;
}

static void *rom_func(uint32_t code) {
    const volatile uint16_t *half = (const volatile uint16_t *)rom_addr(0x14u);
    const uint16_t *func_table = (const uint16_t *)(uintptr_t)half[0];
    rom_table_lookup_fn lookup = (rom_table_lookup_fn)(uintptr_t)half[2]; /* 0x18 */
    void *fn = lookup(func_table, code);
    if (fn == NULL) {
        __asm__ volatile("bkpt #1"); /* a ROM without a function we call: see the file comment */
    }
    return fn;
}

void board_rom_init(void) {
    if (!rom_present()) {
        __asm__ volatile("bkpt #1");
    }
    rom_connect_internal_flash = (rom_void_fn)rom_func(ROM_CODE('I', 'F'));
    rom_flash_exit_xip = (rom_void_fn)rom_func(ROM_CODE('E', 'X'));
    rom_flash_flush_cache = (rom_void_fn)rom_func(ROM_CODE('F', 'C'));
    rom_reset_usb_boot = (rom_reset_usb_boot_fn)rom_func(ROM_CODE('U', 'B'));
}

void board_reboot_bootloader(void) {
    /* No activity LED, no interfaces disabled: the bootloader offers mass storage and PICOBOOT. */
    rom_reset_usb_boot(0u, 0u);
}

/* Flash access with XIP off: everything below runs from SRAM (.data is copied there at boot). */
#define RAMFUNC __attribute__((section(".ramfunc"), noinline))

static uint8_t boot2_copy[256] __attribute__((aligned(4)));

RAMFUNC static void ruid_read_xip_off(rom_void_fn connect, rom_void_fn exit_xip, rom_void_fn flush,
                                      uint8_t out[8]) {
    connect();
    exit_xip();
    /* Chip select low by pad override, then clock out 0x4B, 4 dummy bytes, 8 ID bytes (SPI mode,
     * 8-bit frames as flash_exit_xip leaves the SSI), one byte in per byte out. */
    uint32_t ss = REG32(IO_QSPI_SS_CTRL) & ~(3u << IO_QSPI_OUTOVER_SHIFT);
    REG32(IO_QSPI_SS_CTRL) = ss | (IO_QSPI_OUTOVER_LOW << IO_QSPI_OUTOVER_SHIFT);
    for (uint32_t i = 0; i < 13u; i++) {
        while ((REG32(SSI_SR) & SSI_SR_TFNF) == 0u) {
        }
        REG32(SSI_DR0) = (i == 0u) ? 0x4Bu : 0u;
        while ((REG32(SSI_SR) & SSI_SR_RFNE) == 0u) {
        }
        uint32_t byte = REG32(SSI_DR0);
        if (i >= 5u) {
            out[i - 5u] = (uint8_t)byte;
        }
    }
    REG32(IO_QSPI_SS_CTRL) = ss | (IO_QSPI_OUTOVER_HIGH << IO_QSPI_OUTOVER_SHIFT);
    REG32(IO_QSPI_SS_CTRL) = ss;
    flush();
    /* Our boot2 returns to its caller when called with a non-zero lr: it restores XIP. */
    ((rom_void_fn)(uintptr_t)((uintptr_t)boot2_copy + 1u))();
}

void board_unique_id_init(void) {
    const volatile uint8_t *boot2 = (const volatile uint8_t *)(uintptr_t)XIP_BASE;
    for (size_t i = 0; i < sizeof boot2_copy; i++) {
        boot2_copy[i] = boot2[i];
    }
    uint32_t s = hw_irq_save();
    ruid_read_xip_off(rom_connect_internal_flash, rom_flash_exit_xip, rom_flash_flush_cache, unique_id);
    hw_irq_restore(s);
}

const uint8_t *board_unique_id(void) { return unique_id; }

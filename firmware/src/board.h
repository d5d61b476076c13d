/* board.h: platform layer: resets, clocks, the microsecond timer and its alarm, reboot paths. */
#ifndef BOARD_H
#define BOARD_H

#include <stdbool.h>
#include <stdint.h>

#define BOARD_XOSC_HZ 12000000u
#define BOARD_CLK_SYS_HZ 125000000u
#define BOARD_CLK_USB_HZ 48000000u

/* Bring up XOSC, PLL_SYS (125 MHz), PLL_USB (48 MHz), clk_ref/sys/peri/usb and the 1 us tick. */
void board_clocks_init(void);
/* Take the given RESETS bits out of reset and wait until they report done. */
void board_unreset(uint32_t bits);
/* Put the given RESETS bits into reset. */
void board_reset(uint32_t bits);

/* Microseconds since boot from the TIMER peripheral (64-bit, never wraps in practice). */
uint64_t board_time_us(void);
/* Call `board_alarm_fired` from the TIMER_IRQ_0 handler at (or soon after) `at_us`. */
void board_alarm_set(uint64_t at_us);
void board_alarm_cancel(void);
/* Implemented by the application: runs in interrupt context when the alarm fires. */
void board_alarm_fired(void);

/* Find the boot ROM's functions (stops at bkpt #1 when the ROM or a function is missing). */
void board_rom_init(void);
/* Reboot into the ROM's USB bootloader (BOOTSEL); does not return. */
void board_reboot_bootloader(void);

/* Read the flash chip's 64-bit unique ID (RUID 0x4B) through the ROM's flash helpers, with XIP
 * off, from SRAM; call after board_rom_init. */
void board_unique_id_init(void);
const uint8_t *board_unique_id(void);

#endif

/* board_clocks.c: resets and the clock tree: 12 MHz XOSC, PLL_SYS 125 MHz, PLL_USB 48 MHz
 * (datasheet 2.15-2.18). rp2040js accepts and ignores these writes, so the code runs unchanged. */
#include "board.h"
#include "hw_regs.h"

void board_reset(uint32_t bits) { HW_SET(RESETS_RESET) = bits; }

void board_unreset(uint32_t bits) {
    HW_CLR(RESETS_RESET) = bits;
    while ((REG32(RESETS_RESET_DONE) & bits) != bits) {
    }
}

/* VCO = 12 MHz / refdiv * fbdiv, out = VCO / postdiv1 / postdiv2 (datasheet 2.18.2). */
static void pll_start(uint32_t base, uint32_t reset_bit, uint32_t fbdiv, uint32_t post1, uint32_t post2) {
    board_reset(reset_bit);
    board_unreset(reset_bit);
    REG32(PLL_CS(base)) = 1u; /* refdiv 1 */
    REG32(PLL_FBDIV_INT(base)) = fbdiv;
    HW_CLR(PLL_PWR(base)) = PLL_PWR_PD | PLL_PWR_VCOPD;
    while ((REG32(PLL_CS(base)) & PLL_CS_LOCK) == 0u) {
    }
    REG32(PLL_PRIM(base)) = (post1 << 16) | (post2 << 12);
    HW_CLR(PLL_PWR(base)) = PLL_PWR_POSTDIVPD;
}

void board_clocks_init(void) {
    /* Disable the resus circuit and run clk_sys and clk_ref from their glitchless defaults. */
    REG32(CLK_SYS_RESUS_CTRL) = 0u;
    HW_CLR(CLK_SYS_CTRL) = 1u; /* SRC = clk_ref */
    while ((REG32(CLK_SYS_SELECTED) & 1u) == 0u) {
    }
    HW_CLR(CLK_REF_CTRL) = 3u; /* SRC = rosc */
    while ((REG32(CLK_REF_SELECTED) & 1u) == 0u) {
    }

    /* XOSC: 1-15 MHz range; startup delay = 1 ms of 12 MHz in units of 256 cycles. */
    REG32(XOSC_CTRL) = XOSC_CTRL_FREQ_1_15MHZ;
    REG32(XOSC_STARTUP) = ((BOARD_XOSC_HZ / 1000u) + 255u) / 256u;
    HW_SET(XOSC_CTRL) = XOSC_CTRL_ENABLE;
    while ((REG32(XOSC_STATUS) & XOSC_STATUS_STABLE) == 0u) {
    }

    pll_start(PLL_SYS_BASE, RESET_PLL_SYS, 125u, 6u, 2u); /* 1500 MHz / 6 / 2 = 125 MHz */
    pll_start(PLL_USB_BASE, RESET_PLL_USB, 100u, 5u, 5u); /* 1200 MHz / 5 / 5 = 48 MHz */

    /* clk_ref = XOSC / 1 */
    REG32(CLK_REF_DIV) = CLK_DIV_INT(1);
    REG32(CLK_REF_CTRL) = 2u; /* SRC = xosc_clksrc */
    while ((REG32(CLK_REF_SELECTED) & (1u << 2)) == 0u) {
    }
    /* clk_sys = pll_sys through the aux mux (AUXSRC 0), glitchless switch to aux (SRC 1). */
    REG32(CLK_SYS_DIV) = CLK_DIV_INT(1);
    REG32(CLK_SYS_CTRL) = 0u << 5;
    REG32(CLK_SYS_CTRL) = (0u << 5) | 1u;
    while ((REG32(CLK_SYS_SELECTED) & (1u << 1)) == 0u) {
    }
    /* clk_peri = clk_sys (AUXSRC 0); clk_usb = pll_usb (AUXSRC 0), divider 1. */
    REG32(CLK_PERI_CTRL) = CLK_CTRL_ENABLE | (0u << 5);
    REG32(CLK_USB_DIV) = CLK_DIV_INT(1);
    REG32(CLK_USB_CTRL) = CLK_CTRL_ENABLE | (0u << 5);

    /* The TIMER counts watchdog ticks: one per microsecond from the 12 MHz clk_ref. */
    REG32(WATCHDOG_TICK) = WATCHDOG_TICK_ENABLE | (BOARD_XOSC_HZ / 1000000u);
}

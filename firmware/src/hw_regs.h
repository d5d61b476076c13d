/* hw_regs.h: RP2040 register addresses and bits this firmware uses (from the RP2040 datasheet).
 * Only what the firmware touches; names follow the datasheet's register tables. */
#ifndef HW_REGS_H
#define HW_REGS_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
/* Atomic register aliases (datasheet 2.1.2): +0x1000 XOR, +0x2000 SET, +0x3000 CLEAR. */
#define HW_SET(addr) REG32((uintptr_t)(addr) + 0x2000u)
#define HW_CLR(addr) REG32((uintptr_t)(addr) + 0x3000u)

/* --- memory map --- */
#define ROM_BASE 0x00000000u
#define XIP_BASE 0x10000000u
#define SRAM_BASE 0x20000000u
#define SYSINFO_BASE 0x40000000u
#define CLOCKS_BASE 0x40008000u
#define RESETS_BASE 0x4000C000u
#define IO_QSPI_BASE 0x40018000u
#define XOSC_BASE 0x40024000u
#define PLL_SYS_BASE 0x40028000u
#define PLL_USB_BASE 0x4002C000u
#define TIMER_BASE 0x40054000u
#define WATCHDOG_BASE 0x40058000u
#define XIP_SSI_BASE 0x18000000u
#define XIP_CTRL_BASE 0x14000000u
#define DMA_BASE 0x50000000u
#define USBCTRL_DPRAM_BASE 0x50100000u
#define USBCTRL_REGS_BASE 0x50110000u
#define PPB_BASE 0xE0000000u

/* --- RESETS --- */
#define RESETS_RESET (RESETS_BASE + 0x0u)
#define RESETS_RESET_DONE (RESETS_BASE + 0x8u)
#define RESET_DMA (1u << 2)
#define RESET_IO_QSPI (1u << 6)
#define RESET_PADS_QSPI (1u << 9)
#define RESET_PLL_SYS (1u << 12)
#define RESET_PLL_USB (1u << 13)
#define RESET_TIMER (1u << 21)
#define RESET_USBCTRL (1u << 24)

/* --- CLOCKS: each clock has CTRL, DIV, SELECTED at +0, +4, +8 --- */
#define CLK_REF_CTRL (CLOCKS_BASE + 0x30u)
#define CLK_REF_DIV (CLOCKS_BASE + 0x34u)
#define CLK_REF_SELECTED (CLOCKS_BASE + 0x38u)
#define CLK_SYS_CTRL (CLOCKS_BASE + 0x3Cu)
#define CLK_SYS_DIV (CLOCKS_BASE + 0x40u)
#define CLK_SYS_SELECTED (CLOCKS_BASE + 0x44u)
#define CLK_PERI_CTRL (CLOCKS_BASE + 0x48u)
#define CLK_USB_CTRL (CLOCKS_BASE + 0x54u)
#define CLK_USB_DIV (CLOCKS_BASE + 0x58u)
#define CLK_SYS_RESUS_CTRL (CLOCKS_BASE + 0x78u)
#define CLK_CTRL_ENABLE (1u << 11)
#define CLK_DIV_INT(n) ((uint32_t)(n) << 8)

/* --- XOSC --- */
#define XOSC_CTRL (XOSC_BASE + 0x0u)
#define XOSC_STATUS (XOSC_BASE + 0x4u)
#define XOSC_STARTUP (XOSC_BASE + 0xCu)
#define XOSC_CTRL_FREQ_1_15MHZ 0xAA0u
#define XOSC_CTRL_ENABLE (0xFABu << 12)
#define XOSC_STATUS_STABLE (1u << 31)

/* --- PLL (same layout for SYS and USB) --- */
#define PLL_CS(base) ((base) + 0x0u)
#define PLL_PWR(base) ((base) + 0x4u)
#define PLL_FBDIV_INT(base) ((base) + 0x8u)
#define PLL_PRIM(base) ((base) + 0xCu)
#define PLL_CS_LOCK (1u << 31)
#define PLL_PWR_PD (1u << 0)
#define PLL_PWR_POSTDIVPD (1u << 3)
#define PLL_PWR_VCOPD (1u << 5)

/* --- WATCHDOG (its tick drives the TIMER) --- */
#define WATCHDOG_CTRL (WATCHDOG_BASE + 0x00u)
#define WATCHDOG_TICK (WATCHDOG_BASE + 0x2Cu)
#define WATCHDOG_TICK_ENABLE (1u << 9)

/* --- TIMER --- */
#define TIMER_TIMEHR (TIMER_BASE + 0x08u)
#define TIMER_TIMELR (TIMER_BASE + 0x0Cu)
#define TIMER_ALARM0 (TIMER_BASE + 0x10u)
#define TIMER_ARMED (TIMER_BASE + 0x20u)
#define TIMER_TIMERAWH (TIMER_BASE + 0x24u)
#define TIMER_TIMERAWL (TIMER_BASE + 0x28u)
#define TIMER_INTR (TIMER_BASE + 0x34u)
#define TIMER_INTE (TIMER_BASE + 0x38u)
#define TIMER_INTS (TIMER_BASE + 0x40u)
#define IRQ_TIMER_0 0u
#define IRQ_USBCTRL 5u

/* --- DMA: channel n registers at DMA_BASE + 0x40 * n --- */
#define DMA_CH_READ_ADDR(n) (DMA_BASE + 0x40u * (n) + 0x00u)
#define DMA_CH_WRITE_ADDR(n) (DMA_BASE + 0x40u * (n) + 0x04u)
#define DMA_CH_TRANS_COUNT(n) (DMA_BASE + 0x40u * (n) + 0x08u)
#define DMA_CH_CTRL_TRIG(n) (DMA_BASE + 0x40u * (n) + 0x0Cu)
#define DMA_CTRL_EN (1u << 0)
#define DMA_CTRL_DATA_SIZE_WORD (2u << 2)
#define DMA_CTRL_DATA_SIZE_BYTE (0u << 2)
#define DMA_CTRL_INCR_READ (1u << 4)
#define DMA_CTRL_INCR_WRITE (1u << 5)
#define DMA_CTRL_CHAIN_TO(n) ((uint32_t)(n) << 11)
#define DMA_CTRL_TREQ_PERMANENT (0x3Fu << 15)
#define DMA_CTRL_IRQ_QUIET (1u << 21)
#define DMA_CTRL_BUSY (1u << 24)

/* --- USB controller --- */
#define USB_ADDR_ENDP (USBCTRL_REGS_BASE + 0x00u)
#define USB_MAIN_CTRL (USBCTRL_REGS_BASE + 0x40u)
#define USB_SIE_CTRL (USBCTRL_REGS_BASE + 0x4Cu)
#define USB_SIE_STATUS (USBCTRL_REGS_BASE + 0x50u)
#define USB_BUFF_STATUS (USBCTRL_REGS_BASE + 0x58u)
#define USB_BUFF_CPU_SHOULD_HANDLE (USBCTRL_REGS_BASE + 0x5Cu)
#define USB_EP_ABORT (USBCTRL_REGS_BASE + 0x60u)
#define USB_EP_ABORT_DONE (USBCTRL_REGS_BASE + 0x64u)
#define USB_EP_STALL_ARM (USBCTRL_REGS_BASE + 0x68u)
#define USB_USB_MUXING (USBCTRL_REGS_BASE + 0x74u)
#define USB_USB_PWR (USBCTRL_REGS_BASE + 0x78u)
#define USB_INTR (USBCTRL_REGS_BASE + 0x8Cu)
#define USB_INTE (USBCTRL_REGS_BASE + 0x90u)
#define USB_INTS (USBCTRL_REGS_BASE + 0x98u)
#define USB_MAIN_CTRL_CONTROLLER_EN (1u << 0)
#define USB_SIE_CTRL_EP0_DOUBLE_BUF (1u << 30)
#define USB_SIE_CTRL_EP0_INT_1BUF (1u << 29)
#define USB_SIE_CTRL_EP0_INT_2BUF (1u << 28)
#define USB_SIE_CTRL_PULLUP_EN (1u << 16)
#define USB_SIE_STATUS_SETUP_REC (1u << 17)
#define USB_SIE_STATUS_BUS_RESET (1u << 19)
#define USB_MUXING_TO_PHY (1u << 0)
#define USB_MUXING_SOFTCON (1u << 3)
#define USB_PWR_VBUS_DETECT (1u << 2)
#define USB_PWR_VBUS_DETECT_OVERRIDE_EN (1u << 3)
#define USB_INT_BUFF_STATUS (1u << 4)
#define USB_INT_BUS_RESET (1u << 12)
#define USB_INT_SETUP_REQ (1u << 16)
/* DPRAM: endpoint control words for EP1..15, buffer control words for EP0..15. */
#define USB_DPRAM_SETUP (USBCTRL_DPRAM_BASE + 0x0u)
#define USB_DPRAM_EP_CTRL(ep, out) (USBCTRL_DPRAM_BASE + 0x8u * (ep) + ((out) ? 4u : 0u))
#define USB_DPRAM_BUF_CTRL(ep, out) (USBCTRL_DPRAM_BASE + 0x80u + 0x8u * (ep) + ((out) ? 4u : 0u))
#define USB_DPRAM_EP0_BUF (USBCTRL_DPRAM_BASE + 0x100u)
#define USB_DPRAM_SIZE 4096u
#define USB_EP_CTRL_ENABLE (1u << 31)
#define USB_EP_CTRL_INT_1BUF (1u << 29)
#define USB_EP_CTRL_INT_2BUF (1u << 28)
#define USB_EP_CTRL_TYPE_SHIFT 26u
#define USB_BUF_FULL (1u << 15)
#define USB_BUF_LAST (1u << 14)
#define USB_BUF_DATA1 (1u << 13)
#define USB_BUF_STALL (1u << 11)
#define USB_BUF_AVAILABLE (1u << 10)
#define USB_BUF_LEN_MASK 0x3FFu

/* --- XIP SSI and QSPI pads (flash unique ID) --- */
#define SSI_CTRLR0 (XIP_SSI_BASE + 0x00u)
#define SSI_CTRLR1 (XIP_SSI_BASE + 0x04u)
#define SSI_SSIENR (XIP_SSI_BASE + 0x08u)
#define SSI_BAUDR (XIP_SSI_BASE + 0x14u)
#define SSI_SR (XIP_SSI_BASE + 0x28u)
#define SSI_DR0 (XIP_SSI_BASE + 0x60u)
#define SSI_SPI_CTRLR0 (XIP_SSI_BASE + 0xF4u)
#define SSI_SR_TFNF (1u << 1)
#define SSI_SR_RFNE (1u << 3)
#define IO_QSPI_SS_CTRL (IO_QSPI_BASE + 0x0Cu)
#define IO_QSPI_OUTOVER_SHIFT 8u
#define IO_QSPI_OUTOVER_LOW 2u
#define IO_QSPI_OUTOVER_HIGH 3u

/* --- Cortex-M0+ system registers --- */
#define NVIC_ISER (PPB_BASE + 0xE100u)
#define NVIC_ICER (PPB_BASE + 0xE180u)
#define NVIC_ICPR (PPB_BASE + 0xE280u)
#define SCB_VTOR (PPB_BASE + 0xED08u)
#define SCB_AIRCR (PPB_BASE + 0xED0Cu)

static inline void hw_irq_enable(uint32_t irq) {
    REG32(NVIC_ICPR) = 1u << irq;
    REG32(NVIC_ISER) = 1u << irq;
}
static inline void hw_irq_disable(uint32_t irq) { REG32(NVIC_ICER) = 1u << irq; }
static inline uint32_t hw_irq_save(void) {
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n cpsid i" : "=r"(primask)::"memory");
    return primask;
}
static inline void hw_irq_restore(uint32_t primask) {
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
}
static inline void hw_wfi(void) { __asm__ volatile("wfi" ::: "memory"); }

#endif

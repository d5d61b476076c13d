/* dcd_rp2040.c: the RP2040 USB controller in device mode (datasheet 4.1). */
#include "dcd.h"

#include "board.h"
#include "hw_regs.h"

#define EP_COUNT 16u
/* DPRAM data buffers: 0x100 for EP0 (shared by both directions), then 64 bytes per endpoint
 * direction from 0x180, in the order the endpoints are opened. */
#define DPRAM_DATA_START 0x180u

static uint16_t buf_offset[EP_COUNT][2];
static uint8_t next_data1[EP_COUNT][2];
static uint8_t armed[EP_COUNT][2];
static uint8_t stalled[EP_COUNT][2];
static uint16_t next_free;

static inline unsigned dir_index(uint8_t ep_addr) { return USB_EP_IS_IN(ep_addr) ? 0u : 1u; }

void dcd_init(void) {
    board_reset(RESET_USBCTRL);
    board_unreset(RESET_USBCTRL);
    volatile uint32_t *dpram = (volatile uint32_t *)(uintptr_t)USBCTRL_DPRAM_BASE;
    for (uint32_t i = 0; i < USB_DPRAM_SIZE / 4u; i++) {
        dpram[i] = 0u;
    }
    for (unsigned ep = 0; ep < EP_COUNT; ep++) {
        for (unsigned d = 0; d < 2u; d++) {
            buf_offset[ep][d] = 0x100u;
            next_data1[ep][d] = 0u;
            armed[ep][d] = 0u;
            stalled[ep][d] = 0u;
        }
    }
    next_free = DPRAM_DATA_START;
    REG32(USB_USB_MUXING) = USB_MUXING_TO_PHY | USB_MUXING_SOFTCON;
    /* No VBUS pin on the Pico's USB: force VBUS detected (rp2040js swaps these two bits). */
    REG32(USB_USB_PWR) = USB_PWR_VBUS_DETECT | USB_PWR_VBUS_DETECT_OVERRIDE_EN;
    REG32(USB_MAIN_CTRL) = USB_MAIN_CTRL_CONTROLLER_EN;
    REG32(USB_SIE_CTRL) = USB_SIE_CTRL_EP0_INT_1BUF;
    REG32(USB_INTE) = USB_INT_BUFF_STATUS | USB_INT_BUS_RESET | USB_INT_SETUP_REQ;
    hw_irq_enable(IRQ_USBCTRL);
    HW_SET(USB_SIE_CTRL) = USB_SIE_CTRL_PULLUP_EN;
}

void dcd_set_address(uint8_t address) { REG32(USB_ADDR_ENDP) = address & 0x7Fu; }

void dcd_ep_open(uint8_t ep_addr, uint8_t type) {
    uint8_t ep = USB_EP_NUM(ep_addr);
    unsigned d = dir_index(ep_addr);
    if (ep == 0u) {
        return;
    }
    if (buf_offset[ep][d] == 0x100u) {
        buf_offset[ep][d] = next_free;
        next_free = (uint16_t)(next_free + 64u);
    }
    next_data1[ep][d] = 0u;
    armed[ep][d] = 0u;
    stalled[ep][d] = 0u;
    REG32(USB_DPRAM_BUF_CTRL(ep, d)) = 0u;
    REG32(USB_DPRAM_EP_CTRL(ep, d)) = USB_EP_CTRL_ENABLE | USB_EP_CTRL_INT_1BUF |
                                      ((uint32_t)type << USB_EP_CTRL_TYPE_SHIFT) | buf_offset[ep][d];
}

void dcd_ep_close_all(void) {
    for (unsigned ep = 1; ep < EP_COUNT; ep++) {
        for (unsigned d = 0; d < 2u; d++) {
            REG32(USB_DPRAM_EP_CTRL(ep, d)) = 0u;
            REG32(USB_DPRAM_BUF_CTRL(ep, d)) = 0u;
            armed[ep][d] = 0u;
            stalled[ep][d] = 0u;
        }
    }
}

uint8_t *dcd_ep_buffer(uint8_t ep_addr) {
    return (uint8_t *)(uintptr_t)(USBCTRL_DPRAM_BASE + buf_offset[USB_EP_NUM(ep_addr)][dir_index(ep_addr)]);
}

static void arm(uint8_t ep_addr, uint16_t len) {
    uint8_t ep = USB_EP_NUM(ep_addr);
    unsigned d = dir_index(ep_addr);
    uint32_t value = (uint32_t)len & USB_BUF_LEN_MASK;
    if (next_data1[ep][d]) {
        value |= USB_BUF_DATA1;
    }
    if (d == 0u) {
        value |= USB_BUF_FULL;
    }
    next_data1[ep][d] ^= 1u;
    armed[ep][d] = 1u;
    stalled[ep][d] = 0u;
    /* Datasheet 4.1.2.5.1: write everything but AVAILABLE, let clk_usb catch up, then AVAILABLE. */
    REG32(USB_DPRAM_BUF_CTRL(ep, d)) = value;
    __asm__ volatile("nop\n nop\n nop\n nop\n nop\n nop\n nop\n nop\n nop\n nop\n nop\n nop");
    REG32(USB_DPRAM_BUF_CTRL(ep, d)) = value | USB_BUF_AVAILABLE;
}

void dcd_ep_arm_in(uint8_t ep_addr, uint16_t len) { arm((uint8_t)(ep_addr | 0x80u), len); }

void dcd_ep_arm_out(uint8_t ep_addr, uint16_t len) { arm((uint8_t)(ep_addr & 0x7Fu), len); }

bool dcd_ep_armed(uint8_t ep_addr) { return armed[USB_EP_NUM(ep_addr)][dir_index(ep_addr)] != 0u; }

void dcd_ep_stall(uint8_t ep_addr) {
    uint8_t ep = USB_EP_NUM(ep_addr);
    unsigned d = dir_index(ep_addr);
    stalled[ep][d] = 1u;
    armed[ep][d] = 0u;
    REG32(USB_DPRAM_BUF_CTRL(ep, d)) = USB_BUF_STALL;
}

void dcd_ep_clear_stall(uint8_t ep_addr) {
    uint8_t ep = USB_EP_NUM(ep_addr);
    unsigned d = dir_index(ep_addr);
    stalled[ep][d] = 0u;
    next_data1[ep][d] = 0u;
    if (!armed[ep][d]) {
        REG32(USB_DPRAM_BUF_CTRL(ep, d)) = 0u;
    }
}

bool dcd_ep_stalled(uint8_t ep_addr) { return stalled[USB_EP_NUM(ep_addr)][dir_index(ep_addr)] != 0u; }

void dcd_ep0_stall(void) {
    REG32(USB_EP_STALL_ARM) = 3u; /* EP0_IN | EP0_OUT; the controller clears these on SETUP */
    armed[0][0] = 0u;
    armed[0][1] = 0u;
    REG32(USB_DPRAM_BUF_CTRL(0, 0)) = USB_BUF_STALL;
    REG32(USB_DPRAM_BUF_CTRL(0, 1)) = USB_BUF_STALL;
}

void isr_usbctrl(void) {
    for (;;) {
        uint32_t ints = REG32(USB_INTS);
        if ((ints & (USB_INT_BUS_RESET | USB_INT_BUFF_STATUS | USB_INT_SETUP_REQ)) == 0u) {
            return;
        }
        if (ints & USB_INT_BUS_RESET) {
            REG32(USB_SIE_STATUS) = USB_SIE_STATUS_BUS_RESET;
            dcd_set_address(0u);
            dcd_ep_close_all();
            armed[0][0] = armed[0][1] = 0u;
            dcd_on_bus_reset();
        }
        if (ints & USB_INT_BUFF_STATUS) {
            uint32_t status = REG32(USB_BUFF_STATUS);
            for (unsigned bit = 0; bit < 32u && status != 0u; bit++) {
                uint32_t mask = 1u << bit;
                if ((status & mask) == 0u) {
                    continue;
                }
                status &= ~mask;
                REG32(USB_BUFF_STATUS) = mask;
                uint8_t ep = (uint8_t)(bit >> 1);
                unsigned d = bit & 1u; /* bit 2n = EPn IN, 2n+1 = EPn OUT */
                armed[ep][d] = 0u;
                uint16_t len = (uint16_t)(REG32(USB_DPRAM_BUF_CTRL(ep, d)) & USB_BUF_LEN_MASK);
                dcd_on_xfer((uint8_t)(d == 0u ? (ep | 0x80u) : ep), len);
            }
        }
        if (ints & USB_INT_SETUP_REQ) {
            REG32(USB_SIE_STATUS) = USB_SIE_STATUS_SETUP_REC;
            const volatile uint8_t *p = (const volatile uint8_t *)(uintptr_t)USB_DPRAM_SETUP;
            usb_setup_t setup = {
                .bmRequestType = p[0],
                .bRequest = p[1],
                .wValue = (uint16_t)(p[2] | (p[3] << 8)),
                .wIndex = (uint16_t)(p[4] | (p[5] << 8)),
                .wLength = (uint16_t)(p[6] | (p[7] << 8)),
            };
            /* A SETUP cancels whatever EP0 was doing; both data stage directions start at DATA1. */
            armed[0][0] = armed[0][1] = 0u;
            next_data1[0][0] = next_data1[0][1] = 1u;
            dcd_on_setup(&setup);
        }
    }
}

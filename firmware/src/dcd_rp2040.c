/* dcd_rp2040.c: the RP2040 USB controller in device mode (datasheet 4.1). */
#include "dcd.h"

#include <stddef.h>

#include "board.h"
#include "hw_regs.h"

#define EP_COUNT 16u
/* DPRAM data buffers: 0x100 for EP0 (shared by both directions), then 64 bytes per endpoint
 * direction from 0x180, in the order the endpoints are opened. */
#define DPRAM_DATA_START 0x180u

static uint16_t buf_offset[EP_COUNT][2];
dcd_ep_state_t dcd_ep[2u * EP_COUNT];
uint8_t *dcd_buf[EP_COUNT][2]; /* each endpoint direction's DPRAM buffer */
static int16_t held[EP_COUNT][2];    /* length of a packet kept back while the endpoint is halted, or -1 */
static uint16_t next_free;
static dcd_xfer_fn route[2u * EP_COUNT]; /* by slot; never NULL once dcd_init has run */

/* Bit of an endpoint direction in BUFF_STATUS, EP_ABORT and EP_ABORT_DONE: 2n for IN, 2n + 1 for OUT. */
static inline uint32_t ep_bit(unsigned ep, unsigned d) { return 1u << (2u * ep + d); }

/* Index of the one set bit of `mask` (the M0+ has no CLZ): a de Bruijn multiply and a table. */
static inline unsigned bit_index(uint32_t mask) {
    static const uint8_t position[32] = {0,  1,  28, 2,  29, 14, 24, 3,  30, 22, 20, 15, 25, 17, 4,  8,
                                         31, 27, 13, 23, 21, 19, 16, 7,  26, 12, 18, 6,  11, 5,  10, 9};
    return position[(mask * 0x077CB531u) >> 27];
}

/* Where completions of an endpoint nobody routed go. */
static bool drop_xfer(uint8_t ep_addr, uint16_t len) {
    (void)ep_addr;
    (void)len;
    return false;
}

static bool ep0_xfer(uint8_t ep_addr, uint16_t len) {
    dcd_on_ep0_xfer(ep_addr, len);
    return true;
}

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
            dcd_buf[ep][d] = (uint8_t *)(uintptr_t)(USBCTRL_DPRAM_BASE + 0x100u);
            dcd_ep[DCD_SLOT(ep, d)].data1 = 0u;
            dcd_ep[DCD_SLOT(ep, d)].armed = 0u;
            dcd_ep[DCD_SLOT(ep, d)].stalled = 0u;
            held[ep][d] = -1;
            dcd_ep[DCD_SLOT(ep, d)].opened = ep == 0u;
            if (ep == 0u || route[DCD_SLOT(ep, d)] == NULL) {
                route[DCD_SLOT(ep, d)] = ep == 0u ? ep0_xfer : drop_xfer;
            }
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

void dcd_route(uint8_t ep_addr, dcd_xfer_fn fn) {
    if (USB_EP_NUM(ep_addr) != 0u) {
        route[DCD_SLOT(USB_EP_NUM(ep_addr), dcd_dir(ep_addr))] = fn != NULL ? fn : drop_xfer;
    }
}

void dcd_set_address(uint8_t address) { REG32(USB_ADDR_ENDP) = address & 0x7Fu; }

/* Datasheet 4.1.2.5.1: while AVAILABLE is set the controller owns the buffer and its control word.
 * Take it back with EP_ABORT: once EP_ABORT_DONE is set the endpoint is idle and the word may be
 * written. Returns true when the packet was revoked (still AVAILABLE: it never went), false when it
 * completed meanwhile (its BUFF_STATUS bit is set). Call abort_end() after writing the word. */
static bool abort_begin(unsigned ep, unsigned d) {
    uint32_t bit = ep_bit(ep, d);
    HW_SET(USB_EP_ABORT) = bit;
    while ((REG32(USB_EP_ABORT_DONE) & bit) == 0u) {
    }
    return (REG32(USB_DPRAM_BUF_CTRL(ep, d)) & USB_BUF_AVAILABLE) != 0u;
}

static void abort_end(unsigned ep, unsigned d) {
    uint32_t bit = ep_bit(ep, d);
    HW_CLR(USB_EP_ABORT) = bit;
    REG32(USB_EP_ABORT_DONE) = bit;
}

/* Take the packet in the controller back, if any, and leave the word with STALL as `stall` says.
 * Returns the length of a revoked packet (it never went: its PID is handed back to the toggle), or
 * -1. A packet that completed meanwhile keeps its completion for the interrupt handler, which
 * reports it as usual, unless `consume` (endpoint closed or cancelled): then it is dropped. */
static int32_t take_back(unsigned ep, unsigned d, bool stall, bool consume) {
    int32_t len = -1;
    bool in_controller = dcd_ep[DCD_SLOT(ep, d)].armed && held[ep][d] < 0;
    bool completion_left = false;
    uint32_t keep = 0u;
    if (in_controller) {
        uint32_t word = REG32(USB_DPRAM_BUF_CTRL(ep, d));
        if (abort_begin(ep, d)) {
            len = (int32_t)(word & USB_BUF_LEN_MASK);
            dcd_ep[DCD_SLOT(ep, d)].data1 ^= 1u;
        } else if (consume) {
            if (REG32(USB_BUFF_STATUS) & ep_bit(ep, d)) {
                REG32(USB_BUFF_STATUS) = ep_bit(ep, d);
            }
        } else {
            completion_left = true;
            keep = REG32(USB_DPRAM_BUF_CTRL(ep, d)) & USB_BUF_LEN_MASK; /* the handler reads the length */
        }
    }
    REG32(USB_DPRAM_BUF_CTRL(ep, d)) = (stall ? USB_BUF_STALL : 0u) | keep;
    if (in_controller) {
        abort_end(ep, d);
    }
    if (!completion_left) {
        dcd_ep[DCD_SLOT(ep, d)].armed = 0u;
    }
    held[ep][d] = -1;
    return len;
}

void dcd_ep_open(uint8_t ep_addr, uint8_t type) {
    uint8_t ep = USB_EP_NUM(ep_addr);
    unsigned d = dcd_dir(ep_addr);
    if (ep == 0u) {
        return;
    }
    if (buf_offset[ep][d] == 0x100u) {
        buf_offset[ep][d] = next_free;
        next_free = (uint16_t)(next_free + 64u);
        dcd_buf[ep][d] = (uint8_t *)(uintptr_t)(USBCTRL_DPRAM_BASE + buf_offset[ep][d]);
    }
    dcd_ep[DCD_SLOT(ep, d)].data1 = 0u;
    dcd_ep[DCD_SLOT(ep, d)].armed = 0u;
    dcd_ep[DCD_SLOT(ep, d)].stalled = 0u;
    held[ep][d] = -1;
    dcd_ep[DCD_SLOT(ep, d)].opened = 1u;
    REG32(USB_DPRAM_BUF_CTRL(ep, d)) = 0u;
    REG32(USB_DPRAM_EP_CTRL(ep, d)) = USB_EP_CTRL_ENABLE | USB_EP_CTRL_INT_1BUF |
                                      ((uint32_t)type << USB_EP_CTRL_TYPE_SHIFT) | buf_offset[ep][d];
}

void dcd_ep_close_all(void) {
    for (unsigned ep = 1; ep < EP_COUNT; ep++) {
        for (unsigned d = 0; d < 2u; d++) {
            (void)take_back(ep, d, false, true);
            REG32(USB_DPRAM_EP_CTRL(ep, d)) = 0u;
            dcd_ep[DCD_SLOT(ep, d)].stalled = 0u;
            dcd_ep[DCD_SLOT(ep, d)].opened = 0u;
        }
    }
}

/* Datasheet 4.1.2.5.1: write everything but AVAILABLE, let clk_usb catch up, then AVAILABLE. The
 * wait is three clk_usb periods (the controller needs one): 8 nops at the board's clocks. */
_Static_assert(8u * BOARD_CLK_USB_HZ >= 3u * BOARD_CLK_SYS_HZ, "8 clk_sys cycles < 3 clk_usb periods");
static inline __attribute__((always_inline)) void settle(void) {
    __asm__ volatile("nop\n nop\n nop\n nop\n nop\n nop\n nop\n nop");
}

/* Hand a buffer to the controller with the endpoint's next PID (`state` is the endpoint's state
 * word, which the caller writes back with DATA1 toggled). */
static inline __attribute__((always_inline)) void start_word(unsigned ep, unsigned d, uint16_t len,
                                                              uint32_t state) {
    uint32_t value = (uint32_t)len & USB_BUF_LEN_MASK;
    if (state & DCD_DATA1) {
        value |= USB_BUF_DATA1;
    }
    if (d == 0u) {
        value |= USB_BUF_FULL;
    }
    REG32(USB_DPRAM_BUF_CTRL(ep, d)) = value;
    settle();
    REG32(USB_DPRAM_BUF_CTRL(ep, d)) = value | USB_BUF_AVAILABLE;
}

/* Hand a buffer to the controller with the endpoint's next PID. */
static inline __attribute__((always_inline)) void start(unsigned ep, unsigned d, uint16_t len) {
    dcd_ep_state_t *st = &dcd_ep[DCD_SLOT(ep, d)];
    uint32_t state = st->word;
    st->word = state ^ DCD_DATA1;
    start_word(ep, d, len, state);
}

/* A halted endpoint keeps its STALL: the packet is held and goes when the host clears the halt. The
 * state is read and written once (this runs for every packet). */
static inline __attribute__((always_inline)) void arm(uint8_t ep, unsigned d, uint16_t len) {
    dcd_ep_state_t *st = &dcd_ep[DCD_SLOT(ep, d)];
    uint32_t state = st->word;
    if (!(state & DCD_OPENED)) {
        return; /* closed (unconfigured): nothing to arm */
    }
    if (state & DCD_STALLED) {
        st->armed = 1u;
        held[ep][d] = (int16_t)len;
        return;
    }
    st->word = (state | DCD_ARMED) ^ DCD_DATA1;
    start_word(ep, d, len, state);
}

void dcd_ep_arm_in(uint8_t ep_addr, uint16_t len) { arm(USB_EP_NUM(ep_addr), 0u, len); }

void dcd_ep_arm_out(uint8_t ep_addr, uint16_t len) { arm(USB_EP_NUM(ep_addr), 1u, len); }

void dcd_ep_cancel(uint8_t ep_addr) {
    uint8_t ep = USB_EP_NUM(ep_addr);
    unsigned d = dcd_dir(ep_addr);
    if (ep == 0u || !dcd_ep[DCD_SLOT(ep, d)].opened) {
        return;
    }
    (void)take_back(ep, d, dcd_ep[DCD_SLOT(ep, d)].stalled != 0u, true);
}

void dcd_ep_stall(uint8_t ep_addr) {
    uint8_t ep = USB_EP_NUM(ep_addr);
    unsigned d = dcd_dir(ep_addr);
    if (ep == 0u || !dcd_ep[DCD_SLOT(ep, d)].opened || dcd_ep[DCD_SLOT(ep, d)].stalled) {
        return;
    }
    int32_t len = take_back(ep, d, true, false);
    dcd_ep[DCD_SLOT(ep, d)].stalled = 1u;
    if (len >= 0) { /* revoked: it goes after the halt, as DATA0 */
        dcd_ep[DCD_SLOT(ep, d)].armed = 1u;
        held[ep][d] = (int16_t)len;
    }
}

void dcd_ep_clear_stall(uint8_t ep_addr) {
    uint8_t ep = USB_EP_NUM(ep_addr);
    unsigned d = dcd_dir(ep_addr);
    if (ep == 0u || !dcd_ep[DCD_SLOT(ep, d)].opened) {
        return;
    }
    if (dcd_ep[DCD_SLOT(ep, d)].stalled) {
        int16_t len = held[ep][d];
        dcd_ep[DCD_SLOT(ep, d)].stalled = 0u;
        held[ep][d] = -1;
        dcd_ep[DCD_SLOT(ep, d)].data1 = 0u;
        if (len >= 0) {
            start(ep, d, (uint16_t)len);
        } else {
            REG32(USB_DPRAM_BUF_CTRL(ep, d)) = 0u;
        }
        return;
    }
    /* Not halted: the toggle still goes back to DATA0 (USB 2.0 9.4.5), so a packet already in the
     * controller with the old PID is taken back and armed again as DATA0. */
    int32_t len = -1;
    if (dcd_ep[DCD_SLOT(ep, d)].armed) {
        len = take_back(ep, d, false, false);
    }
    dcd_ep[DCD_SLOT(ep, d)].data1 = 0u;
    if (len >= 0) {
        dcd_ep[DCD_SLOT(ep, d)].armed = 1u;
        start(ep, d, (uint16_t)len);
    }
}

bool dcd_ep_stalled(uint8_t ep_addr) {
    return dcd_ep[DCD_SLOT(USB_EP_NUM(ep_addr), dcd_dir(ep_addr))].stalled != 0u;
}

void dcd_ep0_stall(void) {
    REG32(USB_EP_STALL_ARM) = 3u; /* EP0_IN | EP0_OUT; the controller clears these on SETUP */
    dcd_ep[DCD_SLOT(0, 0)].armed = 0u;
    dcd_ep[DCD_SLOT(0, 1)].armed = 0u;
    REG32(USB_DPRAM_BUF_CTRL(0, 0)) = USB_BUF_STALL;
    REG32(USB_DPRAM_BUF_CTRL(0, 1)) = USB_BUF_STALL;
}

/* A SETUP arrived (out of line: the packet's copy would give every interrupt a larger frame). */
static __attribute__((noinline)) void on_setup_req(void) {
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
    dcd_ep[DCD_SLOT(0, 0)].armed = dcd_ep[DCD_SLOT(0, 1)].armed = 0u;
    dcd_ep[DCD_SLOT(0, 0)].data1 = dcd_ep[DCD_SLOT(0, 1)].data1 = 1u;
    dcd_on_setup(&setup);
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
            dcd_ep[DCD_SLOT(0, 0)].armed = dcd_ep[DCD_SLOT(0, 1)].armed = 0u;
            dcd_on_bus_reset();
        }
        if (ints & USB_INT_BUFF_STATUS) {
            uint32_t status = REG32(USB_BUFF_STATUS);
            bool handled = false; /* a handler ran since `status` was read */
            while (status != 0u) {
                uint32_t mask = status & (0u - status); /* lowest set bit first, as a scan from bit 0 */
                status ^= mask;
                if (handled && (REG32(USB_BUFF_STATUS) & mask) == 0u) {
                    continue; /* consumed meanwhile: its endpoint was closed or the packet cancelled */
                }
                REG32(USB_BUFF_STATUS) = mask;
                /* Bit 2n is EPn IN, 2n+1 EPn OUT: the bit is the slot, and the buffer control
                 * words lie in the same order. */
                unsigned slot = bit_index(mask);
                dcd_ep[slot].armed = 0u;
                if (!dcd_ep[slot].opened) {
                    continue;
                }
                uint16_t len = (uint16_t)(REG32(USB_DPRAM_BUF_CTRL(0u, 0u) + 4u * slot) & USB_BUF_LEN_MASK);
                handled = true;
                (void)route[slot]((uint8_t)((slot >> 1) | ((slot & 1u) ? 0u : 0x80u)), len);
            }
        }
        if (ints & USB_INT_SETUP_REQ) {
            on_setup_req();
        }
    }
}

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
#ifdef DCD_DOUBLE_BUFFERED
/* A double-buffered endpoint direction (below, before dcd_ep_open). */
typedef struct {
    uint8_t on;        /* this endpoint direction double-buffers */
    uint8_t next_arm;  /* the half the next packet goes into */
    uint8_t next_done; /* the half whose completion is handled next (the controller's select order) */
    uint8_t count;     /* packets in the controller: armed, or done and not yet handled */
    uint8_t held;      /* packets kept back (halted, or revoked), in the halves after those */
    uint16_t len[2];   /* each half's armed length */
} db_state_t;
static db_state_t db[2u * EP_COUNT];
#endif
#ifdef DCD_EP0_DOUBLE_BUFFERED
/* EP0 double-buffered (SIE_CTRL EP0_DOUBLE_BUF; a build option: the plain image's ep0_double
 * variant). Datasheet 4.1.2.5: EP0's buffer 0 at DPRAM 0x100 and buffer 1 at 0x140, both shared by
 * IN and OUT; the high half of each EP0 buffer control word describes buffer 1. The controller's
 * buffer select (one per direction) starts at buffer 0 and flips after each buffer it completes, so
 * the firmware arms the half it points at: the one after the last completed (a buffer a SETUP took
 * back never completed). With EP0_INT_1BUF every buffer sets BUFF_STATUS and BUFF_CPU_SHOULD_HANDLE
 * says which half completed. */
#define EP0_HALF_BYTES 64u
static uint8_t ep0_select[2]; /* the half each direction's buffer select points at */

static inline uint8_t *ep0_buffer(unsigned half) {
    return (uint8_t *)(uintptr_t)(USB_DPRAM_EP0_BUF + EP0_HALF_BYTES * half);
}
#endif

/* Which completions set BUFF_STATUS (datasheet: EP_CONTROL bits 29:28, SIE_CTRL bits 29:28 for EP0).
 * DCD_NO_BUFF_INT: neither bit, on every endpoint, so no buffer sets it and dcd_poll finds them all;
 * DCD_EP0_INT_2BUF: EP0 (double-buffered) sets it per pair of buffers, dcd_poll finds a lone buffer 0. */
#ifdef DCD_NO_BUFF_INT
#define EP_INT_BITS 0u
#define EP0_INT_BITS 0u
#else
#define EP_INT_BITS USB_EP_CTRL_INT_1BUF
#ifdef DCD_EP0_INT_2BUF
#define EP0_INT_BITS USB_SIE_CTRL_EP0_INT_2BUF
#else
#define EP0_INT_BITS USB_SIE_CTRL_EP0_INT_1BUF
#endif
#endif

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
#ifdef DCD_DOUBLE_BUFFERED
            db[DCD_SLOT(ep, d)].on = 0u;
#endif
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
#ifdef DCD_EP0_DOUBLE_BUFFERED
    ep0_select[0] = ep0_select[1] = 0u;
    REG32(USB_SIE_CTRL) = EP0_INT_BITS | USB_SIE_CTRL_EP0_DOUBLE_BUF;
#else
    REG32(USB_SIE_CTRL) = EP0_INT_BITS;
#endif
#ifdef DCD_DB_SHOULD_HANDLE
    REG32(USB_INTE) = USB_INT_BUS_RESET | USB_INT_SETUP_REQ; /* BUFF_STATUS is polled (dcd_poll) */
#else
    REG32(USB_INTE) = USB_INT_BUFF_STATUS | USB_INT_BUS_RESET | USB_INT_SETUP_REQ;
#endif
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
            /* the handler reads the length; dcd_poll tells an OUT completion by FULL */
            keep = REG32(USB_DPRAM_BUF_CTRL(ep, d)) & (USB_BUF_LEN_MASK | USB_BUF_FULL);
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

#define USB_BUF_RESET_SELECT (1u << 12) /* the buffer control word's RESET: the select back to buffer 0 */

/* Datasheet 4.1.2.5.1: write everything but AVAILABLE, let clk_usb catch up, then AVAILABLE. The
 * wait is three clk_usb periods (the controller needs one): 8 nops at the board's clocks. */
_Static_assert(8u * BOARD_CLK_USB_HZ >= 3u * BOARD_CLK_SYS_HZ, "8 clk_sys cycles < 3 clk_usb periods");
static inline __attribute__((always_inline)) void settle(void) {
    __asm__ volatile("nop\n nop\n nop\n nop\n nop\n nop\n nop\n nop");
}

#ifdef DCD_DOUBLE_BUFFERED
/* Double-buffered bulk endpoints (a build option: the plain image's double_buf variant). RP2040
 * datasheet 4.1.2.5.2 and the EP_BUFFER_CONTROL / EP_CONTROL register tables: with DOUBLE_BUFFERED
 * set in the endpoint control word, bits 31:16 of the buffer control word describe buffer 1 (LEN_1,
 * AVAILABLE_1, PID_1, FULL_1) and buffer 1 lies 64 bytes after buffer 0; the controller uses the two
 * in turn, starting at buffer 0 (its buffer select; RESET, bit 12, puts it back to buffer 0), and with
 * INTERRUPT_PER_BUFF sets the endpoint's BUFF_STATUS bit each time a buffer is done. Each packet keeps
 * the endpoint's toggle, so the two halves alternate DATA0/DATA1. A half the controller owns
 * (AVAILABLE) is never written: the other half is armed with a 16-bit store to its own half word. */
#define USB_EP_CTRL_DOUBLE_BUFFERED (1u << 30)
#define DB_HALF_BYTES 64u
/* DCD_DB_INT_PER_PAIR: INTERRUPT_PER_DOUBLE_BUFF instead of INTERRUPT_PER_BUFF, so BUFF_STATUS is set
 * only when both buffers are done (after buffer 1); a packet done in buffer 0 alone sets nothing and
 * is found by dcd_poll (with DCD_DB_POLL the application calls it every millisecond). */
#ifdef DCD_DB_INT_PER_PAIR
#define DB_INT_BITS USB_EP_CTRL_INT_2BUF
#else
#define DB_INT_BITS USB_EP_CTRL_INT_1BUF
#endif


static inline uint8_t *db_buffer(unsigned ep, unsigned d, unsigned half) {
    return (uint8_t *)(uintptr_t)(USBCTRL_DPRAM_BASE + buf_offset[ep][d] + DB_HALF_BYTES * half);
}

/* The upper layer may arm another packet while a half is free. */
static inline void db_update_armed(unsigned slot) {
    dcd_ep[slot].armed = (uint8_t)(db[slot].count + db[slot].held >= 2u);
}

/* Hand half `half` to the controller with the endpoint's next PID: fields first, then AVAILABLE
 * (datasheet 4.1.2.5.1), both as 16-bit stores to that half only. */
static void db_start(unsigned ep, unsigned d, unsigned half, uint16_t len) {
    dcd_ep_state_t *st = &dcd_ep[DCD_SLOT(ep, d)];
    uint16_t value = (uint16_t)(len & USB_BUF_LEN_MASK);
    if (st->data1) {
        value |= USB_BUF_DATA1;
    }
#ifndef DCD_DB_BUG_SAME_PID
    st->data1 ^= 1u;
#else
    if (half == 1u) { /* broken on purpose: buffer 0 does not toggle, so buffer 1 repeats its PID */
        st->data1 ^= 1u;
    }
#endif
    if (d == 0u) {
        value |= USB_BUF_FULL;
    }
#ifdef DCD_DB_BUG_LONG
    if (half == 1u && d == 1u) { /* broken on purpose: buffer 1 armed for more than its 64 bytes */
        value = (uint16_t)((value & ~USB_BUF_LEN_MASK) | (DB_HALF_BYTES + 1u));
    }
#endif
#ifdef DCD_DB_BUG_WORD_STORE
    { /* broken on purpose: 32-bit read-modify-write stores, which rewrite the other buffer's half too */
        uint32_t shift = 16u * half;
        uint32_t keep = REG32(USB_DPRAM_BUF_CTRL(ep, d)) & ~(0xFFFFu << shift);
        REG32(USB_DPRAM_BUF_CTRL(ep, d)) = keep | ((uint32_t)value << shift);
        settle();
        REG32(USB_DPRAM_BUF_CTRL(ep, d)) = keep | ((uint32_t)(value | USB_BUF_AVAILABLE) << shift);
        return;
    }
#endif
    volatile uint16_t *w = (volatile uint16_t *)(uintptr_t)(USB_DPRAM_BUF_CTRL(ep, d) + 2u * half);
#ifdef DCD_DB_BUG_SAME_STORE
    if (half == 1u) { /* broken on purpose: AVAILABLE in the store that writes the other fields */
        *w = (uint16_t)(value | USB_BUF_AVAILABLE);
        return;
    }
#endif
    *w = value;
    settle();
    *w = (uint16_t)(value | USB_BUF_AVAILABLE);
#ifdef DCD_DB_BUG_TWICE
    if (half == 1u) { /* broken on purpose: AVAILABLE set again while the controller owns the buffer */
        *w = (uint16_t)(value | USB_BUF_AVAILABLE);
    }
#endif
}

/* The controller's buffer select back to buffer 0 (RESET), then the word without RESET. */
static void db_reset_select(unsigned ep, unsigned d, bool stall) {
    unsigned slot = DCD_SLOT(ep, d);
    REG32(USB_DPRAM_BUF_CTRL(ep, d)) = (stall ? USB_BUF_STALL : 0u) | USB_BUF_RESET_SELECT;
    REG32(USB_DPRAM_BUF_CTRL(ep, d)) = stall ? USB_BUF_STALL : 0u;
    db[slot].next_arm = db[slot].next_done = 0u;
    db[slot].count = db[slot].held = 0u;
    if (d == 0u) {
        dcd_buf[ep][0] = db_buffer(ep, 0u, 0u);
    }
    db_update_armed(slot);
}

static void db_arm(unsigned ep, unsigned d, uint16_t len) {
    unsigned slot = DCD_SLOT(ep, d);
    db_state_t *b = &db[slot];
    if (!dcd_ep[slot].opened || b->count + b->held >= 2u) {
        return;
    }
    unsigned half = b->next_arm;
    b->len[half] = len;
    b->next_arm = (uint8_t)(half ^ 1u);
    if (d == 0u) {
        dcd_buf[ep][0] = db_buffer(ep, 0u, b->next_arm); /* where the next IN packet is written */
    }
    if (dcd_ep[slot].stalled || b->held != 0u) {
        b->held++;
    } else {
        b->count++;
        db_start(ep, d, half, len);
    }
    db_update_armed(slot);
}

/* Arm the held packets in their halves, in order, with the endpoint's PIDs from now on. */
static void db_rearm(unsigned ep, unsigned d) {
    unsigned slot = DCD_SLOT(ep, d);
    db_state_t *b = &db[slot];
    unsigned half = (b->next_done + b->count) & 1u;
    while (b->held != 0u) {
        b->held--;
        b->count++;
        db_start(ep, d, half, b->len[half]);
        half ^= 1u;
    }
    db_update_armed(slot);
}

/* Half `half` of the slot's endpoint direction is done (`bits`: that half of its buffer control word):
 * the other half is done next, and the packet goes to the slot's route (OUT: read from that half). */
static inline __attribute__((always_inline)) void db_hand_on(unsigned slot, unsigned half, uint32_t bits) {
    unsigned ep = slot >> 1;
    unsigned d = slot & 1u;
    db[slot].next_done = (uint8_t)(half ^ 1u);
    db[slot].count--;
    db_update_armed(slot);
    if (d == 1u) {
        dcd_buf[ep][1] = db_buffer(ep, 1u, half); /* the packet the handler reads */
    }
    (void)route[slot]((uint8_t)(ep | (d ? 0u : 0x80u)), (uint16_t)(bits & USB_BUF_LEN_MASK));
}

#ifndef DCD_DB_SHOULD_HANDLE
/* Every half the controller has written back, in the order it used them (BUFF_STATUS is one bit for
 * both, so a bit may stand for two buffers done). */
static void db_complete(unsigned slot) {
    unsigned ep = slot >> 1;
    unsigned d = slot & 1u;
    db_state_t *b = &db[slot];
    while (b->count != 0u) {
        unsigned half = b->next_done;
        uint32_t bits = REG32(USB_DPRAM_BUF_CTRL(ep, d)) >> (16u * half);
        if (bits & USB_BUF_AVAILABLE) {
            return; /* not done yet */
        }
        db_hand_on(slot, half, bits);
    }
}
#else
/* DCD_DB_SHOULD_HANDLE: the half a BUFF_STATUS bit stands for is the one BUFF_CPU_SHOULD_HANDLE
 * names ("Which of the double buffers should be handled", read before the bit is acknowledged):
 * that half alone is handled, and the acknowledge sets the bit again for a second one (BUFF_STATUS:
 * "clearing the buffer status bit may instantly re set it"). A named half the firmware did not hand
 * to the controller (with one in it, only the oldest; with two, either), or one the controller
 * still owns (AVAILABLE), is a controller that contradicts itself: the firmware stops at bkpt #5. */
static void db_take_named(unsigned slot, unsigned half) {
    unsigned ep = slot >> 1;
    unsigned d = slot & 1u;
    db_state_t *b = &db[slot];
    if (b->count == 0u) {
        return; /* the completion was consumed meanwhile (endpoint closed or cancelled) */
    }
    uint32_t bits = REG32(USB_DPRAM_BUF_CTRL(ep, d)) >> (16u * half);
    if ((b->count == 1u && half != b->next_done) || (bits & USB_BUF_AVAILABLE)) {
        __asm__ volatile("bkpt #5");
    }
    db_hand_on(slot, half, bits);
}
#endif

/* EP_ABORT the endpoint: halves still AVAILABLE never went and are held (their PIDs handed back),
 * halves already done stay for the interrupt handler; `consume` drops all of them and puts the
 * buffer select back to buffer 0. STALL as `stall` says. */
static void db_take_back(unsigned ep, unsigned d, bool stall, bool consume) {
    unsigned slot = DCD_SLOT(ep, d);
    db_state_t *b = &db[slot];
    bool in_controller = b->count != 0u;
    if (in_controller) {
        (void)abort_begin(ep, d);
        uint32_t word = REG32(USB_DPRAM_BUF_CTRL(ep, d));
        unsigned done = 0u;
        while (done < b->count && !((word >> (16u * ((b->next_done + done) & 1u))) & USB_BUF_AVAILABLE)) {
            done++;
        }
        unsigned revoked = b->count - done;
        b->count = (uint8_t)done;
        b->held = (uint8_t)(b->held + revoked);
        dcd_ep[slot].data1 ^= (uint8_t)(revoked & 1u);
        if (consume && (REG32(USB_BUFF_STATUS) & ep_bit(ep, d))) {
            REG32(USB_BUFF_STATUS) = ep_bit(ep, d);
        }
        if (!consume) {
            uint32_t keep = word & ~(USB_BUF_AVAILABLE | (USB_BUF_AVAILABLE << 16) | USB_BUF_STALL | USB_BUF_RESET_SELECT);
            REG32(USB_DPRAM_BUF_CTRL(ep, d)) = keep | (stall ? USB_BUF_STALL : 0u);
        }
    }
    if (consume) {
        db_reset_select(ep, d, stall);
    } else if (!in_controller) {
        REG32(USB_DPRAM_BUF_CTRL(ep, d)) = (REG32(USB_DPRAM_BUF_CTRL(ep, d)) & ~USB_BUF_STALL) | (stall ? USB_BUF_STALL : 0u);
    }
    if (in_controller) {
        abort_end(ep, d);
    }
    db_update_armed(slot);
}

static void db_open(unsigned ep, unsigned d, uint8_t type) {
    unsigned slot = DCD_SLOT(ep, d);
    db[slot].on = 1u;
    db_reset_select(ep, d, false);
    REG32(USB_DPRAM_EP_CTRL(ep, d)) = USB_EP_CTRL_ENABLE | USB_EP_CTRL_DOUBLE_BUFFERED | DB_INT_BITS |
                                      ((uint32_t)type << USB_EP_CTRL_TYPE_SHIFT) | buf_offset[ep][d];
}

#ifdef DCD_DB_INT_PER_PAIR
static void db_poll(void) {
    for (unsigned slot = 2u; slot < 2u * EP_COUNT; slot++) {
        if (db[slot].on) {
            db_complete(slot);
        }
    }
}
#endif
#define DB_ON(ep, d) (db[DCD_SLOT(ep, d)].on != 0u)
#define DB_BYTES 2u
#else
#define DB_ON(ep, d) false
#define DB_BYTES 1u
#endif

void dcd_ep_open(uint8_t ep_addr, uint8_t type) {
    uint8_t ep = USB_EP_NUM(ep_addr);
    unsigned d = dcd_dir(ep_addr);
    if (ep == 0u) {
        return;
    }
    bool double_buffered = DB_BYTES > 1u && type == USB_EP_TYPE_BULK;
    if (buf_offset[ep][d] == 0x100u) {
        buf_offset[ep][d] = next_free;
        next_free = (uint16_t)(next_free + (double_buffered ? 64u * DB_BYTES : 64u));
        dcd_buf[ep][d] = (uint8_t *)(uintptr_t)(USBCTRL_DPRAM_BASE + buf_offset[ep][d]);
    }
    dcd_ep[DCD_SLOT(ep, d)].data1 = 0u;
    dcd_ep[DCD_SLOT(ep, d)].armed = 0u;
    dcd_ep[DCD_SLOT(ep, d)].stalled = 0u;
    held[ep][d] = -1;
    dcd_ep[DCD_SLOT(ep, d)].opened = 1u;
#ifdef DCD_DOUBLE_BUFFERED
    if (double_buffered) {
        db_open(ep, d, type);
        return;
    }
#endif
    REG32(USB_DPRAM_BUF_CTRL(ep, d)) = 0u;
    REG32(USB_DPRAM_EP_CTRL(ep, d)) = USB_EP_CTRL_ENABLE | EP_INT_BITS |
                                      ((uint32_t)type << USB_EP_CTRL_TYPE_SHIFT) | buf_offset[ep][d];
}

void dcd_ep_close_all(void) {
    for (unsigned ep = 1; ep < EP_COUNT; ep++) {
        for (unsigned d = 0; d < 2u; d++) {
#ifdef DCD_DOUBLE_BUFFERED
            if (DB_ON(ep, d)) {
                db_take_back(ep, d, false, true);
                db[DCD_SLOT(ep, d)].on = 0u;
            } else
#endif
            {
                (void)take_back(ep, d, false, true);
            }
            REG32(USB_DPRAM_EP_CTRL(ep, d)) = 0u;
            dcd_ep[DCD_SLOT(ep, d)].stalled = 0u;
            dcd_ep[DCD_SLOT(ep, d)].opened = 0u;
        }
    }
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

#ifdef DCD_EP0_DOUBLE_BUFFERED
/* Arm EP0's half the select points at: its fields, then AVAILABLE, as 16-bit stores to that half. */
static void ep0_start(unsigned d, uint16_t len, uint32_t state) {
    uint16_t value = (uint16_t)(len & USB_BUF_LEN_MASK);
    if (state & DCD_DATA1) {
        value |= USB_BUF_DATA1;
    }
    if (d == 0u) {
        value |= USB_BUF_FULL;
    }
    volatile uint16_t *w = (volatile uint16_t *)(uintptr_t)(USB_DPRAM_BUF_CTRL(0u, d) + 2u * ep0_select[d]);
    *w = value;
    settle();
    *w = (uint16_t)(value | USB_BUF_AVAILABLE);
}

/* EP0's half `half` in direction `d` completed: the select moved on; where the next IN packet is
 * written, or where the OUT packet just received lies. Returns its length. */
static uint16_t ep0_done(unsigned d, unsigned half) {
    ep0_select[d] = (uint8_t)(half ^ 1u);
    dcd_buf[0][d] = ep0_buffer(d == 0u ? ep0_select[0] : half);
    return (uint16_t)((REG32(USB_DPRAM_BUF_CTRL(0u, d)) >> (16u * half)) & USB_BUF_LEN_MASK);
}

/* A bus reset: both EP0 selects back to buffer 0 (RESET), whatever the controller did with them. */
static void ep0_reset_select(void) {
    for (unsigned d = 0; d < 2u; d++) {
        (void)abort_begin(0u, d);
        REG32(USB_DPRAM_BUF_CTRL(0u, d)) = USB_BUF_RESET_SELECT;
        REG32(USB_DPRAM_BUF_CTRL(0u, d)) = 0u;
        abort_end(0u, d);
        ep0_select[d] = 0u;
        dcd_buf[0][d] = ep0_buffer(0u);
    }
}
#endif

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
#ifdef DCD_EP0_DOUBLE_BUFFERED
    if (ep == 0u) {
        ep0_start(d, len, state);
        return;
    }
#endif
    start_word(ep, d, len, state);
}

#ifdef DCD_DOUBLE_BUFFERED
void dcd_ep_arm_in(uint8_t ep_addr, uint16_t len) {
    if (DB_ON(USB_EP_NUM(ep_addr), 0u)) {
        db_arm(USB_EP_NUM(ep_addr), 0u, len);
    } else {
        arm(USB_EP_NUM(ep_addr), 0u, len);
    }
}

void dcd_ep_arm_out(uint8_t ep_addr, uint16_t len) {
    if (DB_ON(USB_EP_NUM(ep_addr), 1u)) {
        db_arm(USB_EP_NUM(ep_addr), 1u, len);
    } else {
        arm(USB_EP_NUM(ep_addr), 1u, len);
    }
}

unsigned dcd_ep_pending(uint8_t ep_addr) {
    unsigned slot = DCD_SLOT(USB_EP_NUM(ep_addr), dcd_dir(ep_addr));
    return db[slot].on ? (unsigned)(db[slot].count + db[slot].held) : dcd_ep[slot].armed;
}
#else
void dcd_ep_arm_in(uint8_t ep_addr, uint16_t len) { arm(USB_EP_NUM(ep_addr), 0u, len); }

void dcd_ep_arm_out(uint8_t ep_addr, uint16_t len) { arm(USB_EP_NUM(ep_addr), 1u, len); }
#endif

/* The application calls on a non-control endpoint (EP0 has its own): each is stated once per way of
 * buffering, and `ep_call` states once the guard and the choice between the two. */
typedef enum { EP_CANCEL, EP_STALL, EP_CLEAR_STALL } ep_call_t;

/* A single-buffered endpoint: what is in the controller is taken back (take_back) and, where the
 * call keeps it, held in `held` until the halt is cleared. */
static void single_call(uint8_t ep, unsigned d, dcd_ep_state_t *st, ep_call_t call) {
    int32_t len;
    switch (call) {
    case EP_CANCEL:
        (void)take_back(ep, d, st->stalled != 0u, true);
        return;
    case EP_STALL:
        len = take_back(ep, d, true, false);
        st->stalled = 1u;
        if (len >= 0) { /* revoked: it goes after the halt, as DATA0 */
            st->armed = 1u;
            held[ep][d] = (int16_t)len;
        }
        return;
    case EP_CLEAR_STALL:
        if (st->stalled) {
            len = held[ep][d];
            st->stalled = 0u;
            held[ep][d] = -1;
            st->data1 = 0u;
            if (len >= 0) {
                start(ep, d, (uint16_t)len);
            } else {
                REG32(USB_DPRAM_BUF_CTRL(ep, d)) = 0u;
            }
            return;
        }
        /* Not halted: the toggle still goes back to DATA0 (USB 2.0 9.4.5), so a packet already in
         * the controller with the old PID is taken back and armed again as DATA0. */
        len = st->armed ? take_back(ep, d, false, false) : -1;
        st->data1 = 0u;
        if (len >= 0) {
            st->armed = 1u;
            start(ep, d, (uint16_t)len);
        }
        return;
    }
}

#ifdef DCD_DOUBLE_BUFFERED
/* A double-buffered endpoint: both halves are taken back (db_take_back) and re-armed by db_rearm. */
static void double_call(uint8_t ep, unsigned d, dcd_ep_state_t *st, ep_call_t call) {
    switch (call) {
    case EP_CANCEL:
        db_take_back(ep, d, st->stalled != 0u, true);
        return;
    case EP_STALL:
        db_take_back(ep, d, true, false);
        st->stalled = 1u;
        return;
    case EP_CLEAR_STALL: /* halted or not: the toggle goes back to DATA0 and what was held goes */
        if (st->stalled) {
            st->stalled = 0u;
            REG32(USB_DPRAM_BUF_CTRL(ep, d)) &= ~USB_BUF_STALL;
        } else {
            db_take_back(ep, d, false, false);
        }
        st->data1 = 0u;
        db_rearm(ep, d);
        return;
    }
}
#endif

/* EP0 and an endpoint not opened are left alone, and so is a halted endpoint asked to halt. */
static void ep_call(uint8_t ep_addr, ep_call_t call) {
    uint8_t ep = USB_EP_NUM(ep_addr);
    unsigned d = dcd_dir(ep_addr);
    dcd_ep_state_t *st = &dcd_ep[DCD_SLOT(ep, d)];
    if (ep == 0u || !st->opened || (call == EP_STALL && st->stalled)) {
        return;
    }
#ifdef DCD_DOUBLE_BUFFERED
    if (DB_ON(ep, d)) {
        double_call(ep, d, st, call);
        return;
    }
#endif
    single_call(ep, d, st, call);
}

void dcd_ep_cancel(uint8_t ep_addr) { ep_call(ep_addr, EP_CANCEL); }

void dcd_ep_stall(uint8_t ep_addr) { ep_call(ep_addr, EP_STALL); }

void dcd_ep_clear_stall(uint8_t ep_addr) { ep_call(ep_addr, EP_CLEAR_STALL); }

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

#if defined(DCD_EP0_INT_2BUF) || defined(DCD_NO_BUFF_INT)
#ifdef DCD_NO_BUFF_INT
#define POLLED_SLOTS (2u * EP_COUNT) /* every endpoint: none sets BUFF_STATUS */
#else
#define POLLED_SLOTS 2u /* EP0, whose buffer 0 done alone sets no BUFF_STATUS bit */
#endif
/* A buffer the controller is done with, read from its half of the buffer control word (datasheet
 * 4.1.2.5.3): AVAILABLE clear, and FULL clear for IN (sent) or set for OUT (received). FULL tells a
 * completion from a buffer a SETUP took back (AVAILABLE cleared, FULL as the firmware wrote it). */
static inline bool buffer_done(unsigned d, uint32_t bits) {
    return (bits & USB_BUF_AVAILABLE) == 0u && ((bits & USB_BUF_FULL) != 0u) == (d == 1u);
}

/* Every armed single buffer of slots [first, end) (EP0: the half its select points at) that
 * completed, reported as the interrupt handler would. */
static void poll_slots(unsigned first, unsigned end) {
    for (unsigned slot = first; slot < end; slot++) {
        unsigned ep = slot >> 1;
        unsigned d = slot & 1u;
        if (!dcd_ep[slot].opened || !dcd_ep[slot].armed || held[ep][d] >= 0 || DB_ON(ep, d)) {
            continue;
        }
        unsigned half = 0u;
#ifdef DCD_EP0_DOUBLE_BUFFERED
        if (ep == 0u) {
            half = ep0_select[d];
        }
#endif
#ifdef DCD_EP0_INT_2BUF
        if (half == 1u) {
            continue; /* both buffers done: BUFF_STATUS says so */
        }
#endif
        uint32_t bits = REG32(USB_DPRAM_BUF_CTRL(ep, d)) >> (16u * half);
        if (!buffer_done(d, bits)) {
            continue;
        }
        dcd_ep[slot].armed = 0u;
        uint16_t len = (uint16_t)(bits & USB_BUF_LEN_MASK);
#ifdef DCD_EP0_DOUBLE_BUFFERED
        if (ep == 0u) {
            len = ep0_done(d, half);
        }
#endif
        (void)route[slot]((uint8_t)(ep | (d ? 0u : 0x80u)), len);
    }
}
#endif

#if defined(DCD_DB_INT_PER_PAIR) || defined(DCD_EP0_INT_2BUF) || defined(DCD_NO_BUFF_INT)
void dcd_poll(void) {
#ifdef DCD_DB_INT_PER_PAIR
    db_poll();
#endif
#if defined(DCD_EP0_INT_2BUF) || defined(DCD_NO_BUFF_INT)
    /* A SETUP not yet handled: EP0's buffers done before it are the interrupt handler's (below). */
    poll_slots((REG32(USB_SIE_STATUS) & USB_SIE_STATUS_SETUP_REC) ? 2u : 0u, POLLED_SLOTS);
#endif
}
#endif

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
#ifdef DCD_EP0_DOUBLE_BUFFERED
    /* A STALL left by the last request stays in buffer 0's half, which a 16-bit store to buffer 1's
     * does not rewrite: take it out of both words (the SETUP handed both buffers back). */
    REG32(USB_DPRAM_BUF_CTRL(0u, 0u)) &= ~USB_BUF_STALL;
    REG32(USB_DPRAM_BUF_CTRL(0u, 1u)) &= ~USB_BUF_STALL;
#endif
    dcd_on_setup(&setup);
}

#ifdef DCD_DB_SHOULD_HANDLE
/* BUFF_STATUS is no interrupt (INTE leaves it out; the endpoints still set their bits): the handler
 * reads the raw causes (INTR), so it takes the buffers done whenever it runs: for a SETUP or bus
 * reset (before them, as with the interrupt), or from dcd_poll every millisecond. Both buffers of a
 * double-buffered endpoint are then often done before their bit is read, and BUFF_CPU_SHOULD_HANDLE
 * decides which is handled first (db_take_named). */
#define USB_CAUSES USB_INTR
#else
#define USB_CAUSES USB_INTS
#endif

void isr_usbctrl(void) {
    for (;;) {
        uint32_t ints = REG32(USB_CAUSES);
        if ((ints & (USB_INT_BUS_RESET | USB_INT_BUFF_STATUS | USB_INT_SETUP_REQ)) == 0u) {
            return;
        }
        if (ints & USB_INT_BUS_RESET) {
            REG32(USB_SIE_STATUS) = USB_SIE_STATUS_BUS_RESET;
            dcd_set_address(0u);
            dcd_ep_close_all();
            dcd_ep[DCD_SLOT(0, 0)].armed = dcd_ep[DCD_SLOT(0, 1)].armed = 0u;
#ifdef DCD_EP0_DOUBLE_BUFFERED
            ep0_reset_select();
#endif
            dcd_on_bus_reset();
        }
        if (ints & USB_INT_BUFF_STATUS) {
#ifdef DCD_NO_BUFF_INT
            /* No endpoint enabled a buffer interrupt, so the controller sets no BUFF_STATUS bit
             * (datasheet: "if the buffer interrupt is enabled"): one here is not ours to handle. */
            __asm__ volatile("bkpt #4");
#endif
            uint32_t status = REG32(USB_BUFF_STATUS);
#if defined(DCD_EP0_DOUBLE_BUFFERED) && !defined(DCD_EP0_INT_2BUF)
            /* Which half of EP0 each set bit stands for (one buffer in flight per direction, so no
             * completion of that direction can change it before the handler below runs). */
            uint32_t which = REG32(USB_BUFF_CPU_SHOULD_HANDLE);
#endif
            bool handled = false; /* a handler ran since `status` was read */
            while (status != 0u) {
                uint32_t mask = status & (0u - status); /* lowest set bit first, as a scan from bit 0 */
                status ^= mask;
                if (handled && (REG32(USB_BUFF_STATUS) & mask) == 0u) {
                    continue; /* consumed meanwhile: its endpoint was closed or the packet cancelled */
                }
#ifdef DCD_DB_SHOULD_HANDLE
                uint32_t named = REG32(USB_BUFF_CPU_SHOULD_HANDLE) & mask; /* before the acknowledge moves it on */
#endif
                REG32(USB_BUFF_STATUS) = mask;
                /* Bit 2n is EPn IN, 2n+1 EPn OUT: the bit is the slot, and the buffer control
                 * words lie in the same order. */
                unsigned slot = bit_index(mask);
#ifdef DCD_DOUBLE_BUFFERED
                if (db[slot].on) {
                    handled = true;
#ifdef DCD_DB_SHOULD_HANDLE
                    db_take_named(slot, named != 0u);
#else
                    db_complete(slot);
#endif
                    continue;
                }
#endif
                dcd_ep[slot].armed = 0u;
                if (!dcd_ep[slot].opened) {
                    continue;
                }
#ifdef DCD_EP0_DOUBLE_BUFFERED
#ifdef DCD_EP0_INT_2BUF
                /* Per pair, the bit comes with buffer 1 (dcd_poll took buffer 0); BUFF_CPU_SHOULD_HANDLE
                 * is "only valid if using an interrupt per buffer". */
                unsigned half = 1u;
#else
                unsigned half = (which & mask) != 0u;
#endif
                uint16_t len = slot < 2u ? ep0_done(slot, half)
                                         : (uint16_t)(REG32(USB_DPRAM_BUF_CTRL(0u, 0u) + 4u * slot) & USB_BUF_LEN_MASK);
#else
                uint16_t len = (uint16_t)(REG32(USB_DPRAM_BUF_CTRL(0u, 0u) + 4u * slot) & USB_BUF_LEN_MASK);
#endif
                handled = true;
                (void)route[slot]((uint8_t)((slot >> 1) | ((slot & 1u) ? 0u : 0x80u)), len);
            }
        }
        if (ints & USB_INT_SETUP_REQ) {
#if defined(DCD_EP0_INT_2BUF) || defined(DCD_NO_BUFF_INT)
            /* EP0 buffers done before the SETUP and not polled yet (the host may send the next SETUP
             * straight after a status stage): reported first, as BUFF_STATUS would be, so the
             * request's effect (SET_ADDRESS) and EP0's buffer select are not lost. */
            poll_slots(0u, 2u);
#endif
            on_setup_req();
        }
    }
}

#ifdef DCD_DB_SHOULD_HANDLE
void dcd_poll(void) { isr_usbctrl(); }
#endif

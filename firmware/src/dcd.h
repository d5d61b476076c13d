/* dcd.h: device controller driver for the RP2040 USB controller: DPRAM buffers, buffer control,
 * data toggles, STALL, address, and the interrupt that reports SETUP, completions and bus reset.
 * Packet level: one max-size packet per arm, single-buffered; with DCD_DOUBLE_BUFFERED (a build
 * option) bulk endpoints double-buffer, two packets in the controller at once. Upper layers implement the three dcd_on_* callbacks; they run in interrupt context. */
#ifndef DCD_H
#define DCD_H

#include <stdbool.h>
#include <stdint.h>

#include "usb_types.h"

void dcd_init(void);
void dcd_set_address(uint8_t address);
/* Enable a non-zero endpoint with its fixed 64-byte DPRAM buffer; the next packet is DATA0. */
void dcd_ep_open(uint8_t ep_addr, uint8_t type);
void dcd_ep_close_all(void);
/* One endpoint direction's state, all in one word so the hot paths read and write it at once. */
typedef union {
    struct {
        uint8_t armed;   /* a packet is the upper layer's in flight (sent, held or stalled) */
        uint8_t opened;  /* enabled (EP0 always; others while configured) */
        uint8_t stalled; /* halted by the device until the host clears it */
        uint8_t data1;   /* the next packet's PID is DATA1 */
    };
    uint32_t word; /* the four flags (0 or 1 each) as DCD_ARMED, DCD_OPENED, DCD_STALLED, DCD_DATA1 */
} dcd_ep_state_t;
#define DCD_ARMED (1u << 0)
#define DCD_OPENED (1u << 8)
#define DCD_STALLED (1u << 16)
#define DCD_DATA1 (1u << 24)

/* An endpoint direction's slot in dcd_ep: 2n for EPn IN, 2n + 1 for EPn OUT, as its BUFF_STATUS bit. */
#define DCD_SLOT(ep, d) (2u * (unsigned)(ep) + (unsigned)(d))

/* Owned by dcd_rp2040.c, read by the inline accessors below (they sit on every transfer's path):
 * each endpoint direction's state (by slot) and DPRAM buffer ([number][dcd_dir]). */
extern dcd_ep_state_t dcd_ep[32];
extern uint8_t *dcd_buf[16][2];
/* Index of a direction in those tables: 0 IN, 1 OUT. */
static inline unsigned dcd_dir(uint8_t ep_addr) { return USB_EP_IS_IN(ep_addr) ? 0u : 1u; }
/* The endpoint's packet buffer in DPRAM (64 bytes, word aligned); double-buffered, the half the
 * next IN packet is written into, or the half an OUT completion handler reads. */
static inline uint8_t *dcd_ep_buffer(uint8_t ep_addr) {
    return dcd_buf[USB_EP_NUM(ep_addr)][dcd_dir(ep_addr)];
}
/* Send `len` bytes already placed in dcd_ep_buffer (IN) / accept up to `len` bytes (OUT). Ignored
 * on a closed endpoint. */
void dcd_ep_arm_in(uint8_t ep_addr, uint16_t len);
void dcd_ep_arm_out(uint8_t ep_addr, uint16_t len);
#if defined(DCD_DB_INT_PER_PAIR) || defined(DCD_EP0_INT_2BUF) || defined(DCD_NO_BUFF_INT) || defined(DCD_DB_SHOULD_HANDLE)
/* Handle the buffers that completed without an interrupt: with an interrupt per pair of buffers
 * (INTERRUPT_PER_DOUBLE_BUFF, EP0_INT_2BUF) a buffer 0 done alone sets no BUFF_STATUS bit; with
 * neither interrupt bit (DCD_NO_BUFF_INT) no buffer does; with DCD_DB_SHOULD_HANDLE BUFF_STATUS is
 * read here instead of in its interrupt. Interrupt context only (the application calls it every
 * millisecond). */
void dcd_poll(void);
#endif
#ifdef DCD_DOUBLE_BUFFERED
/* Packets the upper layer has armed on the endpoint and not yet seen complete (0..2 when it
 * double-buffers, 0..1 otherwise). */
unsigned dcd_ep_pending(uint8_t ep_addr);
#endif
/* No buffer is free to arm (single-buffered: a packet is in flight; double-buffered: both are). */
static inline bool dcd_ep_armed(uint8_t ep_addr) {
    return dcd_ep[DCD_SLOT(USB_EP_NUM(ep_addr), dcd_dir(ep_addr))].armed != 0u;
}
/* Take a packet already handed to the controller back (EP_ABORT) or forget its completion. */
void dcd_ep_cancel(uint8_t ep_addr);
/* Halt a non-zero endpoint. A packet in the controller is taken back and, like any packet armed
 * while halted, held: it goes (as DATA0) when the host clears the halt. The STALL stays until then. */
void dcd_ep_stall(uint8_t ep_addr);
/* CLEAR_FEATURE(ENDPOINT_HALT): clear STALL and reset the data toggle to DATA0, halted or not (a
 * packet already in the controller is re-armed as DATA0; a held one is sent). */
void dcd_ep_clear_stall(uint8_t ep_addr);
bool dcd_ep_stalled(uint8_t ep_addr);
/* STALL both directions of EP0 until the next SETUP. */
void dcd_ep0_stall(void);

/* A completion handler: `len` bytes sent (IN) or received (OUT) on `ep_addr`; the result is unused. */
typedef bool (*dcd_xfer_fn)(uint8_t ep_addr, uint16_t len);
/* Completions on non-zero endpoint `ep_addr` go to `fn` (NULL drops them): usbd routes each
 * endpoint to its class at start-up, a class may route its own when it opens them. They arrive only
 * while the endpoint is open, that is while the device is configured. */
void dcd_route(uint8_t ep_addr, dcd_xfer_fn fn);

void dcd_on_setup(const usb_setup_t *setup);
void dcd_on_ep0_xfer(uint8_t ep_addr, uint16_t len);
void dcd_on_bus_reset(void);

#endif

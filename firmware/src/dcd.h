/* dcd.h: device controller driver for the RP2040 USB controller: DPRAM buffers, buffer control,
 * data toggles, STALL, address, and the interrupt that reports SETUP, completions and bus reset.
 * Packet level: one max-size packet per arm, single-buffered (double buffering is broken in
 * rp2040js). Upper layers implement the three dcd_on_* callbacks; they run in interrupt context. */
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
/* The endpoint's packet buffer in DPRAM (64 bytes, word aligned). */
uint8_t *dcd_ep_buffer(uint8_t ep_addr);
/* Send `len` bytes already placed in dcd_ep_buffer (IN) / accept up to `len` bytes (OUT). Ignored
 * on a closed endpoint. */
void dcd_ep_arm_in(uint8_t ep_addr, uint16_t len);
void dcd_ep_arm_out(uint8_t ep_addr, uint16_t len);
bool dcd_ep_armed(uint8_t ep_addr);
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

void dcd_on_setup(const usb_setup_t *setup);
void dcd_on_xfer(uint8_t ep_addr, uint16_t len);
void dcd_on_bus_reset(void);

#endif

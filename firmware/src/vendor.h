/* vendor.h: the vendor interface: every vendor control request of the contract and the frame
 * endpoints (ECHO / SOURCE / SINK through a DMA-fed ring in SRAM, backpressure by NAK). */
#ifndef VENDOR_H
#define VENDOR_H

#include <stdbool.h>
#include <stdint.h>

#include "usbd.h"

/* Its usbd class table row (interface RIG_IF_VENDOR; no class requests). */
void vendor_reset(void);
void vendor_open(void);
bool vendor_xfer(uint8_t ep_addr, uint16_t len);
void vendor_halt_cleared(uint8_t ep_addr);
bool vendor_request(usbd_stage_t stage, const usb_setup_t *setup, const uint8_t *data, usbd_reply_t *reply);
uint32_t vendor_capabilities(void);

#endif

/* cdc.h: CDC ACM console: line coding (the 1200-baud touch reboots into BOOTSEL), control line
 * state, and the console interpreter over the CDC bulk endpoints. */
#ifndef CDC_H
#define CDC_H

#include <stdbool.h>
#include <stddef.h>

#include "usbd.h"

/* Its usbd class table row (interfaces RIG_IF_CDC_COMM and RIG_IF_CDC_DATA; nothing to redo when a
 * halt is cleared). */
void cdc_reset(void);
void cdc_open(void);
bool cdc_control(usbd_stage_t stage, const usb_setup_t *s, const uint8_t *data, usbd_reply_t *reply);
bool cdc_xfer(uint8_t ep_addr, uint16_t len);
/* Queue console output (dropped when the queue is full, as a port nobody reads). */
void cdc_write(const char *text, size_t len);
/* Log lines (`log on|off`, off at power-on): is logging on; queue one whole line, or drop it and
 * count it (shown by `log`) when the queue lacks room, so the firmware never waits for a reader. */
bool cdc_log_enabled(void);
void cdc_log_line(const char *text, size_t len);

#endif

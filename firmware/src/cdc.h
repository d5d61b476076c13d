/* cdc.h: CDC ACM console: line coding (the 1200-baud touch reboots into BOOTSEL), control line
 * state, and the console interpreter over the CDC bulk endpoints. */
#ifndef CDC_H
#define CDC_H

#include <stdbool.h>
#include <stddef.h>

#include "usbd.h"

extern const usbd_class_t cdc_class;
/* Queue console output (dropped when the queue is full, as a port nobody reads). */
void cdc_write(const char *text, size_t len);
/* Log lines (`log on|off`, off at power-on): is logging on; queue one whole line, or drop it and
 * count it (shown by `log`) when the queue lacks room, so the firmware never waits for a reader. */
bool cdc_log_enabled(void);
void cdc_log_line(const char *text, size_t len);

#endif

/* cdc.h: CDC ACM console: line coding (the 1200-baud touch reboots into BOOTSEL), control line
 * state, and the console interpreter over the CDC bulk endpoints. */
#ifndef CDC_H
#define CDC_H

#include <stddef.h>

#include "usbd.h"

extern const usbd_class_t cdc_class;
/* Queue console output (dropped when the queue is full, as a port nobody reads). */
void cdc_write(const char *text, size_t len);

#endif

/* app.h: glue between drivers: the shared alarm (each driver says when it next needs to run). */
#ifndef APP_H
#define APP_H

#include <stdint.h>

#define APP_NEVER UINT64_MAX

/* Recompute the earliest due time of all drivers and set the board alarm for it. */
void app_reschedule(void);
/* Driver hooks the alarm calls: do what is due at `now`, return the next due time or APP_NEVER. */
uint64_t midi_poll(uint64_t now);
uint64_t vendor_poll(uint64_t now);

#endif

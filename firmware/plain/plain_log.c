/* plain_log.c: the plain device has no console, so the event log hooks src/usbd.c calls do nothing. */
#include "log.h"

void log_bus_reset(void) {}
void log_configuration(uint8_t value) { (void)value; }
void log_stall(const usb_setup_t *s) { (void)s; }

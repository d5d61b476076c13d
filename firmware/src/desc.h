/* desc.h: descriptors: device and configuration bytes from the generated contract header, and
 * string descriptors (UTF-16LE) including the serial number built from the flash unique ID. */
#ifndef DESC_H
#define DESC_H

#include <stddef.h>
#include <stdint.h>

/* Set the 8-byte unique ID the serial-number string is made of (16 upper-case hex digits). */
void desc_set_unique_id(const uint8_t id[8]);
/* Write 16 upper-case hex digits of `id` (first byte first) to `out` (no terminator). */
void desc_hex_id(const uint8_t id[8], char out[16]);
/* Write descriptor (type, index) for language `langid` into buf; returns its length or -1 when
 * the device has no such descriptor (the request is then STALLed). */
int desc_get(uint8_t type, uint8_t index, uint16_t langid, uint8_t *buf, size_t cap);

#endif

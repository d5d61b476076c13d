/* crc32.h: CRC-32 as IEEE 802.3 / zlib.crc32 (reflected 0xEDB88320), table driven, incremental. */
#ifndef CRC32_H
#define CRC32_H

#include <stddef.h>
#include <stdint.h>

void crc32_init(void);
/* Continue a zlib-style CRC: crc32_update(0, ...) starts one; chain calls for pieces. */
uint32_t crc32_update(uint32_t crc, const uint8_t *data, size_t len);

#endif

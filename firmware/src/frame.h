/* frame.h: the vendor frame format: header checks and stamping (contract FRAME_HEADER layout). */
#ifndef FRAME_H
#define FRAME_H

#include <stdint.h>

#include "rig_contract.h"

#define FRAME_HEADER_LEN ((uint32_t)sizeof(rig_frame_header_t))

typedef enum { FRAME_OK = 0, FRAME_BAD_HEADER, FRAME_BAD_CRC } frame_status_t;

/* Check a received frame of `total` bytes whose payload CRC-32 was computed as `payload_crc`:
 * magic, version, header_len, payload_len == total - header, payload_len <= max, then the CRC. */
frame_status_t frame_check(const rig_frame_header_t *h, uint32_t total, uint32_t payload_crc,
                           uint32_t max_payload);
/* Fill a header for a frame the device sends (SOURCE) or sends back (ECHO stamps over). */
void frame_fill_header(rig_frame_header_t *h, uint8_t flags, uint32_t seq, uint32_t payload_len,
                       uint32_t payload_crc, uint64_t rx_time_us, uint64_t tx_time_us);
/* SOURCE payload byte i of frame `seq`: a pattern the host can verify. */
static inline uint8_t frame_source_byte(uint32_t seq, uint32_t i) { return (uint8_t)(seq + i); }

#endif

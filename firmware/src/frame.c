/* frame.c: frame header checks (pure logic: also compiled into the host unit tests). */
#include "frame.h"

frame_status_t frame_check(const rig_frame_header_t *h, uint32_t total, uint32_t payload_crc,
                           uint32_t max_payload) {
    if (total < FRAME_HEADER_LEN || h->magic != RIG_FRAME_MAGIC || h->version != RIG_FRAME_VERSION ||
        h->header_len != FRAME_HEADER_LEN || h->payload_len > max_payload ||
        h->payload_len != total - FRAME_HEADER_LEN) {
        return FRAME_BAD_HEADER;
    }
    return h->payload_crc == payload_crc ? FRAME_OK : FRAME_BAD_CRC;
}

void frame_fill_header(rig_frame_header_t *h, uint8_t flags, uint32_t seq, uint32_t payload_len,
                       uint32_t payload_crc, uint64_t rx_time_us, uint64_t tx_time_us) {
    h->magic = RIG_FRAME_MAGIC;
    h->version = RIG_FRAME_VERSION;
    h->flags = flags;
    h->header_len = (uint16_t)FRAME_HEADER_LEN;
    h->seq = seq;
    h->payload_len = payload_len;
    h->payload_crc = payload_crc;
    h->reserved = 0u;
    h->rx_time_us = rx_time_us;
    h->tx_time_us = tx_time_us;
}

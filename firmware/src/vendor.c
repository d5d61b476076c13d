/* vendor.c: vendor requests and the frame engine. */
#include "vendor.h"

#include <stddef.h>

#include "app.h"
#include "board.h"
#include "board_dma.h"
#include "crc32.h"
#include "dcd.h"
#include "frame.h"
#include "log.h"
#include "midi.h"
#include "midi_core.h"
#include "rig_contract.h"
#include "ring.h"
#include "stats.h"

#define PKT RIG_BULK_PACKET_SIZE
#define SLOT_BYTES (FRAME_HEADER_LEN + RIG_FRAME_MAX_PAYLOAD)
/* Slack after each slot: DMA rounds the last packet up to whole words. */
#define SLOT_STRIDE (SLOT_BYTES + 16u)

static uint8_t slots[RIG_FRAME_RING_SLOTS][SLOT_STRIDE] __attribute__((aligned(4)));
static ring_t ring;
static rig_frame_mode_config_t mode;

static struct {
    uint32_t len;     /* bytes of the transfer so far */
    uint32_t crc;     /* CRC-32 of the payload bytes so far */
    bool overflow;    /* longer than a slot: rest discarded, frame bad */
    bool blocked;     /* OUT left unarmed because the ring is full */
    uint32_t expected_seq;
} rx;

static struct {
    int slot;         /* slot being sent, -1 when idle */
    uint32_t off;
    uint32_t total;
    uint16_t last;    /* size of the last packet sent */
    uint32_t seq;
} tx = {.slot = -1};

static struct {
    bool active;
    uint32_t sent;    /* frames generated */
    uint64_t next_due;
} src;

static void arm_out(void) {
    if (ring_full(&ring)) {
        if (!rx.blocked) {
            g_stats.ring_full_naks++;
            log_ring_full(ring.count);
        }
        rx.blocked = true;
        return;
    }
    rx.blocked = false;
    dcd_ep_arm_out(RIG_EP_FRAME_OUT, PKT);
}

static rig_frame_header_t *slot_header(int slot) { return (rig_frame_header_t *)(void *)slots[slot]; }

static void send_packet(void) {
    uint32_t n = tx.total - tx.off;
    if (n > PKT) {
        n = PKT;
    }
    board_dma_copy(dcd_ep_buffer(RIG_EP_FRAME_IN), slots[tx.slot] + tx.off, n);
    tx.last = (uint16_t)n;
    dcd_ep_arm_in(RIG_EP_FRAME_IN, (uint16_t)n);
}

static void start_tx(void) {
    if (tx.slot >= 0 || !usbd_configured()) {
        return;
    }
    int slot = ring_head(&ring);
    if (slot < 0) {
        return;
    }
    tx.slot = slot;
    tx.off = 0u;
    tx.total = FRAME_HEADER_LEN + slot_header(slot)->payload_len;
    send_packet();
}

/* Hold the filled tail slot; frames get their device seq and tx time as they are queued. */
static void queue_frame(void) {
    ring_push(&ring);
    if (ring.count > g_stats.ring_high_water) {
        g_stats.ring_high_water = ring.count;
    }
}

/* Generate SOURCE frames that are due while the ring has room. */
static void source_fill(uint64_t now) {
    while (src.active && !ring_full(&ring) && now >= src.next_due) {
        if (mode.count != 0u && src.sent >= mode.count) {
            src.active = false;
            break;
        }
        int slot = ring_tail(&ring);
        uint8_t *payload = slots[slot] + FRAME_HEADER_LEN;
        uint32_t seq = tx.seq++;
        for (uint32_t i = 0; i < mode.payload_len; i++) {
            payload[i] = frame_source_byte(seq, i);
        }
        uint32_t crc = crc32_update(0u, payload, mode.payload_len);
        frame_fill_header(slot_header(slot), RIG_FRAME_FLAG_SOURCED, seq, mode.payload_len, crc, 0u,
                          board_time_us());
        queue_frame();
        src.sent++;
        src.next_due = mode.interval_us == 0u ? now : src.next_due + mode.interval_us;
    }
}

uint64_t vendor_poll(uint64_t now) {
    if (!src.active || !usbd_configured()) {
        return APP_NEVER;
    }
    source_fill(now);
    start_tx();
    if (!src.active || ring_full(&ring)) {
        return APP_NEVER; /* the next IN completion frees a slot and calls us again */
    }
    return src.next_due;
}

/* A received frame ends: check and count it; in ECHO keep it (`h` is then its ring slot's header). */
static void finish_rx(rig_frame_header_t *h) {
    uint32_t total = rx.len;
    bool keep = false;
    if (total != 0u) {
        frame_status_t st = rx.overflow ? FRAME_BAD_HEADER
                                        : frame_check(h, total, rx.crc, RIG_FRAME_MAX_PAYLOAD);
        if (st == FRAME_BAD_HEADER) {
            g_stats.frames_bad_header++;
            log_frame_bad_header(total);
        } else if (st == FRAME_BAD_CRC) {
            g_stats.frames_bad_crc++;
            log_frame_bad_crc(h->seq);
        } else {
            g_stats.frames_rx++;
            g_stats.frame_bytes_rx += h->payload_len;
            if (h->seq != rx.expected_seq) {
                g_stats.frames_seq_gap++;
                log_frame_seq_gap(h->seq, rx.expected_seq);
            }
            rx.expected_seq = h->seq + 1u;
            if (mode.mode == RIG_FRAME_MODE_ECHO) {
                h->flags = RIG_FRAME_FLAG_ECHOED;
                h->seq = tx.seq++;
                h->rx_time_us = board_time_us();
                h->tx_time_us = board_time_us();
                keep = true;
            }
        }
    }
    rx.len = 0u;
    rx.crc = 0u;
    rx.overflow = false;
    if (keep) {
        queue_frame();
        start_tx();
    }
}

/* The frame in `slot` has all the bytes its (good) header announces. */
static bool frame_complete(const rig_frame_header_t *h) {
    if (rx.overflow || rx.len < FRAME_HEADER_LEN) {
        return false;
    }
    return h->magic == RIG_FRAME_MAGIC && h->header_len == FRAME_HEADER_LEN &&
           h->payload_len <= RIG_FRAME_MAX_PAYLOAD && rx.len == FRAME_HEADER_LEN + h->payload_len;
}

static int32_t held_len = -1; /* OUT packet waiting in DPRAM for a free slot, -1 when none */

/* In SOURCE a received frame is checked and counted but never kept, so it takes no ring slot: only its
 * header is stored, and its payload's CRC computed as the packets arrive. */
static rig_frame_header_t unkept_header;

static void on_out_unkept(uint16_t len) {
    const uint8_t *buf = dcd_ep_buffer(RIG_EP_FRAME_OUT);
    uint8_t *header = (uint8_t *)&unkept_header;
    uint32_t start = rx.len;
    uint32_t end = rx.len + len;
    for (uint32_t i = start; i < end && i < FRAME_HEADER_LEN; i++) {
        header[i] = buf[i - start];
    }
    if (end > FRAME_HEADER_LEN) {
        uint32_t from = start > FRAME_HEADER_LEN ? start : FRAME_HEADER_LEN;
        rx.crc = crc32_update(rx.crc, buf + (from - start), end - from);
    }
    if (end > SLOT_BYTES) {
        rx.overflow = true;
    }
    rx.len = end;
    if (len < PKT || frame_complete(&unkept_header)) {
        finish_rx(&unkept_header);
    }
    dcd_ep_arm_out(RIG_EP_FRAME_OUT, PKT); /* SOURCE never holds input back */
}

static void on_out(uint16_t len) {
    if (mode.mode == RIG_FRAME_MODE_SOURCE) {
        on_out_unkept(len);
        return;
    }
    int slot = ring_tail(&ring);
    if (slot < 0) {
        /* Only after leaving SOURCE with a full ring while OUT was armed: keep the packet in its
         * DPRAM buffer (OUT stays unarmed) and take it when a slot frees. */
        held_len = (int32_t)len;
        rx.blocked = true;
        return;
    }
    if (!rx.overflow && rx.len + len <= SLOT_BYTES) {
        uint8_t *dst = slots[slot] + rx.len;
        board_dma_copy(dst, dcd_ep_buffer(RIG_EP_FRAME_OUT), len);
        uint32_t start = rx.len;
        uint32_t end = rx.len + len;
        if (end > FRAME_HEADER_LEN) {
            uint32_t from = start > FRAME_HEADER_LEN ? start : FRAME_HEADER_LEN;
            rx.crc = crc32_update(rx.crc, slots[slot] + from, end - from);
        }
    } else {
        rx.overflow = true;
    }
    rx.len += len;
    /* A transfer ends with a short packet, or with the full packet that completes the length its
     * header gives: a host does not send a ZLP after a frame that fills its last packet (libusb does
     * not). A ZLP that does follow such a frame is an empty transfer and is ignored. */
    if (len < PKT || frame_complete(slot_header(slot))) {
        finish_rx(slot_header(slot));
    }
    arm_out();
}

static void on_in_done(void) {
    if (tx.slot < 0) {
        return;
    }
    tx.off += tx.last;
    if (tx.off < tx.total) {
        send_packet();
        return;
    }
    if (tx.last == PKT) { /* ended on a packet boundary: a ZLP ends the transfer */
        tx.last = 0u;
        dcd_ep_arm_in(RIG_EP_FRAME_IN, 0u);
        return;
    }
    g_stats.frames_tx++;
    g_stats.frame_bytes_tx += slot_header(tx.slot)->payload_len;
    ring_pop(&ring);
    tx.slot = -1;
    if (held_len >= 0) {
        uint16_t len = (uint16_t)held_len;
        held_len = -1;
        on_out(len);
    } else if (rx.blocked) {
        arm_out();
    }
    if (src.active) {
        source_fill(board_time_us());
        app_reschedule();
    }
    start_tx();
}

bool vendor_xfer(uint8_t ep_addr, uint16_t len) {
    if (ep_addr == RIG_EP_FRAME_OUT) {
        on_out(len);
        return true;
    }
    if (ep_addr == RIG_EP_FRAME_IN) {
        on_in_done();
        return true;
    }
    return false;
}

static void frames_reset(void) {
    ring_init(&ring, RIG_FRAME_RING_SLOTS);
    held_len = -1;
    rx.len = 0u;
    rx.crc = 0u;
    rx.overflow = false;
    rx.blocked = false;
    rx.expected_seq = 0u;
    tx.slot = -1;
    tx.seq = 0u;
    src.active = false;
    src.sent = 0u;
}

void vendor_reset(void) { frames_reset(); }

void vendor_open(void) {
    dcd_ep_open(RIG_EP_FRAME_OUT, USB_EP_TYPE_BULK);
    dcd_ep_open(RIG_EP_FRAME_IN, USB_EP_TYPE_BULK);
    frames_reset();
    arm_out();
    if (mode.mode == RIG_FRAME_MODE_SOURCE) {
        src.active = true;
        src.next_due = board_time_us();
        app_reschedule();
    }
}

/* The dcd keeps the packet a halt interrupted and sends it after (as DATA0): nothing to resend. */
void vendor_halt_cleared(uint8_t ep_addr) {
    if (ep_addr == RIG_EP_FRAME_OUT && !dcd_ep_armed(ep_addr) && !rx.blocked && held_len < 0) {
        arm_out();
    }
}


uint32_t vendor_capabilities(void) {
    return RIG_CAPABILITY_MIDI | RIG_CAPABILITY_FRAMES | RIG_CAPABILITY_CONSOLE | RIG_CAPABILITY_DMA |
           RIG_CAPABILITY_TIMESTAMPS | RIG_CAPABILITY_BOOTLOADER;
}

static void reboot_after_status(void) { board_reboot_bootloader(); }

static bool frame_mode_valid(const rig_frame_mode_config_t *m) {
    return m->mode <= RIG_FRAME_MODE_SINK && m->reserved0 == 0u && m->reserved1 == 0u &&
           m->payload_len <= RIG_FRAME_MAX_PAYLOAD;
}

static void apply_frame_mode(const rig_frame_mode_config_t *m) {
    mode = *m;
    src.active = false;
    /* A mode change starts new streams: sequence numbers restart at 0 in both directions. */
    rx.expected_seq = 0u;
    tx.seq = 0u;
    /* A frame half received under the old mode is dropped, and the ring is emptied: a frame half
     * sent is taken back from the controller, queued frames are dropped. */
    rx.len = 0u;
    rx.crc = 0u;
    rx.overflow = false;
    if (tx.slot >= 0) {
        dcd_ep_cancel(RIG_EP_FRAME_IN);
        tx.slot = -1;
    }
    ring_init(&ring, RIG_FRAME_RING_SLOTS);
    held_len = -1;
    if (rx.blocked && usbd_configured()) {
        rx.blocked = false;
        dcd_ep_arm_out(RIG_EP_FRAME_OUT, PKT);
    }
    if (mode.mode == RIG_FRAME_MODE_SOURCE && usbd_configured()) {
        src.active = true;
        src.sent = 0u;
        src.next_due = board_time_us();
        app_reschedule();
    }
}

#define REPLY(ptr, n)                                                                              \
    do {                                                                                           \
        reply->data = (const uint8_t *)(ptr);                                                      \
        reply->len = (uint16_t)(n);                                                                \
    } while (0)

/* A SET_*_MODE request: OUT with exactly one `size`-byte config, else false (STALL). At the DATA
 * stage the config is copied out of the control buffer into `cfg`. */
static bool take_config(usbd_stage_t stage, const usb_setup_t *s, const uint8_t *data, void *cfg,
                        size_t size) {
    if ((s->bmRequestType & USB_DIR_IN) != 0u || s->wLength != size) {
        return false;
    }
    if (stage == USBD_STAGE_DATA) {
        uint8_t *p = cfg;
        for (size_t i = 0; i < size; i++) {
            p[i] = data[i];
        }
    }
    return true;
}

/* Reply with a copy of `size` bytes of `src` in the control buffer: what was true when the request
 * came, whatever changes while the data stage goes out. Returns true (the request is answered). */
static bool reply_copy(usbd_reply_t *reply, uint8_t *buf, const void *src, size_t size) {
    const uint8_t *p = src;
    for (size_t i = 0; i < size; i++) {
        buf[i] = p[i];
    }
    REPLY(buf, size);
    return true;
}

bool vendor_request(usbd_stage_t stage, const usb_setup_t *s, const uint8_t *data, usbd_reply_t *reply) {
    bool in = (s->bmRequestType & USB_DIR_IN) != 0u;
    uint8_t *buf = usbd_ctrl_buffer();
    if (s->wIndex != 0u || s->wValue != 0u) {
        return false;
    }
    switch (s->bRequest) {
    case RIG_REQUEST_GET_INFO: {
        if (!in) {
            return false;
        }
        rig_info_t *info = (rig_info_t *)(void *)buf;
        info->contract_version = RIG_CONTRACT_VERSION;
        info->fw_major = RIG_FW_MAJOR;
        info->fw_minor = RIG_FW_MINOR;
        info->fw_patch = RIG_FW_PATCH;
        info->midi_cables = RIG_MIDI_CABLES;
        info->ring_slots = RIG_FRAME_RING_SLOTS;
        info->capabilities = vendor_capabilities();
        info->max_payload = RIG_FRAME_MAX_PAYLOAD;
        info->clock_hz = BOARD_CLK_SYS_HZ;
        const uint8_t *id = board_unique_id();
        for (unsigned i = 0; i < 8u; i++) {
            info->unique_id[i] = id[i];
        }
        REPLY(buf, sizeof *info);
        return true;
    }
    case RIG_REQUEST_GET_FRAMING:
#ifdef RIG_FRAMING_EX_LEN
        if (!in) {
            return false;
        }
        REPLY(rig_framing_ex, RIG_FRAMING_EX_LEN);
        return true;
#else
        return false;
#endif
    case RIG_REQUEST_SET_MIDI_MODE: {
        rig_midi_mode_config_t cfg;
        if (!take_config(stage, s, data, &cfg, sizeof cfg)) {
            return false;
        }
        if (stage == USBD_STAGE_DATA) {
            if (!midi_config_valid(&cfg)) {
                return false;
            }
            midi_set_mode(&cfg);
            log_midi_mode(&cfg);
        }
        return true;
    }
    case RIG_REQUEST_GET_MIDI_MODE:
        return in && reply_copy(reply, buf, midi_get_mode(), sizeof(rig_midi_mode_config_t));
    case RIG_REQUEST_SET_FRAME_MODE: {
        rig_frame_mode_config_t m;
        if (!take_config(stage, s, data, &m, sizeof m)) {
            return false;
        }
        if (stage == USBD_STAGE_DATA) {
            if (!frame_mode_valid(&m)) {
                return false;
            }
            apply_frame_mode(&m);
            log_frame_mode(&m);
        }
        return true;
    }
    case RIG_REQUEST_GET_FRAME_MODE:
        return in && reply_copy(reply, buf, &mode, sizeof mode);
    case RIG_REQUEST_GET_TIME: {
        if (!in) {
            return false;
        }
        uint64_t now = board_time_us();
        for (unsigned i = 0; i < 8u; i++) {
            buf[i] = (uint8_t)(now >> (8u * i));
        }
        REPLY(buf, 8u);
        return true;
    }
    case RIG_REQUEST_GET_STATS: {
        if (!in) {
            return false;
        }
        return reply_copy(reply, buf, &g_stats, sizeof g_stats);
    }
    case RIG_REQUEST_RESET_STATS:
        if (in || s->wLength != 0u) {
            return false;
        }
        stats_reset();
        rx.expected_seq = 0u;
        tx.seq = 0u;
        return true;
    case RIG_REQUEST_REBOOT_BOOTLOADER:
        if (in || s->wLength != 0u) {
            return false;
        }
        reply->after_status = reboot_after_status;
        return true;
    default:
        return false;
    }
}

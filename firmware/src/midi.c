/* midi.c: USB-MIDI endpoints: an IN queue of event packets (never dropped: OUT is left unarmed
 * while the queue cannot take a full packet's worth of replies), and the SOURCE generator. */
#include "midi.h"

#include <stddef.h>

#include "app.h"
#include "board.h"
#include "dcd.h"
#include "midi_core.h"
#include "ring.h"
#include "stats.h"

#define PKT RIG_BULK_PACKET_SIZE
#define EVENTS_PER_PKT (PKT / 4u)
#define QUEUE_SLOTS 256u

static uint8_t queue[QUEUE_SLOTS][4];
static ring_t q;
static rig_midi_mode_config_t cfg;
static bool out_blocked;
static uint16_t in_flight; /* events in the IN packet being sent, 0 when idle */
static struct {
    bool active;
    uint32_t event;     /* next event number (2 per pair) */
    uint64_t start_us;
    bool waited;        /* the current event already counted as waiting */
} src;

static void push(const uint8_t pkt[4]) {
    int slot = ring_tail(&q);
    for (int i = 0; i < 4; i++) {
        queue[slot][i] = pkt[i];
    }
    ring_push(&q);
}

static bool zlp_due; /* the last packet was full: end the transfer with a ZLP if nothing follows */

static void start_in(void) {
    if (in_flight != 0u || !usbd_configured() || dcd_ep_armed(RIG_EP_MIDI_IN)) {
        return;
    }
    if (ring_empty(&q)) {
        if (zlp_due) {
            zlp_due = false;
            dcd_ep_arm_in(RIG_EP_MIDI_IN, 0u);
        }
        return;
    }
    uint8_t *buf = dcd_ep_buffer(RIG_EP_MIDI_IN);
    uint16_t n = 0;
    uint16_t head = q.head;
    while (n < q.count && n < EVENTS_PER_PKT) {
        uint16_t slot = (uint16_t)((head + n) % QUEUE_SLOTS);
        for (int i = 0; i < 4; i++) {
            buf[4u * n + (uint16_t)i] = queue[slot][i];
        }
        n++;
    }
    in_flight = n;
    zlp_due = n == EVENTS_PER_PKT;
    dcd_ep_arm_in(RIG_EP_MIDI_IN, (uint16_t)(4u * n));
}

static void arm_out(void) {
    if (QUEUE_SLOTS - q.count < EVENTS_PER_PKT) {
        if (!out_blocked) {
            g_stats.midi_tx_overflow++;
        }
        out_blocked = true;
        return;
    }
    out_blocked = false;
    dcd_ep_arm_out(RIG_EP_MIDI_OUT, PKT);
}

static uint64_t event_due(uint32_t event) {
    return src.start_us + ((uint64_t)event * 1000000u) / cfg.rate_hz;
}

uint64_t midi_poll(uint64_t now) {
    if (!src.active || !usbd_configured()) {
        return APP_NEVER;
    }
    uint32_t total = cfg.count * 2u;
    while (src.active) {
        if (cfg.count != 0u && src.event >= total) {
            src.active = false;
            break;
        }
        uint64_t due = event_due(src.event);
        if (due > now) {
            start_in();
            return due;
        }
        if (ring_full(&q)) {
            if (!src.waited) {
                g_stats.midi_tx_overflow++;
                src.waited = true;
            }
            break; /* the IN completion polls again */
        }
        uint8_t pkt[4];
        midi_source_event(cfg.cable, src.event, pkt);
        push(pkt);
        src.event++;
        src.waited = false;
    }
    start_in();
    return APP_NEVER;
}

static void on_out(uint16_t len) {
    const uint8_t *buf = dcd_ep_buffer(RIG_EP_MIDI_OUT);
    uint16_t off = 0;
    for (; off + 4u <= len; off = (uint16_t)(off + 4u)) {
        uint8_t pkt[4] = {buf[off], buf[off + 1u], buf[off + 2u], buf[off + 3u]};
        midi_pkt_kind_t kind = midi_classify(pkt);
        if (kind == MIDI_PKT_PADDING) {
            continue;
        }
        /* Every packet but padding is received; a bad one is also counted bad and dropped. */
        g_stats.midi_rx_packets++;
        if (kind == MIDI_PKT_BAD) {
            g_stats.midi_rx_bad++;
            continue;
        }
        uint8_t reply[4];
        if (midi_respond(&cfg, pkt, reply)) {
            push(reply); /* room guaranteed: OUT is armed only with a packet's worth free */
        }
    }
    if (off < len) { /* a trailing partial packet: received, and bad */
        g_stats.midi_rx_packets++;
        g_stats.midi_rx_bad++;
    }
    start_in();
    arm_out();
}

static void on_in_done(void) {
    for (uint16_t i = 0; i < in_flight; i++) {
        ring_pop(&q);
    }
    g_stats.midi_tx_packets += in_flight;
    in_flight = 0u;
    if (out_blocked) {
        arm_out();
    }
    if (src.active) {
        app_reschedule();
    }
    start_in();
}

static bool midi_xfer(uint8_t ep_addr, uint16_t len) {
    if (ep_addr == RIG_EP_MIDI_OUT) {
        on_out(len);
        return true;
    }
    if (ep_addr == RIG_EP_MIDI_IN) {
        on_in_done();
        return true;
    }
    return false;
}

static void midi_reset(void) {
    ring_init(&q, QUEUE_SLOTS);
    out_blocked = false;
    in_flight = 0u;
    zlp_due = false;
    src.active = false;
}

static void start_source(void) {
    src.active = cfg.mode == RIG_MIDI_MODE_SOURCE && usbd_configured();
    src.event = 0u;
    src.waited = false;
    src.start_us = board_time_us();
    if (src.active) {
        app_reschedule();
    }
}

static void midi_open(void) {
    dcd_ep_open(RIG_EP_MIDI_OUT, USB_EP_TYPE_BULK);
    dcd_ep_open(RIG_EP_MIDI_IN, USB_EP_TYPE_BULK);
    midi_reset();
    arm_out();
    start_source();
}

/* The dcd keeps the packet a halt interrupted (and re-arms one in flight as DATA0): the events in
 * flight stay in flight, so nothing is sent twice. Only an OUT left unarmed needs arming. */
static void midi_halt_cleared(uint8_t ep_addr) {
    if (ep_addr == RIG_EP_MIDI_OUT && !dcd_ep_armed(ep_addr)) {
        arm_out();
    } else if (ep_addr == RIG_EP_MIDI_IN) {
        start_in();
    }
}

void midi_set_mode(const rig_midi_mode_config_t *c) {
    cfg = *c;
    /* A mode change empties the IN queue, as SET_FRAME_MODE empties the ring: the packet armed on
     * EP_MIDI_IN (or an owed ZLP) is taken back, queued events are dropped. */
    dcd_ep_cancel(RIG_EP_MIDI_IN);
    ring_init(&q, QUEUE_SLOTS);
    in_flight = 0u;
    zlp_due = false;
    if (out_blocked && usbd_configured()) {
        arm_out();
    }
    start_source();
}

const rig_midi_mode_config_t *midi_get_mode(void) { return &cfg; }

const usbd_class_t midi_class = {
    .itf_first = RIG_IF_AUDIO_CONTROL,
    .itf_count = 2u,
    .reset = midi_reset,
    .open = midi_open,
    .control = NULL,
    .xfer = midi_xfer,
    .halt_cleared = midi_halt_cleared,
};

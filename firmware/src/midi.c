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

static uint32_t queue[QUEUE_SLOTS]; /* event packets as words (midi_pkt_t) */
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

/* Queue one event packet (SOURCE); the caller makes sure there is room (a full ring takes nothing). */
static void push(uint32_t pkt) {
    if (ring_push(&q)) {
        queue[ring_wrap(&q, q.head, q.count - 1u)] = pkt;
    }
}

static bool zlp_due; /* the last packet was full: end the transfer with a ZLP if nothing follows */

/* The next IN packet (or ZLP) placed in the IN buffer: its length, or -1 when nothing goes now (a
 * packet in flight, or nothing queued and no ZLP due). Every caller runs while the device is
 * configured (a completion or halt on an open endpoint, or midi_poll, which checks). */
static inline __attribute__((always_inline)) int32_t fill_in(void) {
    if (in_flight != 0u || dcd_ep_armed(RIG_EP_MIDI_IN)) {
        return -1;
    }
    if (ring_empty(&q)) {
        if (zlp_due) {
            zlp_due = false;
            return 0;
        }
        return -1;
    }
    uint32_t *buf = (uint32_t *)(void *)dcd_ep_buffer(RIG_EP_MIDI_IN); /* word aligned */
    uint16_t n = q.count < EVENTS_PER_PKT ? q.count : (uint16_t)EVENTS_PER_PKT;
    uint16_t slot = q.head;
    for (uint16_t i = 0; i < n; i++) {
        buf[i] = queue[slot];
        slot = (uint16_t)((slot + 1u) % QUEUE_SLOTS);
    }
    in_flight = n;
    zlp_due = n == EVENTS_PER_PKT;
    return (int32_t)(4u * n);
}

/* Whether something may be due on IN: the cheap test, inline, before send_in's call (this runs on
 * every completion, mostly finding nothing to do: an IN completion with the queue empty). */
static inline __attribute__((always_inline)) bool in_maybe_due(void) {
    return in_flight == 0u && (!ring_empty(&q) || zlp_due);
}

/* fill_in's packet to the controller. */
static void send_in(void) {
    int32_t len = fill_in();
    if (len >= 0) {
        dcd_ep_arm_in(RIG_EP_MIDI_IN, (uint16_t)len);
    }
}

/* Send what is queued, if the endpoint can take it. */
static inline __attribute__((always_inline)) void start_in(void) {
    if (in_maybe_due()) {
        send_in();
    }
}

/* Whether OUT may be armed: only while the queue can take a full packet's worth of replies (an
 * overflow is counted once when OUT becomes blocked). */
static inline __attribute__((always_inline)) bool out_room(void) {
    if (QUEUE_SLOTS - q.count < EVENTS_PER_PKT) {
        if (!out_blocked) {
            g_stats.midi_tx_overflow++;
        }
        out_blocked = true;
        return false;
    }
    out_blocked = false;
    return true;
}

static inline __attribute__((always_inline)) void arm_out(void) {
    if (out_room()) {
        dcd_ep_arm_out(RIG_EP_MIDI_OUT, PKT);
    }
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
        midi_pkt_t pkt;
        midi_source_event(cfg.cable, src.event, pkt.b);
        push(pkt.word);
        src.event++;
        src.waited = false;
    }
    start_in();
    return APP_NEVER;
}

/* EP_MIDI_OUT's completion handler (midi_open routes it). */
static bool on_out(uint8_t ep_addr, uint16_t len) {
    (void)ep_addr;
    const uint32_t *buf = (const uint32_t *)(const void *)dcd_ep_buffer(RIG_EP_MIDI_OUT); /* word aligned */
    uint16_t whole = len / 4u;
    uint8_t mode = cfg.mode;
    /* Replies go in the queue's free slots in order, held once at the end. Room is guaranteed: OUT
     * is armed only with a packet's worth free. */
    uint16_t tail = ring_wrap(&q, q.head, q.count);
    uint16_t replies = 0;
    for (uint16_t i = 0; i < whole; i++) {
        midi_pkt_t pkt = {.word = buf[i]};
        midi_pkt_kind_t kind = midi_classify(pkt.b);
        if (kind == MIDI_PKT_PADDING) {
            continue;
        }
        /* Every packet but padding is received; a bad one is also counted bad and dropped. */
        g_stats.midi_rx_packets++;
        if (kind == MIDI_PKT_BAD) {
            g_stats.midi_rx_bad++;
            continue;
        }
        /* ECHO's reply is the packet itself (midi_respond's first case, taken here directly). */
        midi_pkt_t reply = pkt;
        if (mode == RIG_MIDI_MODE_ECHO || midi_respond(&cfg, pkt, &reply)) {
            queue[tail] = reply.word;
            tail = (uint16_t)((tail + 1u) % QUEUE_SLOTS);
            replies++;
        }
    }
    ring_hold(&q, replies);
    if (len % 4u != 0u) { /* a trailing partial packet: received, and bad */
        g_stats.midi_rx_packets++;
        g_stats.midi_rx_bad++;
    }
    int32_t in_len = fill_in(); /* start_in, inline here: fill_in makes start_in's tests itself */
    if (in_len >= 0) {
        dcd_ep_arm_in(RIG_EP_MIDI_IN, (uint16_t)in_len);
    }
    arm_out();
    return true;
}

/* EP_MIDI_IN's completion handler (midi_open routes it). */
static bool on_in_done(uint8_t ep_addr, uint16_t len) {
    (void)ep_addr;
    (void)len;
    ring_release(&q, in_flight);
    g_stats.midi_tx_packets += in_flight;
    in_flight = 0u;
    if (out_blocked) {
        arm_out();
    }
    if (src.active) {
        app_reschedule();
    }
    if (!ring_empty(&q) || zlp_due) {
        send_in(); /* in_flight is 0 here unless app_reschedule sent: fill_in checks again */
    }
    return true;
}

void midi_reset(void) {
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

void midi_open(void) {
    dcd_ep_open(RIG_EP_MIDI_OUT, USB_EP_TYPE_BULK);
    dcd_ep_open(RIG_EP_MIDI_IN, USB_EP_TYPE_BULK);
    /* Straight from the interrupt to the handler of each direction: no dispatch on every packet. */
    dcd_route(RIG_EP_MIDI_OUT, on_out);
    dcd_route(RIG_EP_MIDI_IN, on_in_done);
    midi_reset();
    arm_out();
    start_source();
}

/* The dcd keeps the packet a halt interrupted (and re-arms one in flight as DATA0): the events in
 * flight stay in flight, so nothing is sent twice. Only an OUT left unarmed needs arming. */
void midi_halt_cleared(uint8_t ep_addr) {
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


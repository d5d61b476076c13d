/* plain_midi.c: echo of USB-MIDI event packets (CIN 0 padding is dropped). OUT is armed only while
 * the queue has room for every armed packet's events, so nothing is lost; a full IN packet with
 * nothing after it is followed by a ZLP so the host's transfer ends. Built with DCD_DOUBLE_BUFFERED
 * (the double_buf variants) both endpoints keep two packets in the controller. Variants: PLAIN_VARIANT_BAD_CIN sends a
 * Note On back with CIN 8 (Note Off), PLAIN_VARIANT_DROP_LAST drops the last event of every OUT
 * packet that holds more than one. */
#include "plain_midi.h"

#include <stddef.h>

#include "dcd.h"
#include "ring.h"

#define EVENTS_PER_PKT (PLAIN_BULK_PACKET_SIZE / 4u)
#define QUEUE_SLOTS 128u

#ifdef DCD_DOUBLE_BUFFERED
#define PKTS_IN_FLIGHT 2u /* the IN endpoint double-buffers: two packets in the controller */
#define OUT_ARMED() dcd_ep_pending(PLAIN_EP_MIDI_OUT)
#else
#define PKTS_IN_FLIGHT 1u
#define OUT_ARMED() (dcd_ep_armed(PLAIN_EP_MIDI_OUT) ? 1u : 0u)
#endif

static uint8_t queue[QUEUE_SLOTS][4];
static ring_t q;
static uint16_t in_flight[PKTS_IN_FLIGHT]; /* events in each IN packet in flight, oldest first */
static uint16_t in_pkts;                   /* IN packets in flight */
static uint16_t in_events;                 /* events they hold (the queue's first ones) */
static bool zlp_due;

static void start_in(void) {
    while (in_pkts < PKTS_IN_FLIGHT && usbd_configured() && !dcd_ep_armed(PLAIN_EP_MIDI_IN)) {
        uint16_t n = 0;
        if (q.count == in_events) {
            if (!zlp_due) {
                return;
            }
            zlp_due = false;
        } else {
            uint8_t *buf = dcd_ep_buffer(PLAIN_EP_MIDI_IN);
            while (in_events + n < q.count && n < EVENTS_PER_PKT) {
                const uint8_t *ev = queue[(q.head + in_events + n) % QUEUE_SLOTS];
                for (unsigned i = 0; i < 4u; i++) {
                    buf[4u * n + i] = ev[i];
                }
                n++;
            }
            zlp_due = n == EVENTS_PER_PKT;
        }
        in_flight[in_pkts++] = n;
        in_events = (uint16_t)(in_events + n);
        dcd_ep_arm_in(PLAIN_EP_MIDI_IN, (uint16_t)(4u * n));
    }
}

/* OUT is armed only while the queue has room for every armed packet's events. */
static void arm_out(void) {
    unsigned armed = OUT_ARMED();
    while (QUEUE_SLOTS - q.count >= (armed + 1u) * EVENTS_PER_PKT && !dcd_ep_armed(PLAIN_EP_MIDI_OUT)) {
        dcd_ep_arm_out(PLAIN_EP_MIDI_OUT, PLAIN_BULK_PACKET_SIZE);
        if (OUT_ARMED() == armed) {
            return; /* the endpoint is closed */
        }
        armed = OUT_ARMED();
    }
}

static void on_out(uint16_t len) {
    const uint8_t *buf = dcd_ep_buffer(PLAIN_EP_MIDI_OUT);
    uint16_t events = len / 4u;
#ifdef PLAIN_VARIANT_DROP_LAST
    if (events > 1u) {
        events--;
    }
#endif
    for (uint16_t e = 0; e < events; e++) {
        const uint8_t *ev = &buf[4u * e];
        if ((ev[0] & 0x0Fu) == 0u) {
            continue; /* padding */
        }
        uint8_t *slot = queue[ring_tail(&q)];
        for (unsigned i = 0; i < 4u; i++) {
            slot[i] = ev[i];
        }
#ifdef PLAIN_VARIANT_BAD_CIN
        if ((ev[0] & 0x0Fu) == 0x9u) {
            slot[0] = (uint8_t)((ev[0] & 0xF0u) | 0x8u);
        }
#endif
        ring_push(&q);
    }
    start_in();
    arm_out();
}

static void on_in_done(void) {
    if (in_pkts == 0u) {
        return;
    }
    for (uint16_t i = 0; i < in_flight[0]; i++) {
        ring_pop(&q);
    }
    in_events = (uint16_t)(in_events - in_flight[0]);
#if PKTS_IN_FLIGHT > 1u
    in_flight[0] = in_flight[1];
#endif
    in_pkts--;
    start_in();
    arm_out();
}

bool plain_xfer(uint8_t ep_addr, uint16_t len) {
    if (ep_addr == PLAIN_EP_MIDI_OUT) {
        on_out(len);
    } else if (ep_addr == PLAIN_EP_MIDI_IN) {
        on_in_done();
    } else {
        return false;
    }
    return true;
}

void plain_reset(void) {
    ring_init(&q, QUEUE_SLOTS);
    in_pkts = 0u;
    in_events = 0u;
    zlp_due = false;
}

void plain_open(void) {
    dcd_ep_open(PLAIN_EP_MIDI_IN, PLAIN_MIDI_IN_TYPE);
    dcd_ep_open(PLAIN_EP_MIDI_OUT, USB_EP_TYPE_BULK);
    plain_reset();
    arm_out();
}

void plain_halt_cleared(uint8_t ep_addr) {
    if (ep_addr == PLAIN_EP_MIDI_OUT) {
        arm_out();
    } else if (ep_addr == PLAIN_EP_MIDI_IN) {
        start_in();
    }
}


/* plain_midi.c: echo of USB-MIDI event packets (CIN 0 padding is dropped). OUT is armed only while
 * the queue has room for a whole packet's events, so nothing is lost; a full IN packet with nothing
 * after it is followed by a ZLP so the host's transfer ends. Variants: PLAIN_VARIANT_BAD_CIN sends a
 * Note On back with CIN 8 (Note Off), PLAIN_VARIANT_DROP_LAST drops the last event of every OUT
 * packet that holds more than one. */
#include "plain_midi.h"

#include <stddef.h>

#include "dcd.h"
#include "ring.h"

#define EVENTS_PER_PKT (PLAIN_BULK_PACKET_SIZE / 4u)
#define QUEUE_SLOTS 128u

static uint8_t queue[QUEUE_SLOTS][4];
static ring_t q;
static uint16_t in_flight;
static bool zlp_due;

static void start_in(void) {
    if (in_flight != 0u || !usbd_configured() || dcd_ep_armed(PLAIN_EP_MIDI_IN)) {
        return;
    }
    if (ring_empty(&q)) {
        if (zlp_due) {
            zlp_due = false;
            dcd_ep_arm_in(PLAIN_EP_MIDI_IN, 0u);
        }
        return;
    }
    uint8_t *buf = dcd_ep_buffer(PLAIN_EP_MIDI_IN);
    uint16_t n = 0;
    while (n < q.count && n < EVENTS_PER_PKT) {
        const uint8_t *ev = queue[(q.head + n) % QUEUE_SLOTS];
        for (unsigned i = 0; i < 4u; i++) {
            buf[4u * n + i] = ev[i];
        }
        n++;
    }
    in_flight = n;
    zlp_due = n == EVENTS_PER_PKT;
    dcd_ep_arm_in(PLAIN_EP_MIDI_IN, (uint16_t)(4u * n));
}

static void arm_out(void) {
    if (QUEUE_SLOTS - q.count >= EVENTS_PER_PKT && !dcd_ep_armed(PLAIN_EP_MIDI_OUT)) {
        dcd_ep_arm_out(PLAIN_EP_MIDI_OUT, PLAIN_BULK_PACKET_SIZE);
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
    for (uint16_t i = 0; i < in_flight; i++) {
        ring_pop(&q);
    }
    in_flight = 0u;
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
    in_flight = 0u;
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


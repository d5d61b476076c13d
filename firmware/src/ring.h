/* ring.h: slot bookkeeping for a fixed ring (the frame ring and the MIDI IN queue): which slot is
 * filled next, which is sent next, how many are held. Indices only; storage belongs to the user.
 * The operations are inline and divide nothing (the M0+ has no divider): they sit on every
 * transfer's path. */
#ifndef RING_H
#define RING_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint16_t slots;
    uint16_t head;  /* oldest held slot */
    uint16_t count; /* slots held */
    uint16_t high_water;
} ring_t;

void ring_init(ring_t *r, uint16_t slots);
static inline bool ring_full(const ring_t *r) { return r->count == r->slots; }
static inline bool ring_empty(const ring_t *r) { return r->count == 0u; }

/* `index` + `n` (both < slots) wrapped into the ring. */
static inline uint16_t ring_wrap(const ring_t *r, uint32_t index, uint32_t n) {
    uint32_t i = index + n;
    return (uint16_t)(i >= r->slots ? i - r->slots : i);
}

/* Index of the slot to fill next, or -1 when the ring is full. */
static inline int ring_tail(const ring_t *r) {
    return ring_full(r) ? -1 : (int)ring_wrap(r, r->head, r->count);
}

/* Hold the slot ring_tail returned; false when full. */
static inline bool ring_push(ring_t *r) {
    if (ring_full(r)) {
        return false;
    }
    r->count++;
    if (r->count > r->high_water) {
        r->high_water = r->count;
    }
    return true;
}

/* Hold the `n` slots from ring_tail on, filled already (the caller made sure they are free). */
static inline void ring_hold(ring_t *r, uint16_t n) {
    r->count = (uint16_t)(r->count + n);
    if (r->count > r->high_water) {
        r->high_water = r->count;
    }
}

/* Index of the oldest held slot, or -1 when empty. */
static inline int ring_head(const ring_t *r) { return ring_empty(r) ? -1 : (int)r->head; }

/* Release the `n` oldest held slots (n <= count). */
static inline void ring_release(ring_t *r, uint16_t n) {
    r->head = ring_wrap(r, r->head, n);
    r->count = (uint16_t)(r->count - n);
}

/* Release the oldest held slot; false when empty. */
static inline bool ring_pop(ring_t *r) {
    if (ring_empty(r)) {
        return false;
    }
    ring_release(r, 1u);
    return true;
}

#endif

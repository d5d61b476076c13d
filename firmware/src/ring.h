/* ring.h: slot bookkeeping for a fixed ring (the frame ring and the MIDI IN queue): which slot is
 * filled next, which is sent next, how many are held. Indices only; storage belongs to the user. */
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
/* Index of the slot to fill next, or -1 when the ring is full. */
int ring_tail(const ring_t *r);
/* Hold the slot ring_tail returned; false when full. */
bool ring_push(ring_t *r);
/* Index of the oldest held slot, or -1 when empty. */
int ring_head(const ring_t *r);
/* Release the oldest held slot; false when empty. */
bool ring_pop(ring_t *r);

#endif

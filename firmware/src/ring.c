/* ring.c: slot bookkeeping (pure logic: also compiled into the host unit tests). */
#include "ring.h"

void ring_init(ring_t *r, uint16_t slots) {
    r->slots = slots;
    r->head = 0u;
    r->count = 0u;
    r->high_water = 0u;
}

int ring_tail(const ring_t *r) {
    if (ring_full(r)) {
        return -1;
    }
    return (int)((r->head + r->count) % r->slots);
}

bool ring_push(ring_t *r) {
    if (ring_full(r)) {
        return false;
    }
    r->count++;
    if (r->count > r->high_water) {
        r->high_water = r->count;
    }
    return true;
}

int ring_head(const ring_t *r) { return ring_empty(r) ? -1 : (int)r->head; }

bool ring_pop(ring_t *r) {
    if (ring_empty(r)) {
        return false;
    }
    r->head = (uint16_t)((r->head + 1u) % r->slots);
    r->count--;
    return true;
}

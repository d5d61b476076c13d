/* ring.c: slot bookkeeping (pure logic: also compiled into the host unit tests); the operations
 * themselves are inline in ring.h. */
#include "ring.h"

void ring_init(ring_t *r, uint16_t slots) {
    r->slots = slots;
    r->head = 0u;
    r->count = 0u;
    r->high_water = 0u;
}

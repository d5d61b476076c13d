/* stats.c: the Stats counters GET_STATS reports and RESET_STATS zeroes. */
#include "stats.h"

rig_stats_t g_stats __attribute__((aligned(4)));

void stats_reset(void) {
    volatile uint8_t *p = (volatile uint8_t *)&g_stats;
    for (unsigned i = 0; i < sizeof g_stats; i++) {
        p[i] = 0u;
    }
}

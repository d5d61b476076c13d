/* stats.h: the device's counters (the contract's Stats layout), shared by every driver. */
#ifndef STATS_H
#define STATS_H

#include "rig_contract.h"

/* Word aligned (the layout is packed, so without it every counter update is four byte accesses). */
extern rig_stats_t g_stats __attribute__((aligned(4)));
void stats_reset(void);

#endif

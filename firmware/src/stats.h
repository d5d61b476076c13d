/* stats.h: the device's counters (the contract's Stats layout), shared by every driver. */
#ifndef STATS_H
#define STATS_H

#include "rig_contract.h"

extern rig_stats_t g_stats;
void stats_reset(void);

#endif

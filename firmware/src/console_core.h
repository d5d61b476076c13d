/* console_core.h: the console's line interpreter (pure logic): bytes in; for each line ended by
 * CR or LF the reply lines, each ending CR LF, then the prompt. Input is not echoed; empty lines
 * get no reply. Commands: the contract's CONSOLE_COMMANDS. */
#ifndef CONSOLE_CORE_H
#define CONSOLE_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "rig_contract.h"

#define CONSOLE_MAX_LINE 256u

typedef struct {
    void (*write)(const char *text, size_t len);
    const rig_stats_t *(*stats)(void);
    uint64_t (*time_us)(void);
    void (*reset_stats)(void);
} console_host_t;

typedef struct {
    const console_host_t *host;
    char line[CONSOLE_MAX_LINE];
    size_t len;
} console_t;

void console_init(console_t *c, const console_host_t *host);
void console_feed(console_t *c, const uint8_t *data, size_t len);
void console_greet(console_t *c);
/* Decimal text of v into out (at least 21 bytes); returns the length (no terminator). */
size_t console_u64(uint64_t v, char *out);
/* The Stats field names in layout order (checked against rig.contract by the host tests). */
extern const char *const console_stat_names[];
extern const size_t console_stat_count;

#endif

/* console_core.h: the console's line interpreter (pure logic): bytes in; for each line ended by
 * CR or LF the reply lines, each ending CR LF, then the prompt. Input is not echoed; empty lines
 * get no reply. Commands: the contract's CONSOLE_COMMANDS.
 * Also the text of event log lines, "# <device time us> <event>[ <key>=<value>...]" CR LF: the
 * "# " first lets a reply parser (rig.client.console) tell them from replies; `log on|off` turns them on. */
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
    void (*log_set)(int on);             /* `log on|off` */
    int (*log_get)(uint32_t *dropped);   /* log state; lines dropped since power-on (queue full) */
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

/* One log line being built; text always has room for the CR LF that console_log_end adds. */
#define CONSOLE_LOG_PREFIX RIG_CONSOLE_LOG_PREFIX /* from the contract */
#define CONSOLE_LOG_MAX 112u
typedef struct {
    char text[CONSOLE_LOG_MAX];
    size_t len;
} console_log_t;
void console_log_begin(console_log_t *l, uint64_t time_us, const char *event);
void console_log_str(console_log_t *l, const char *key, const char *value);
void console_log_u32(console_log_t *l, const char *key, uint32_t value);
void console_log_hex8(console_log_t *l, const char *key, uint8_t value); /* key=0xAB */
void console_log_end(console_log_t *l);                                   /* appends CR LF */
/* Mode names as in rig.contract (MidiMode / FrameMode); NULL for a number that is no mode. */
const char *console_midi_mode_name(uint8_t mode);
const char *console_frame_mode_name(uint8_t mode);

#endif

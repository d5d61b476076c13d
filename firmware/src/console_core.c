/* console_core.c: console command interpreter (pure: also compiled into the host unit tests). */
#include "console_core.h"

const char *const console_stat_names[] = {
    "midi_rx_packets", "midi_tx_packets",  "midi_rx_bad",      "midi_tx_overflow", "frames_rx",
    "frames_tx",       "frame_bytes_rx",   "frame_bytes_tx",   "frames_bad_header", "frames_bad_crc",
    "frames_seq_gap",  "ring_full_naks",   "ring_high_water",  "control_requests", "control_stalls",
    "usb_resets",      "cdc_rx_bytes",     "cdc_tx_bytes",
};
const size_t console_stat_count = sizeof console_stat_names / sizeof console_stat_names[0];
_Static_assert(sizeof console_stat_names / sizeof console_stat_names[0] == sizeof(rig_stats_t) / 4u,
               "one name per Stats counter");

static const char *const command_names[RIG_CONSOLE_CMD_COUNT] = {
    RIG_CONSOLE_CMD_0, RIG_CONSOLE_CMD_1, RIG_CONSOLE_CMD_2, RIG_CONSOLE_CMD_3, RIG_CONSOLE_CMD_4,
    RIG_CONSOLE_CMD_5,
};
/* The docs of the commands, in the same order (rig.contract.CONSOLE_COMMANDS values). */
static const char *const command_docs[RIG_CONSOLE_CMD_COUNT] = {
    "list commands", "print firmware and contract version", "print every Stats counter as name=value",
    "print device time in microseconds", "zero the counters",
    "log [on|off]: event log lines ('# ' first) on or off (off at power-on); print the state",
};

static size_t cstrlen(const char *s) {
    size_t n = 0;
    while (s[n] != '\0') {
        n++;
    }
    return n;
}

static void put(console_t *c, const char *s) { c->host->write(s, cstrlen(s)); }

static void put_u64(console_t *c, uint64_t v) {
    char buf[24];
    size_t n = console_u64(v, buf);
    c->host->write(buf, n);
}

size_t console_u64(uint64_t v, char *out) {
    char tmp[21];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    for (size_t i = 0; i < n; i++) {
        out[i] = tmp[n - 1u - i];
    }
    return n;
}

static int word_is(const char *word, size_t len, const char *name) {
    size_t i = 0;
    for (; i < len; i++) {
        if (name[i] != word[i]) {
            return 0;
        }
    }
    return name[i] == '\0';
}

void console_init(console_t *c, const console_host_t *host) {
    c->host = host;
    c->len = 0u;
}

void console_greet(console_t *c) { put(c, RIG_CONSOLE_PROMPT); }

/* The word after the command, if any. */
static void second_word(const console_t *c, size_t from, const char **word, size_t *len) {
    size_t start = from;
    while (start < c->len && (c->line[start] == ' ' || c->line[start] == '\t')) {
        start++;
    }
    size_t end = start;
    while (end < c->len && c->line[end] != ' ' && c->line[end] != '\t') {
        end++;
    }
    *word = c->line + start;
    *len = end - start;
}

static void run_log(console_t *c, size_t after) {
    const char *arg;
    size_t alen;
    second_word(c, after, &arg, &alen);
    if (alen != 0u && word_is(arg, alen, "on")) {
        c->host->log_set(1);
    } else if (alen != 0u && word_is(arg, alen, "off")) {
        c->host->log_set(0);
    } else if (alen != 0u) {
        put(c, "error: usage: log [on|off]\r\n");
        return;
    }
    uint32_t dropped = 0u;
    put(c, c->host->log_get(&dropped) ? "log on dropped=" : "log off dropped=");
    put_u64(c, dropped);
    put(c, "\r\n");
}

/* A word as the contract shows it: bytes 0x21..0x7E other than backslash and quote as they are, any other
 * byte as \xNN (two lower-case hex digits), so a reply never carries control or high bytes. */
static void put_shown(console_t *c, const char *word, size_t len) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)word[i];
        if (b >= 0x21u && b <= 0x7Eu && b != (uint8_t)'\\' && b != (uint8_t)'\'') {
            c->host->write(&word[i], 1u);
        } else {
            const char esc[4] = {'\\', 'x', hex[b >> 4], hex[b & 0xFu]};
            c->host->write(esc, sizeof esc);
        }
    }
}

static void run(console_t *c) {
    /* First whitespace-separated word of the line. */
    size_t start = 0;
    while (start < c->len && (c->line[start] == ' ' || c->line[start] == '\t')) {
        start++;
    }
    size_t end = start;
    while (end < c->len && c->line[end] != ' ' && c->line[end] != '\t') {
        end++;
    }
    const char *word = c->line + start;
    size_t wlen = end - start;
    if (wlen == 0u) {
        /* blank */
    } else if (word_is(word, wlen, RIG_CONSOLE_CMD_0)) {
        for (size_t i = 0; i < RIG_CONSOLE_CMD_COUNT; i++) {
            put(c, command_names[i]);
            put(c, " - ");
            put(c, command_docs[i]);
            put(c, "\r\n");
        }
    } else if (word_is(word, wlen, RIG_CONSOLE_CMD_1)) {
        put(c, "firmware ");
        put_u64(c, RIG_FW_MAJOR);
        put(c, ".");
        put_u64(c, RIG_FW_MINOR);
        put(c, ".");
        put_u64(c, RIG_FW_PATCH);
        put(c, " contract ");
        put_u64(c, RIG_CONTRACT_VERSION);
        put(c, "\r\n");
    } else if (word_is(word, wlen, RIG_CONSOLE_CMD_2)) {
        const rig_stats_t *st = c->host->stats();
        const uint8_t *raw = (const uint8_t *)st;
        for (size_t i = 0; i < console_stat_count; i++) {
            const uint8_t *p = raw + 4u * i;
            uint32_t v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
            put(c, console_stat_names[i]);
            put(c, "=");
            put_u64(c, v);
            put(c, "\r\n");
        }
    } else if (word_is(word, wlen, RIG_CONSOLE_CMD_3)) {
        put_u64(c, c->host->time_us());
        put(c, "\r\n");
    } else if (word_is(word, wlen, RIG_CONSOLE_CMD_4)) {
        c->host->reset_stats();
        put(c, "ok\r\n");
    } else if (word_is(word, wlen, RIG_CONSOLE_CMD_5)) {
        run_log(c, end);
    } else {
        put(c, "error: unknown command '");
        put_shown(c, word, wlen);
        put(c, "' (try help)\r\n");
    }
    put(c, RIG_CONSOLE_PROMPT);
}

void console_feed(console_t *c, const uint8_t *data, size_t len) {
    for (size_t i = 0; i < len; i++) {
        uint8_t b = data[i];
        if (b == '\r' || b == '\n') {
            if (c->len != 0u) {
                run(c);
                c->len = 0u;
            }
        } else if (c->len < CONSOLE_MAX_LINE) {
            c->line[c->len++] = (char)b;
        }
    }
}

/* --- log lines ------------------------------------------------------------------------------ */

static void log_put(console_log_t *l, const char *s, size_t n) {
    for (size_t i = 0; i < n && l->len < CONSOLE_LOG_MAX - 2u; i++) { /* keep room for CR LF */
        l->text[l->len++] = s[i];
    }
}

void console_log_begin(console_log_t *l, uint64_t time_us, const char *event) {
    char num[24];
    l->len = 0u;
    log_put(l, CONSOLE_LOG_PREFIX, cstrlen(CONSOLE_LOG_PREFIX));
    log_put(l, num, console_u64(time_us, num));
    log_put(l, " ", 1u);
    log_put(l, event, cstrlen(event));
}

static void log_key(console_log_t *l, const char *key) {
    log_put(l, " ", 1u);
    log_put(l, key, cstrlen(key));
    log_put(l, "=", 1u);
}

void console_log_str(console_log_t *l, const char *key, const char *value) {
    log_key(l, key);
    log_put(l, value, cstrlen(value));
}

void console_log_u32(console_log_t *l, const char *key, uint32_t value) {
    char num[24];
    log_key(l, key);
    log_put(l, num, console_u64(value, num));
}

void console_log_hex8(console_log_t *l, const char *key, uint8_t value) {
    static const char digits[] = "0123456789ABCDEF";
    char hex[4] = {'0', 'x', digits[value >> 4], digits[value & 0xFu]};
    log_key(l, key);
    log_put(l, hex, sizeof hex);
}

void console_log_end(console_log_t *l) {
    l->text[l->len++] = '\r';
    l->text[l->len++] = '\n';
}

const char *console_midi_mode_name(uint8_t mode) {
    switch (mode) {
    case RIG_MIDI_MODE_ECHO: return "ECHO";
    case RIG_MIDI_MODE_TRANSFORM: return "TRANSFORM";
    case RIG_MIDI_MODE_SOURCE: return "SOURCE";
    case RIG_MIDI_MODE_SINK: return "SINK";
    default: return NULL;
    }
}

const char *console_frame_mode_name(uint8_t mode) {
    switch (mode) {
    case RIG_FRAME_MODE_ECHO: return "ECHO";
    case RIG_FRAME_MODE_SOURCE: return "SOURCE";
    case RIG_FRAME_MODE_SINK: return "SINK";
    default: return NULL;
    }
}

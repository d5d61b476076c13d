/* host_units.c: unit tests of the firmware's pure-logic modules, built for the host with plain gcc
 * (-std=c11 -Wall -Wextra -Werror) by test_host_units.py.
 *   host_units selftest            run the C assertions; exit status 0 when all pass
 *   host_units desc TYPE INDEX LANGID ID16HEX   print the descriptor as hex, or "none"
 *   host_units crc HEX             print CRC-32 of the bytes as 8 hex digits
 *   host_units console             feed stdin to the console interpreter, print its output
 *   host_units statnames           print the console's Stats names, one a line
 *   host_units logfmt              print one log line of each kind (fixed arguments)
 *   host_units frame FILE          check a frame file as the firmware checks a received transfer:
 *                                  "ok seq=S flags=F len=L crc=0xC rx=R tx=T", "bad-header" or "bad-crc" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_core.h"
#include "crc32.h"
#include "board.h"
#include "cdc.h"
#include "desc.h"
#include "frame.h"
#include "log.h"
#include "midi_core.h"
#include "ring.h"

static int failures;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);              \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void test_ring(void) {
    ring_t r;
    ring_init(&r, 3);
    CHECK(ring_empty(&r) && !ring_full(&r));
    CHECK(ring_head(&r) == -1 && !ring_pop(&r));
    CHECK(ring_tail(&r) == 0 && ring_push(&r));
    CHECK(ring_tail(&r) == 1 && ring_push(&r));
    CHECK(ring_tail(&r) == 2 && ring_push(&r));
    CHECK(ring_full(&r) && ring_tail(&r) == -1 && !ring_push(&r));
    CHECK(r.high_water == 3);
    CHECK(ring_head(&r) == 0 && ring_pop(&r));
    CHECK(ring_tail(&r) == 0 && ring_push(&r)); /* wraps */
    CHECK(ring_head(&r) == 1 && ring_pop(&r) && ring_head(&r) == 2 && ring_pop(&r));
    CHECK(ring_head(&r) == 0 && ring_pop(&r) && ring_empty(&r));
    /* Books balanced over many random operations: pushes == pops + count. */
    ring_init(&r, 8);
    unsigned pushes = 0, pops = 0, seed = 12345;
    for (int i = 0; i < 10000; i++) {
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) & 1u) {
            pushes += ring_push(&r) ? 1u : 0u;
        } else {
            pops += ring_pop(&r) ? 1u : 0u;
        }
        CHECK(r.count <= 8u && pushes == pops + r.count);
    }
}

static void test_crc(void) {
    const uint8_t check[] = "123456789";
    CHECK(crc32_update(0, check, 9) == 0xCBF43926u); /* the CRC-32 check value */
    CHECK(crc32_update(0, check, 0) == 0u);
    uint32_t part = crc32_update(0, check, 4);
    CHECK(crc32_update(part, check + 4, 5) == 0xCBF43926u); /* incremental */
}

static void test_frame(void) {
    uint8_t payload[100];
    for (unsigned i = 0; i < sizeof payload; i++) {
        payload[i] = frame_source_byte(7, i);
    }
    CHECK(payload[0] == 7 && payload[249 % 100] == (uint8_t)(7 + 49));
    uint32_t crc = crc32_update(0, payload, sizeof payload);
    rig_frame_header_t h;
    frame_fill_header(&h, RIG_FRAME_FLAG_FROM_HOST, 3, sizeof payload, crc, 0, 0);
    uint32_t total = FRAME_HEADER_LEN + sizeof payload;
    CHECK(frame_check(&h, total, crc, RIG_FRAME_MAX_PAYLOAD) == FRAME_OK);
    CHECK(frame_check(&h, total, crc ^ 1u, RIG_FRAME_MAX_PAYLOAD) == FRAME_BAD_CRC);
    CHECK(frame_check(&h, total - 1u, crc, RIG_FRAME_MAX_PAYLOAD) == FRAME_BAD_HEADER);
    CHECK(frame_check(&h, 10, crc, RIG_FRAME_MAX_PAYLOAD) == FRAME_BAD_HEADER);
    CHECK(frame_check(&h, total, crc, 99) == FRAME_BAD_HEADER);
    rig_frame_header_t bad = h;
    bad.magic ^= 1u;
    CHECK(frame_check(&bad, total, crc, RIG_FRAME_MAX_PAYLOAD) == FRAME_BAD_HEADER);
    bad = h;
    bad.version = 2;
    CHECK(frame_check(&bad, total, crc, RIG_FRAME_MAX_PAYLOAD) == FRAME_BAD_HEADER);
    bad = h;
    bad.header_len = 41;
    CHECK(frame_check(&bad, total, crc, RIG_FRAME_MAX_PAYLOAD) == FRAME_BAD_HEADER);
}

/* midi_respond on byte arrays, as the tests write packets. */
static bool respond(const rig_midi_mode_config_t *cfg, const uint8_t in[4], uint8_t out[4]) {
    midi_pkt_t pin, pout;
    memcpy(pin.b, in, 4);
    bool sent = midi_respond(cfg, pin, &pout);
    memcpy(out, pout.b, 4);
    return sent;
}

static void test_midi(void) {
    const uint8_t pad[4] = {0x00, 0, 0, 0}, cin1[4] = {0x01, 1, 2, 3}, cable1[4] = {0x19, 0x90, 60, 1};
    const uint8_t on[4] = {0x09, 0x90, 126, 100}, cc[4] = {0x0B, 0xB0, 7, 100};
    CHECK(midi_classify(pad) == MIDI_PKT_PADDING);
    CHECK(midi_classify(cin1) == MIDI_PKT_BAD);
    CHECK(midi_classify(cable1) == (RIG_MIDI_CABLES > 1 ? MIDI_PKT_GOOD : MIDI_PKT_BAD));
    CHECK(midi_classify(on) == MIDI_PKT_GOOD);
    rig_midi_mode_config_t cfg = {0};
    uint8_t out[4];
    cfg.mode = RIG_MIDI_MODE_ECHO;
    CHECK(respond(&cfg, on, out) && memcmp(out, on, 4) == 0);
    cfg.mode = RIG_MIDI_MODE_TRANSFORM;
    cfg.transpose = 5;
    CHECK(respond(&cfg, on, out) && out[2] == (126 + 5) % 128 && out[3] == 100);
    CHECK(respond(&cfg, cc, out) && memcmp(out, cc, 4) == 0);
    cfg.transpose = -127;
    CHECK(respond(&cfg, on, out) && out[2] == (126 + 128 - 127) % 128);
    cfg.mode = RIG_MIDI_MODE_SINK;
    CHECK(!respond(&cfg, on, out));
    cfg.mode = RIG_MIDI_MODE_SOURCE;
    CHECK(!respond(&cfg, on, out));
    midi_source_event(0, 2u * 300u, out);
    CHECK(out[0] == 0x09 && out[1] == 0x90 && out[2] == (300 & 0x7F) && out[3] == 1 + ((300 >> 7) % 127));
    midi_source_event(0, 2u * 300u + 1u, out);
    CHECK(out[0] == 0x08 && out[1] == 0x80 && out[2] == (300 & 0x7F) && out[3] == 0);
    cfg.rate_hz = 0;
    CHECK(!midi_config_valid(&cfg));
    cfg.rate_hz = 100000;
    CHECK(midi_config_valid(&cfg));
    cfg.rate_hz = 100001;
    CHECK(!midi_config_valid(&cfg));
    cfg.mode = 4;
    CHECK(!midi_config_valid(&cfg));
    cfg.mode = RIG_MIDI_MODE_ECHO;
    cfg.reserved = 1;
    CHECK(!midi_config_valid(&cfg));
}

static void test_console_u64(void) {
    char buf[24];
    size_t n = console_u64(0, buf);
    CHECK(n == 1 && buf[0] == '0');
    n = console_u64(18446744073709551615ull, buf);
    CHECK(n == 20 && memcmp(buf, "18446744073709551615", 20) == 0);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static size_t parse_hex(const char *text, uint8_t *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; text[i] && text[i + 1] && n < cap; i += 2) {
        out[n++] = (uint8_t)(hexval(text[i]) * 16 + hexval(text[i + 1]));
    }
    return n;
}

static rig_stats_t stats;
static void out_write(const char *text, size_t len) { fwrite(text, 1, len, stdout); }
static const rig_stats_t *get_stats(void) { return &stats; }
static uint64_t get_time(void) { return 1234567890123ull; }
static void do_reset(void) { memset(&stats, 0, sizeof stats); }
static int log_state;
static void log_set(int on) { log_state = on; }
static int log_get(uint32_t *dropped) {
    *dropped = 42u;
    return log_state;
}

static void test_log_line(void) {
    console_log_t l;
    console_log_begin(&l, 0u, "x");
    console_log_end(&l);
    CHECK(l.len == 7u && memcmp(l.text, "# 0 x\r\n", 7u) == 0);
    /* A line too long for the buffer is cut, and still ends with CR LF. */
    char longv[300];
    memset(longv, 'v', sizeof longv - 1u);
    longv[sizeof longv - 1u] = '\0';
    console_log_begin(&l, 18446744073709551615ull, "long");
    console_log_str(&l, "k", longv);
    console_log_u32(&l, "n", 4294967295u);
    console_log_end(&l);
    CHECK(l.len == CONSOLE_LOG_MAX && l.text[l.len - 2u] == '\r' && l.text[l.len - 1u] == '\n');
    CHECK(console_midi_mode_name(RIG_MIDI_MODE_SINK) != NULL && console_midi_mode_name(4) == NULL);
    CHECK(console_frame_mode_name(RIG_FRAME_MODE_SINK) != NULL && console_frame_mode_name(3) == NULL);
}

/* Stubs for firmware/src/log.c: device time, and a CDC queue that is stdout. */
static uint64_t fake_time;
uint64_t board_time_us(void) { return fake_time; }
bool cdc_log_enabled(void) { return true; }
void cdc_log_line(const char *text, size_t len) { fwrite(text, 1, len, stdout); }

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "selftest") == 0) {
        test_ring();
        test_crc();
        test_frame();
        test_midi();
        test_console_u64();
        test_log_line();
        if (failures) {
            fprintf(stderr, "%d check(s) failed\n", failures);
            return 1;
        }
        printf("ok\n");
        return 0;
    }
    if (argc == 6 && strcmp(argv[1], "desc") == 0) {
        uint8_t id[8] = {0};
        parse_hex(argv[5], id, 8);
        desc_set_unique_id(id);
        uint8_t buf[512];
        int n = desc_get((uint8_t)atoi(argv[2]), (uint8_t)atoi(argv[3]), (uint16_t)strtol(argv[4], NULL, 0), buf,
                         sizeof buf);
        if (n < 0) {
            printf("none\n");
            return 0;
        }
        for (int i = 0; i < n; i++) {
            printf("%02x", buf[i]);
        }
        printf("\n");
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "crc") == 0) {
        static uint8_t buf[65536];
        size_t n = parse_hex(argv[2], buf, sizeof buf);
        printf("%08x\n", crc32_update(0, buf, n));
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "console") == 0) {
        for (size_t i = 0; i < sizeof stats / 4u; i++) {
            ((uint32_t *)(void *)&stats)[i] = (uint32_t)(i * 1000u + 7u);
        }
        const console_host_t host = {out_write, get_stats, get_time, do_reset, log_set, log_get};
        console_t c;
        console_init(&c, &host);
        uint8_t buf[256];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
            console_feed(&c, buf, n);
        }
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "statnames") == 0) {
        for (size_t i = 0; i < console_stat_count; i++) {
            printf("%s\n", console_stat_names[i]);
        }
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "logfmt") == 0) {
        /* firmware/src/log.c's events with these stubs, in test_host_units.py's order. */
        fake_time = 1u;
        log_bus_reset();
        fake_time = 22u;
        log_configuration(1u);
        fake_time = 333u;
        log_configuration(0u);
        for (uint8_t m = 0; m < 5u; m++) {
            fake_time = 4000u + m;
            rig_midi_mode_config_t mm = {0};
            mm.mode = m;
            log_midi_mode(&mm);
        }
        for (uint8_t m = 0; m < 4u; m++) {
            fake_time = 5000u + m;
            rig_frame_mode_config_t fm = {0};
            fm.mode = m;
            log_frame_mode(&fm);
        }
        fake_time = 66u;
        const usb_setup_t setup = {.bmRequestType = 0xC0u, .bRequest = 0x0Au, .wValue = 0u, .wIndex = 0u,
                                   .wLength = 0u};
        log_stall(&setup);
        fake_time = 77u;
        log_frame_bad_header(10u);
        fake_time = 88u;
        log_frame_bad_crc(4294967295u);
        fake_time = 99u;
        log_frame_seq_gap(5u, 3u);
        fake_time = 18446744073709551615ull;
        log_ring_full(RIG_FRAME_RING_SLOTS);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "frame") == 0) {
        static uint8_t buf[FRAME_HEADER_LEN + RIG_FRAME_MAX_PAYLOAD + 1u];
        FILE *f = fopen(argv[2], "rb");
        if (f == NULL) {
            perror(argv[2]);
            return 2;
        }
        size_t total = fread(buf, 1, sizeof buf, f);
        fclose(f);
        rig_frame_header_t h;
        memset(&h, 0, sizeof h);
        memcpy(&h, buf, total < sizeof h ? total : sizeof h);
        uint32_t crc = total > FRAME_HEADER_LEN ? crc32_update(0u, buf + FRAME_HEADER_LEN, total - FRAME_HEADER_LEN)
                                                : 0u;
        frame_status_t st = frame_check(&h, (uint32_t)total, crc, RIG_FRAME_MAX_PAYLOAD);
        if (st == FRAME_OK) {
            printf("ok seq=%u flags=%u len=%u crc=0x%08X rx=%llu tx=%llu\n", (unsigned)h.seq, (unsigned)h.flags,
                   (unsigned)h.payload_len, (unsigned)h.payload_crc, (unsigned long long)h.rx_time_us,
                   (unsigned long long)h.tx_time_us);
        } else {
            printf("%s\n", st == FRAME_BAD_CRC ? "bad-crc" : "bad-header");
        }
        return 0;
    }
    fprintf(stderr, "usage: host_units selftest | desc T I LANGID ID | crc HEX | console | statnames | logfmt | "
                    "frame FILE\n");
    return 2;
}

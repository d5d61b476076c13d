/* log.c: the console's event log lines: "# <device time us> <event>[ key=value...]" CR LF. */
#include "log.h"

#include "board.h"
#include "cdc.h"
#include "console_core.h"

static console_log_t line;

static void begin(const char *event) { console_log_begin(&line, board_time_us(), event); }

static void send(void) {
    console_log_end(&line);
    cdc_log_line(line.text, line.len);
}

static void mode_field(const char *name, uint8_t mode) {
    if (name != NULL) {
        console_log_str(&line, "mode", name);
    } else {
        console_log_u32(&line, "mode", mode);
    }
}

void log_bus_reset(void) {
    if (cdc_log_enabled()) {
        begin("bus-reset");
        send();
    }
}

void log_configuration(uint8_t value) {
    if (cdc_log_enabled()) {
        if (value != 0u) {
            begin("configured");
            console_log_u32(&line, "value", value);
        } else {
            begin("unconfigured");
        }
        send();
    }
}

void log_midi_mode(const rig_midi_mode_config_t *m) {
    if (cdc_log_enabled()) {
        begin("midi-mode");
        mode_field(console_midi_mode_name(m->mode), m->mode);
        send();
    }
}

void log_frame_mode(const rig_frame_mode_config_t *m) {
    if (cdc_log_enabled()) {
        begin("frame-mode");
        mode_field(console_frame_mode_name(m->mode), m->mode);
        send();
    }
}

void log_stall(const usb_setup_t *s) {
    if (cdc_log_enabled()) {
        begin("stall");
        console_log_hex8(&line, "bmRequestType", s->bmRequestType);
        console_log_hex8(&line, "bRequest", s->bRequest);
        send();
    }
}

void log_frame_bad_header(uint32_t len) {
    if (cdc_log_enabled()) {
        begin("frame-error");
        console_log_str(&line, "kind", "header");
        console_log_u32(&line, "len", len);
        send();
    }
}

void log_frame_bad_crc(uint32_t seq) {
    if (cdc_log_enabled()) {
        begin("frame-error");
        console_log_str(&line, "kind", "crc");
        console_log_u32(&line, "seq", seq);
        send();
    }
}

void log_frame_seq_gap(uint32_t got, uint32_t expected) {
    if (cdc_log_enabled()) {
        begin("frame-error");
        console_log_str(&line, "kind", "seq");
        console_log_u32(&line, "seq", got);
        console_log_u32(&line, "expected", expected);
        send();
    }
}

void log_ring_full(uint32_t slots) {
    if (cdc_log_enabled()) {
        begin("ring-full");
        console_log_u32(&line, "slots", slots);
        send();
    }
}

/* cdc.c: the CDC ACM function (interfaces IF_CDC_COMM + IF_CDC_DATA). */
#include "cdc.h"

#include <stdbool.h>
#include <stdint.h>

#include "board.h"
#include "console_core.h"
#include "dcd.h"
#include "rig_contract.h"
#include "stats.h"

#define PKT RIG_BULK_PACKET_SIZE
#define TXQ 2048u
#define CDC_SET_LINE_CODING 0x20u
#define CDC_GET_LINE_CODING 0x21u
#define CDC_SET_CONTROL_LINE_STATE 0x22u

static uint8_t line_coding[7] = {0x00, 0xC2, 0x01, 0x00, 0, 0, 8}; /* 115200 8N1 */
static char txq[TXQ];
static uint16_t tx_head, tx_count, in_flight;
static bool open_;
static bool batching; /* console reply being built: send it in full packets */
static console_t console;

static bool zlp_due; /* the last packet was full: end the transfer with a ZLP if nothing follows */
/* Log lines: on/off and lines dropped because the queue had no room, both kept from power-on
 * (bus resets and SET_CONFIGURATION leave them alone, so "bus-reset" and "configured" show). */
static bool log_on;
static uint32_t log_dropped;

static void start_in(void) {
    if (in_flight != 0u || !open_ || dcd_ep_armed(RIG_EP_CDC_IN)) {
        return;
    }
    if (tx_count == 0u) {
        if (zlp_due) {
            zlp_due = false;
            dcd_ep_arm_in(RIG_EP_CDC_IN, 0u);
        }
        return;
    }
    uint8_t *buf = dcd_ep_buffer(RIG_EP_CDC_IN);
    uint16_t n = tx_count < PKT ? tx_count : (uint16_t)PKT;
    for (uint16_t i = 0; i < n; i++) {
        buf[i] = (uint8_t)txq[(tx_head + i) % TXQ];
    }
    in_flight = n;
    zlp_due = n == PKT;
    dcd_ep_arm_in(RIG_EP_CDC_IN, n);
}

void cdc_write(const char *text, size_t len) {
    for (size_t i = 0; i < len && tx_count < TXQ; i++) {
        txq[(tx_head + tx_count) % TXQ] = text[i];
        tx_count++;
    }
    if (!batching) {
        start_in();
    }
}

bool cdc_log_enabled(void) { return log_on; }

void cdc_log_line(const char *text, size_t len) {
    if (!log_on) {
        return;
    }
    if (TXQ - tx_count < len) {
        log_dropped++; /* whole lines only: nobody reads the port, and the firmware never waits */
        return;
    }
    cdc_write(text, len);
}

static void console_log_set(int on) { log_on = on != 0; }
static int console_log_get(uint32_t *dropped) {
    *dropped = log_dropped;
    return log_on;
}

static const rig_stats_t *console_stats(void) { return &g_stats; }
static const console_host_t console_host = {
    .write = cdc_write,
    .stats = console_stats,
    .time_us = board_time_us,
    .reset_stats = stats_reset,
    .log_set = console_log_set,
    .log_get = console_log_get,
};

void cdc_reset(void) {
    if (open_) {
        /* Output queued for the session that ends here is dropped; lines queued while no session
         * was open (log lines of the bus reset) wait for the next one. */
        tx_head = tx_count = 0u;
    }
    open_ = false;
    zlp_due = false;
    in_flight = 0u;
    console_init(&console, &console_host);
}

void cdc_open(void) {
    dcd_ep_open(RIG_EP_CDC_NOTIFY, USB_EP_TYPE_INTERRUPT);
    dcd_ep_open(RIG_EP_CDC_OUT, USB_EP_TYPE_BULK);
    dcd_ep_open(RIG_EP_CDC_IN, USB_EP_TYPE_BULK);
    cdc_reset();
    open_ = true;
    dcd_ep_arm_out(RIG_EP_CDC_OUT, PKT);
}

bool cdc_xfer(uint8_t ep_addr, uint16_t len) {
    if (ep_addr == RIG_EP_CDC_OUT) {
        g_stats.cdc_rx_bytes += len;
        batching = true;
        console_feed(&console, dcd_ep_buffer(RIG_EP_CDC_OUT), len);
        batching = false;
        start_in();
        dcd_ep_arm_out(RIG_EP_CDC_OUT, PKT);
        return true;
    }
    if (ep_addr == RIG_EP_CDC_IN) {
        g_stats.cdc_tx_bytes += in_flight;
        tx_head = (uint16_t)((tx_head + in_flight) % TXQ);
        tx_count = (uint16_t)(tx_count - in_flight);
        in_flight = 0u;
        start_in();
        return true;
    }
    return ep_addr == RIG_EP_CDC_NOTIFY;
}

static void touch_reboot(void) { board_reboot_bootloader(); }

/* PSTN 1.2 table 17: bCharFormat 0..2 (1, 1.5, 2 stop bits), bParityType 0..4, bDataBits 5..8 or 16. */
static bool line_coding_valid(const uint8_t *coding) {
    uint8_t bits = coding[6];
    return coding[4] <= 2u && coding[5] <= 4u && ((bits >= 5u && bits <= 8u) || bits == 16u);
}

bool cdc_control(usbd_stage_t stage, const usb_setup_t *s, const uint8_t *data, usbd_reply_t *reply) {
    if ((s->wIndex & 0xFFu) != RIG_IF_CDC_COMM) {
        return false;
    }
    switch (s->bRequest) {
    case CDC_SET_LINE_CODING:
        if (s->wLength != sizeof line_coding || (s->bmRequestType & USB_DIR_IN)) {
            return false;
        }
        if (stage == USBD_STAGE_DATA) {
            if (!line_coding_valid(data)) {
                return false;
            }
            for (unsigned i = 0; i < sizeof line_coding; i++) {
                line_coding[i] = data[i];
            }
            uint32_t baud = (uint32_t)data[0] | ((uint32_t)data[1] << 8) | ((uint32_t)data[2] << 16) |
                            ((uint32_t)data[3] << 24);
            if (baud == RIG_CONSOLE_BAUD_BOOTSEL) {
                reply->after_status = touch_reboot;
            }
        }
        return true;
    case CDC_GET_LINE_CODING:
        if (!(s->bmRequestType & USB_DIR_IN)) {
            return false;
        }
        reply->data = line_coding;
        reply->len = sizeof line_coding;
        return true;
    case CDC_SET_CONTROL_LINE_STATE:
        if (s->wValue & 1u) { /* DTR: a terminal opened the port */
            console_greet(&console);
        }
        return true;
    default: /* SEND_BREAK included: the ACM descriptor's bmCapabilities does not offer it */
        return false;
    }
}


/* main.c: bring-up and the idle loop. All USB and timer work runs in the two interrupt handlers
 * (same priority, so they never preempt each other); the main loop only sleeps in wfi. */
#include <stddef.h>

#include "app.h"
#include "board.h"
#include "board_dma.h"
#include "cdc.h"
#include "crc32.h"
#include "desc.h"
#include "hw_regs.h"
#include "midi.h"
#include "usbd.h"
#include "vendor.h"

/* The class drivers, one row each: the interfaces they own, then their functions (NULL: none). */
static const usbd_class_t classes[] = {
    /* first interface, count      reset         open         control      xfer         halt_cleared */
    {RIG_IF_AUDIO_CONTROL, 2u,     midi_reset,   midi_open,   NULL,        NULL,        midi_halt_cleared},
    {RIG_IF_VENDOR, 1u,            vendor_reset, vendor_open, NULL,        vendor_xfer, vendor_halt_cleared},
    {RIG_IF_CDC_COMM, 2u,          cdc_reset,    cdc_open,    cdc_control, cdc_xfer,    NULL},
};

void app_reschedule(void) {
    uint64_t now = board_time_us();
    uint64_t a = midi_poll(now);
    uint64_t b = vendor_poll(now);
    uint64_t next = a < b ? a : b;
    if (next == APP_NEVER) {
        board_alarm_cancel();
    } else {
        board_alarm_set(next);
    }
}

void board_alarm_fired(void) { app_reschedule(); }

int main(void) {
    board_clocks_init();
    board_unreset(RESET_TIMER | RESET_IO_QSPI | RESET_PADS_QSPI);
    board_dma_init();
    crc32_init();
    board_rom_init();
    board_unique_id_init();
    desc_set_unique_id(board_unique_id());
    usbd_init(classes, (uint8_t)(sizeof classes / sizeof classes[0]), vendor_request);
    for (;;) {
        hw_wfi();
    }
}

/* plain_main.c: bring-up of the plain USB-MIDI device: clocks, then the USB device core with one
 * class driver and no vendor requests (they STALL); the main loop sleeps in wfi. */
#include <stddef.h>

#include "board.h"
#include "dcd.h"
#include "hw_regs.h"
#include "plain_midi.h"
#include "usbd.h"

/* The one class driver: the interfaces it owns, then its functions (NULL: none). */
static const usbd_class_t classes[] = {
    /* first interface, count       reset        open        control  xfer        halt_cleared */
    {PLAIN_IF_AUDIO_CONTROL, 2u,    plain_reset, plain_open, NULL,    plain_xfer, plain_halt_cleared},
};

#ifdef DCD_POLL
#define POLL_US 1000u /* as often as a host sends SOF */

/* The buffers done without an interrupt (dcd_poll), every millisecond. */
void board_alarm_fired(void) {
    dcd_poll();
    board_alarm_set(board_time_us() + POLL_US);
}
#else
void board_alarm_fired(void) {}
#endif

int main(void) {
    board_clocks_init();
    board_unreset(RESET_TIMER);
#ifdef DCD_POLL
    board_alarm_set(board_time_us() + POLL_US);
#endif
    usbd_init(classes, (uint8_t)(sizeof classes / sizeof classes[0]), NULL);
    for (;;) {
        hw_wfi();
    }
}

/* plain_main.c: bring-up of the plain USB-MIDI device: clocks, then the USB device core with one
 * class driver and no vendor requests (they STALL); the main loop sleeps in wfi. */
#include <stddef.h>

#include "board.h"
#include "hw_regs.h"
#include "plain_midi.h"
#include "usbd.h"

/* The one class driver: the interfaces it owns, then its functions (NULL: none). */
static const usbd_class_t classes[] = {
    /* first interface, count       reset        open        control  xfer        halt_cleared */
    {PLAIN_IF_AUDIO_CONTROL, 2u,    plain_reset, plain_open, NULL,    plain_xfer, plain_halt_cleared},
};

void board_alarm_fired(void) {}

int main(void) {
    board_clocks_init();
    board_unreset(RESET_TIMER);
    usbd_init(classes, (uint8_t)(sizeof classes / sizeof classes[0]), NULL);
    for (;;) {
        hw_wfi();
    }
}

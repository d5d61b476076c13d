/* plain_main.c: bring-up of the plain USB-MIDI device: clocks, then the USB device core with one
 * class driver and no vendor requests (they STALL); the main loop sleeps in wfi. */
#include <stddef.h>

#include "board.h"
#include "hw_regs.h"
#include "plain_midi.h"
#include "usbd.h"

static const usbd_class_t *const classes[] = {&plain_midi_class};

void board_alarm_fired(void) {}

int main(void) {
    board_clocks_init();
    board_unreset(RESET_TIMER);
    usbd_init(classes, (uint8_t)(sizeof classes / sizeof classes[0]), NULL);
    for (;;) {
        hw_wfi();
    }
}

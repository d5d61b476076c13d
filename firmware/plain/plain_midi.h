/* plain_midi.h: the plain device's USB-MIDI 1.0 class driver: every event packet received on a cable
 * is sent back on the same cable (an echo, as a DIN loopback cable on each port would give). */
#ifndef PLAIN_MIDI_H
#define PLAIN_MIDI_H

#include "usbd.h"

/* Its usbd class table row (the Audio Control and MIDI Streaming interfaces; no class requests). */
void plain_reset(void);
void plain_open(void);
bool plain_xfer(uint8_t ep_addr, uint16_t len);
void plain_halt_cleared(uint8_t ep_addr);

#endif

/* plain_midi.h: the plain device's USB-MIDI 1.0 class driver: every event packet received on a cable
 * is sent back on the same cable (an echo, as a DIN loopback cable on each port would give). */
#ifndef PLAIN_MIDI_H
#define PLAIN_MIDI_H

#include "usbd.h"

extern const usbd_class_t plain_midi_class;

#endif

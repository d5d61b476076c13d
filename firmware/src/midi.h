/* midi.h: the USB-MIDI 1.0 class driver (Audio Control + MIDI Streaming interfaces, bulk
 * endpoints EP_MIDI_OUT / EP_MIDI_IN) running the contract's MIDI modes. */
#ifndef MIDI_H
#define MIDI_H

#include "rig_contract.h"
#include "usbd.h"

extern const usbd_class_t midi_class;
void midi_set_mode(const rig_midi_mode_config_t *cfg);
const rig_midi_mode_config_t *midi_get_mode(void);

#endif

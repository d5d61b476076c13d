/* midi.h: the USB-MIDI 1.0 class driver (Audio Control + MIDI Streaming interfaces, bulk
 * endpoints EP_MIDI_OUT / EP_MIDI_IN) running the contract's MIDI modes. */
#ifndef MIDI_H
#define MIDI_H

#include "rig_contract.h"
#include "usbd.h"

/* Its usbd class table row (interfaces RIG_IF_AUDIO_CONTROL and RIG_IF_MIDI_STREAMING; no class
 * requests; midi_open routes its endpoints itself, so no xfer). */
void midi_reset(void);
void midi_open(void);
void midi_halt_cleared(uint8_t ep_addr);
void midi_set_mode(const rig_midi_mode_config_t *cfg);
const rig_midi_mode_config_t *midi_get_mode(void);

#endif

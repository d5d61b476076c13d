/* midi_core.h: what the MIDI modes do to USB-MIDI 1.0 event packets (pure logic), mirroring the
 * contract: CIN 0 packets are padding, CIN 1 or a cable >= MIDI_CABLES is bad, TRANSFORM moves
 * note numbers of CIN 8/9/A by `transpose` mod 128, SOURCE makes numbered note-on/off pairs. */
#ifndef MIDI_CORE_H
#define MIDI_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "rig_contract.h"

typedef enum { MIDI_PKT_PADDING, MIDI_PKT_BAD, MIDI_PKT_GOOD } midi_pkt_kind_t;

midi_pkt_kind_t midi_classify(const uint8_t pkt[4]);
/* The reply to one good packet; false when the mode sends nothing back (SOURCE, SINK). */
bool midi_respond(const rig_midi_mode_config_t *cfg, const uint8_t in[4], uint8_t out[4]);
/* SOURCE event `event` (even: note-on of pair event/2, odd: its note-off) on `cable`. */
void midi_source_event(uint8_t cable, uint32_t event, uint8_t out[4]);
/* Validate a SET_MIDI_MODE data stage as the contract documents; false rejects (STALL). */
bool midi_config_valid(const rig_midi_mode_config_t *cfg);

#endif

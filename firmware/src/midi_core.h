/* midi_core.h: what the MIDI modes do to USB-MIDI 1.0 event packets (pure logic), mirroring the
 * contract: CIN 0 packets are padding, CIN 1 or a cable >= MIDI_CABLES is bad, TRANSFORM moves
 * note numbers of CIN 8/9/A by `transpose` mod 128, SOURCE makes numbered note-on/off pairs. */
#ifndef MIDI_CORE_H
#define MIDI_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "rig_contract.h"

typedef enum { MIDI_PKT_PADDING, MIDI_PKT_BAD, MIDI_PKT_GOOD } midi_pkt_kind_t;

/* One event packet as it lies in a USB buffer: four bytes, or one little-endian word. */
typedef union {
    uint32_t word;
    uint8_t b[4];
} midi_pkt_t;

/* midi_classify and midi_respond are inline: they run for every packet received. */
static inline midi_pkt_kind_t midi_classify(const uint8_t pkt[4]) {
    uint8_t cin = pkt[0] & 0x0Fu;
    if (cin == 0u) {
        return MIDI_PKT_PADDING;
    }
    if (cin == 1u || (pkt[0] >> 4) >= RIG_MIDI_CABLES) {
        return MIDI_PKT_BAD;
    }
    return MIDI_PKT_GOOD;
}

/* The reply to one good packet; false when the mode sends nothing back (SOURCE, SINK). */
static inline bool midi_respond(const rig_midi_mode_config_t *cfg, midi_pkt_t in, midi_pkt_t *out) {
    *out = in;
    switch (cfg->mode) {
    case RIG_MIDI_MODE_ECHO:
        return true;
    case RIG_MIDI_MODE_TRANSFORM: {
        uint8_t cin = in.b[0] & 0x0Fu;
        if (cin == 0x8u || cin == 0x9u || cin == 0xAu) {
            int note = ((int)in.b[2] + (int)cfg->transpose) % 128;
            if (note < 0) {
                note += 128;
            }
            out->b[2] = (uint8_t)note;
        }
        return true;
    }
    default:
        return false;
    }
}

/* SOURCE event `event` (even: note-on of pair event/2, odd: its note-off) on `cable`. */
void midi_source_event(uint8_t cable, uint32_t event, uint8_t out[4]);
/* Validate a SET_MIDI_MODE data stage as the contract documents; false rejects (STALL). */
bool midi_config_valid(const rig_midi_mode_config_t *cfg);

#endif

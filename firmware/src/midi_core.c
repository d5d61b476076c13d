/* midi_core.c: MIDI mode logic (pure: also compiled into the host unit tests). */
#include "midi_core.h"

void midi_source_event(uint8_t cable, uint32_t event, uint8_t out[4]) {
    uint32_t seq = event >> 1;
    uint8_t head = (uint8_t)((cable & 0x0Fu) << 4);
    out[2] = (uint8_t)(seq & 0x7Fu);
    if ((event & 1u) == 0u) {
        out[0] = head | 0x9u;
        out[1] = 0x90u;
        out[3] = (uint8_t)(1u + ((seq >> 7) % 127u));
    } else {
        out[0] = head | 0x8u;
        out[1] = 0x80u;
        out[3] = 0u;
    }
}

bool midi_config_valid(const rig_midi_mode_config_t *cfg) {
    if (cfg->mode > RIG_MIDI_MODE_SINK || cfg->reserved != 0u || cfg->cable >= RIG_MIDI_CABLES) {
        return false;
    }
    if (cfg->mode == RIG_MIDI_MODE_SOURCE && (cfg->rate_hz < 1u || cfg->rate_hz > 100000u)) {
        return false;
    }
    return true;
}

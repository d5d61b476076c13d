/* log.h: the console's event log lines (text from console_core, queued by cdc), one call per event
 * a user debugging the board wants to see; each costs one flag test while logging is off. */
#ifndef LOG_H
#define LOG_H

#include <stdint.h>

#include "rig_contract.h"
#include "usb_types.h"

void log_bus_reset(void);
void log_configuration(uint8_t value);             /* "configured value=N" / "unconfigured" */
void log_midi_mode(const rig_midi_mode_config_t *m);
void log_frame_mode(const rig_frame_mode_config_t *m);
void log_stall(const usb_setup_t *s);              /* a control request answered with STALL */
void log_frame_bad_header(uint32_t len);           /* transfer length */
void log_frame_bad_crc(uint32_t seq);
void log_frame_seq_gap(uint32_t got, uint32_t expected);
void log_ring_full(uint32_t slots);

#endif

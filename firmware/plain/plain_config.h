/* plain_config.h: the plain device's build configuration, given to every source with -include: its
 * IDs, interfaces and endpoints, and what the shared layers (src/usbd.c) need to know of them. It
 * is NOT our contract board: another VID:PID, two cables, 32-byte bulk packets, no vendor interface,
 * no CDC. Build variants (PLAIN_VARIANT_*) break one rule each so a test sees each check fail. */
#ifndef PLAIN_CONFIG_H
#define PLAIN_CONFIG_H

#define PLAIN_VID 0x1209u
#define PLAIN_PID 0x0002u /* pid.codes test PID, not the board's 0x0001 */
#define PLAIN_BCD_DEVICE 0x0100u
#define PLAIN_IF_AUDIO_CONTROL 0u
#define PLAIN_IF_MIDI_STREAMING 1u
#define PLAIN_EP_MIDI_IN 0x82u /* listed first in the descriptors, unlike the board */
#define PLAIN_EP_MIDI_OUT 0x03u
#define PLAIN_BULK_PACKET_SIZE 32u
#define PLAIN_CABLES 2u
/* The MIDI IN endpoint's transfer type and bInterval (ms; USB 2.0 9.6.6). PLAIN_VARIANT_INTERRUPT_IN
 * makes it an interrupt endpoint polled every 4 ms, so the emulator's host is seen to poll at
 * bInterval (USB 2.0 5.7.4); USB-MIDI 1.0 6.2.1 asks for bulk, so only that test runs it. */
#ifdef PLAIN_VARIANT_INTERRUPT_IN
#define PLAIN_MIDI_IN_TYPE USB_EP_TYPE_INTERRUPT
#define PLAIN_MIDI_IN_INTERVAL_MS 4u
#else
#define PLAIN_MIDI_IN_TYPE USB_EP_TYPE_BULK
#define PLAIN_MIDI_IN_INTERVAL_MS 0u
#endif

#define USBD_NUM_INTERFACES 2u
#define USBD_ITF_ENDPOINTS {PLAIN_IF_MIDI_STREAMING, PLAIN_EP_MIDI_IN}, {PLAIN_IF_MIDI_STREAMING, PLAIN_EP_MIDI_OUT}

#endif

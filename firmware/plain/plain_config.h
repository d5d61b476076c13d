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
/* EP0's max packet size (bMaxPacketSize0: 8, 16, 32 or 64; USB 2.0 9.6.1). The ep0_8, ep0_16 and
 * ep0_32 variants take a smaller one: a host reads the first device descriptor with a 64-byte guess,
 * takes the device's first 8/16/32-byte packet as short and may start the status stage at once
 * (USB 2.0 8.5.3.2), which the shared usbd does not accept yet: not supported (firmware/README.md). */
#if defined(PLAIN_VARIANT_EP0_8)
#define PLAIN_EP0_SIZE 8u
#elif defined(PLAIN_VARIANT_EP0_16)
#define PLAIN_EP0_SIZE 16u
#elif defined(PLAIN_VARIANT_EP0_32)
#define PLAIN_EP0_SIZE 32u
#else
#define PLAIN_EP0_SIZE 64u
#endif
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

/* PLAIN_VARIANT_DOUBLE_BUF: the bulk MIDI endpoints double-buffer (src/dcd_rp2040.c,
 * DCD_DOUBLE_BUFFERED). The PLAIN_VARIANT_DB_* variants do too, each breaking one of the emulator's
 * USB rules for buffer 1 (firmware/README.md), so a test sees each rule fire. */
#if defined(PLAIN_VARIANT_DOUBLE_BUF) || defined(PLAIN_VARIANT_DB_TWICE) || defined(PLAIN_VARIANT_DB_SAME_PID) || \
    defined(PLAIN_VARIANT_DB_LONG) || defined(PLAIN_VARIANT_DB_SAME_STORE) || defined(PLAIN_VARIANT_DB_WORD_STORE) || \
    defined(PLAIN_VARIANT_DB_PAIR) || defined(PLAIN_VARIANT_DB_PAIR_NOPOLL) || defined(PLAIN_VARIANT_DB_SHOULD_HANDLE)
#define DCD_DOUBLE_BUFFERED 1
#endif
/* PLAIN_VARIANT_DB_PAIR: double-buffered with an interrupt per pair of buffers
 * (INTERRUPT_PER_DOUBLE_BUFF, not INTERRUPT_PER_BUFF): a buffer 0 done alone sets no BUFF_STATUS bit,
 * so a 1 ms timer polls the buffer control words for it (DCD_POLL). PLAIN_VARIANT_DB_PAIR_NOPOLL
 * does not poll: a lone packet waits in buffer 0 until the next one fills buffer 1. */
#if defined(PLAIN_VARIANT_DB_PAIR) || defined(PLAIN_VARIANT_DB_PAIR_NOPOLL)
#define DCD_DB_INT_PER_PAIR 1
#endif
#ifdef PLAIN_VARIANT_DB_PAIR
#define DCD_POLL 1
#endif
/* PLAIN_VARIANT_DB_SHOULD_HANDLE: double-buffered with an interrupt per buffer, but BUFF_STATUS read
 * by a 1 ms poll instead of its interrupt, so a bit often stands for both buffers; the half handled is
 * the one BUFF_CPU_SHOULD_HANDLE names, and the acknowledge sets the bit again for the other. */
#ifdef PLAIN_VARIANT_DB_SHOULD_HANDLE
#define DCD_DB_SHOULD_HANDLE 1
#define DCD_POLL 1
#endif
/* PLAIN_VARIANT_EP0_DOUBLE: EP0 double-buffered (SIE_CTRL EP0_DOUBLE_BUF, buffer 1 at DPRAM 0x140),
 * an interrupt per buffer, BUFF_CPU_SHOULD_HANDLE naming the half (src/dcd_rp2040.c). */
#if defined(PLAIN_VARIANT_EP0_DOUBLE) || defined(PLAIN_VARIANT_EP0_INT_2BUF)
#define DCD_EP0_DOUBLE_BUFFERED 1
#endif
/* PLAIN_VARIANT_EP0_INT_2BUF: EP0 double-buffered with EP0_INT_2BUF (SIE_CTRL bit 28): BUFF_STATUS
 * only when both buffers are done, i.e. with buffer 1; a 1 ms poll finds a buffer 0 done alone. */
#ifdef PLAIN_VARIANT_EP0_INT_2BUF
#define DCD_EP0_INT_2BUF 1
#define DCD_POLL 1
#endif
/* PLAIN_VARIANT_NO_BUFF_INT: no endpoint (EP0 included) enables a buffer interrupt, so no completion
 * sets BUFF_STATUS; a 1 ms poll reads every armed buffer control word's AVAILABLE and FULL bits. */
#ifdef PLAIN_VARIANT_NO_BUFF_INT
#define DCD_NO_BUFF_INT 1
#define DCD_POLL 1
#endif
#ifdef PLAIN_VARIANT_DB_TWICE
#define DCD_DB_BUG_TWICE 1 /* buffer 1's AVAILABLE set again before the controller consumed it */
#endif
#ifdef PLAIN_VARIANT_DB_SAME_PID
#define DCD_DB_BUG_SAME_PID 1 /* buffer 1 armed with the PID buffer 0 had */
#endif
#ifdef PLAIN_VARIANT_DB_LONG
#define DCD_DB_BUG_LONG 1 /* OUT buffer 1 armed for 65 bytes: longer than the 64-byte buffer */
#endif
#ifdef PLAIN_VARIANT_DB_SAME_STORE
#define DCD_DB_BUG_SAME_STORE 1 /* buffer 1's AVAILABLE set in the store that writes its other fields */
#endif
#ifdef PLAIN_VARIANT_DB_WORD_STORE
#define DCD_DB_BUG_WORD_STORE 1 /* a buffer armed by 32-bit stores while the other one is AVAILABLE */
#endif

#define USBD_NUM_INTERFACES 2u
#define USBD_EP0_SIZE PLAIN_EP0_SIZE
#define USBD_ITF_ENDPOINTS {PLAIN_IF_MIDI_STREAMING, PLAIN_EP_MIDI_IN}, {PLAIN_IF_MIDI_STREAMING, PLAIN_EP_MIDI_OUT}

#endif

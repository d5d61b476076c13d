/* plain_desc.c: the plain device's descriptors (USB 2.0 9.6, USB-MIDI 1.0 appendix B layout, in a
 * different order than the board's: external jacks before embedded ones, the IN endpoint first).
 * Variants: PLAIN_VARIANT_BAD_TOTAL gives the MS header a wrong wTotalLength, PLAIN_VARIANT_DANGLING_JACK
 * an external OUT jack whose source is a jack ID that does not exist. */
#include <stddef.h>

#include "desc.h"
#include "usb_types.h"

#define LO(x) ((uint8_t)((x) & 0xFFu))
#define HI(x) ((uint8_t)((x) >> 8))

#define MS_HEADER_LEN 7u
#define IN_JACK_LEN 6u
#define OUT_JACK_LEN 9u
#define EP_LEN 9u
#define CS_EP_LEN (4u + PLAIN_CABLES)
/* wTotalLength of the MS header: header, jacks and the endpoints (as USB-MIDI 1.0 appendix B.4.2). */
#define MS_TOTAL (MS_HEADER_LEN + 2u * PLAIN_CABLES * (IN_JACK_LEN + OUT_JACK_LEN) + 2u * (EP_LEN + CS_EP_LEN))
#define CONFIG_TOTAL (9u + 9u + 9u + 9u + MS_TOTAL)

#ifdef PLAIN_VARIANT_BAD_TOTAL
#define MS_TOTAL_SAID (MS_TOTAL - 5u)
#else
#define MS_TOTAL_SAID MS_TOTAL
#endif
#ifdef PLAIN_VARIANT_DANGLING_JACK
#define JACK8_SOURCE 0x0Au /* no jack has this ID */
#else
#define JACK8_SOURCE 2u
#endif

/* Jack IDs: external IN 5, 6; embedded IN 1, 2 (host to device); embedded OUT 3, 4 (device to
 * host, fed by the external IN jacks); external OUT 7, 8 (fed by the embedded IN jacks). */
static const uint8_t device_desc[18] = {
    18, USB_DESC_DEVICE, 0x00, 0x02, 0x00, 0x00, 0x00, PLAIN_EP0_SIZE,
    LO(PLAIN_VID), HI(PLAIN_VID), LO(PLAIN_PID), HI(PLAIN_PID), LO(PLAIN_BCD_DEVICE), HI(PLAIN_BCD_DEVICE),
    1, 2, 3, 1,
};

static const uint8_t config_desc[CONFIG_TOTAL] = {
    9, USB_DESC_CONFIGURATION, LO(CONFIG_TOTAL), HI(CONFIG_TOTAL), 2, 1, 0, 0x80, 50,
    /* Audio Control: the interface and its header listing the one MS interface (Audio 1.0 4.3.2). */
    9, 4, PLAIN_IF_AUDIO_CONTROL, 0, 0, 1, 1, 0, 0,
    9, 0x24, 1, 0x00, 0x01, 9, 0, 1, PLAIN_IF_MIDI_STREAMING,
    /* MIDI Streaming */
    9, 4, PLAIN_IF_MIDI_STREAMING, 0, 2, 1, 3, 0, 0,
    MS_HEADER_LEN, 0x24, 1, 0x00, 0x01, LO(MS_TOTAL_SAID), HI(MS_TOTAL_SAID),
    IN_JACK_LEN, 0x24, 2, 2, 5, 0,
    IN_JACK_LEN, 0x24, 2, 2, 6, 0,
    IN_JACK_LEN, 0x24, 2, 1, 1, 0,
    IN_JACK_LEN, 0x24, 2, 1, 2, 0,
    OUT_JACK_LEN, 0x24, 3, 1, 3, 1, 5, 1, 0,
    OUT_JACK_LEN, 0x24, 3, 1, 4, 1, 6, 1, 0,
    OUT_JACK_LEN, 0x24, 3, 2, 7, 1, 1, 1, 0,
    OUT_JACK_LEN, 0x24, 3, 2, 8, 1, JACK8_SOURCE, 1, 0,
    EP_LEN, 5, PLAIN_EP_MIDI_IN, PLAIN_MIDI_IN_TYPE, PLAIN_BULK_PACKET_SIZE, 0, PLAIN_MIDI_IN_INTERVAL_MS, 0, 0,
    CS_EP_LEN, 0x25, 1, PLAIN_CABLES, 3, 4,
    EP_LEN, 5, PLAIN_EP_MIDI_OUT, USB_EP_TYPE_BULK, PLAIN_BULK_PACKET_SIZE, 0, 0, 0, 0,
    CS_EP_LEN, 0x25, 1, PLAIN_CABLES, 1, 2,
};

#define LANGID_EN_US 0x0409u
typedef __CHAR16_TYPE__ utf16_t;
static const utf16_t manufacturer[] = u"rig project";
static const utf16_t product[] = u"Plain USB-MIDI test device";
static const utf16_t serial[] = u"PLAIN0001";
static const struct {
    const utf16_t *text;
    size_t units; /* without the terminator */
} strings[] = {
    {NULL, 0u},
    {manufacturer, sizeof manufacturer / sizeof manufacturer[0] - 1u},
    {product, sizeof product / sizeof product[0] - 1u},
    {serial, sizeof serial / sizeof serial[0] - 1u},
};

static int put(const uint8_t *src, size_t len, uint8_t *buf, size_t cap) {
    if (len > cap) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        buf[i] = src[i];
    }
    return (int)len;
}

int desc_get(uint8_t type, uint8_t index, uint16_t langid, uint8_t *buf, size_t cap) {
    if (type == USB_DESC_DEVICE && index == 0u) {
        return put(device_desc, sizeof device_desc, buf, cap);
    }
    if (type == USB_DESC_CONFIGURATION && index == 0u) {
        return put(config_desc, sizeof config_desc, buf, cap);
    }
    if (type != USB_DESC_STRING || cap < 4u) {
        return -1;
    }
    if (index == 0u) {
        const uint8_t langs[4] = {4u, USB_DESC_STRING, LO(LANGID_EN_US), HI(LANGID_EN_US)};
        return put(langs, sizeof langs, buf, cap);
    }
    if (langid != LANGID_EN_US || index >= sizeof strings / sizeof strings[0]) {
        return -1;
    }
    size_t total = 2u + 2u * strings[index].units;
    if (total > cap) {
        return -1;
    }
    buf[0] = (uint8_t)total;
    buf[1] = USB_DESC_STRING;
    for (size_t i = 0; i < strings[index].units; i++) {
        buf[2u + 2u * i] = LO(strings[index].text[i]);
        buf[3u + 2u * i] = HI(strings[index].text[i]);
    }
    return (int)total;
}

/* desc.c: descriptor lookup (pure logic: also compiled into the host unit tests). */
#include "desc.h"

#include "rig_contract.h"
#include "usb_types.h"

static uint8_t serial_id[8];

void desc_set_unique_id(const uint8_t id[8]) {
    for (size_t i = 0; i < 8u; i++) {
        serial_id[i] = id[i];
    }
}

void desc_hex_id(const uint8_t id[8], char out[16]) {
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < 8u; i++) {
        out[2u * i] = digits[id[i] >> 4];
        out[2u * i + 1u] = digits[id[i] & 0xFu];
    }
}

static int copy_bytes(const uint8_t *src, size_t len, uint8_t *buf, size_t cap) {
    if (len > cap) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        buf[i] = src[i];
    }
    return (int)len;
}

static int string_desc(const char *text, size_t len, uint8_t *buf, size_t cap) {
    size_t total = 2u + 2u * len;
    if (total > 255u || total > cap) {
        return -1;
    }
    buf[0] = (uint8_t)total;
    buf[1] = USB_DESC_STRING;
    for (size_t i = 0; i < len; i++) {
        buf[2u + 2u * i] = (uint8_t)text[i]; /* the contract's strings are ASCII */
        buf[3u + 2u * i] = 0u;
    }
    return (int)total;
}

int desc_get(uint8_t type, uint8_t index, uint16_t langid, uint8_t *buf, size_t cap) {
    switch (type) {
    case USB_DESC_DEVICE:
        return index == 0u ? copy_bytes(rig_device_descriptor, sizeof rig_device_descriptor, buf, cap) : -1;
    case USB_DESC_CONFIGURATION:
        return index == 0u ? copy_bytes(rig_config_descriptor, RIG_CONFIG_DESCRIPTOR_LEN, buf, cap) : -1;
    case USB_DESC_STRING:
        if (index == 0u) {
            if (cap < 4u) {
                return -1;
            }
            buf[0] = 4u;
            buf[1] = USB_DESC_STRING;
            buf[2] = (uint8_t)(RIG_LANGID_EN_US & 0xFFu);
            buf[3] = (uint8_t)(RIG_LANGID_EN_US >> 8);
            return 4;
        }
        if (langid != RIG_LANGID_EN_US) {
            return -1;
        }
        if (index == RIG_STRING_INDEX_SERIAL) {
            char hex[16];
            desc_hex_id(serial_id, hex);
            return string_desc(hex, sizeof hex, buf, cap);
        }
        if (index < RIG_STRING_COUNT && rig_strings[index] != NULL) {
            const char *text = rig_strings[index];
            size_t len = 0;
            while (text[len] != '\0') {
                len++;
            }
            return string_desc(text, len, buf, cap);
        }
        return -1;
    default:
        return -1;
    }
}

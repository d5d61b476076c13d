/* usb_types.h: USB 2.0 chapter 9 constants and the SETUP packet, shared by every USB layer. */
#ifndef USB_TYPES_H
#define USB_TYPES_H

#include <stdint.h>

typedef struct {
    uint8_t bmRequestType;
    uint8_t bRequest;
    uint16_t wValue;
    uint16_t wIndex;
    uint16_t wLength;
} usb_setup_t;

#define USB_DIR_IN 0x80u
#define USB_REQ_TYPE_MASK 0x60u
#define USB_REQ_TYPE_STANDARD 0x00u
#define USB_REQ_TYPE_CLASS 0x20u
#define USB_REQ_TYPE_VENDOR 0x40u
#define USB_REQ_RECIPIENT_MASK 0x1Fu
#define USB_RECIPIENT_DEVICE 0u
#define USB_RECIPIENT_INTERFACE 1u
#define USB_RECIPIENT_ENDPOINT 2u

#define USB_REQ_GET_STATUS 0u
#define USB_REQ_CLEAR_FEATURE 1u
#define USB_REQ_SET_FEATURE 3u
#define USB_REQ_SET_ADDRESS 5u
#define USB_REQ_GET_DESCRIPTOR 6u
#define USB_REQ_SET_DESCRIPTOR 7u
#define USB_REQ_GET_CONFIGURATION 8u
#define USB_REQ_SET_CONFIGURATION 9u
#define USB_REQ_GET_INTERFACE 10u
#define USB_REQ_SET_INTERFACE 11u

#define USB_FEATURE_ENDPOINT_HALT 0u
#define USB_DESC_DEVICE 1u
#define USB_DESC_CONFIGURATION 2u
#define USB_DESC_STRING 3u

#define USB_EP_TYPE_CONTROL 0u
#define USB_EP_TYPE_BULK 2u
#define USB_EP_TYPE_INTERRUPT 3u

#define USB_EP_NUM(addr) ((uint8_t)((addr) & 0x0Fu))
#define USB_EP_IS_IN(addr) (((addr) & 0x80u) != 0u)

#endif

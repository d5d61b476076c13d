/* usbd.h: the device core: EP0 control transfers (multi-packet data stages in both directions,
 * status stages), the standard requests, and a table of class drivers that receive class and
 * vendor requests and their endpoints' completions. */
#ifndef USBD_H
#define USBD_H

#include <stdbool.h>
#include <stdint.h>

#include "usb_types.h"

#define USBD_CTRL_BUF_SIZE 512u

typedef enum { USBD_STAGE_SETUP, USBD_STAGE_DATA } usbd_stage_t;

typedef struct {
    const uint8_t *data; /* IN requests: the reply (may point into usbd_ctrl_buffer()) */
    uint16_t len;        /* IN requests: reply length; usbd sends min(len, wLength) */
    void (*after_status)(void); /* run once the status stage has completed */
} usbd_reply_t;

/* A class or vendor request. SETUP stage: return false to STALL; for IN requests fill `reply`.
 * OUT requests with data are called again at DATA stage with the received bytes in `data`. */
typedef bool (*usbd_control_fn)(usbd_stage_t stage, const usb_setup_t *setup, const uint8_t *data,
                                usbd_reply_t *reply);

typedef struct {
    uint8_t itf_first;
    uint8_t itf_count;
    void (*reset)(void);                          /* bus reset or deconfiguration */
    void (*open)(void);                           /* SET_CONFIGURATION: open endpoints, arm OUT */
    usbd_control_fn control;                      /* class requests to its interfaces */
    bool (*xfer)(uint8_t ep_addr, uint16_t len);  /* completion (NULL: the class calls dcd_route itself) */
    void (*halt_cleared)(uint8_t ep_addr);        /* CLEAR_FEATURE(ENDPOINT_HALT) on its endpoint */
} usbd_class_t;

/* Set once at start-up: the image's table of class drivers (one row each, in its main.c) and the
 * handler of vendor requests to the device. */
void usbd_init(const usbd_class_t *classes, uint8_t count, usbd_control_fn vendor);
bool usbd_configured(void);
uint8_t *usbd_ctrl_buffer(void);

#endif

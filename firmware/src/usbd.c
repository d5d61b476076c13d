/* usbd.c: USB device core (USB 2.0 chapter 9) over the packet-level dcd. */
#include "usbd.h"

#include <stddef.h>

#include "dcd.h"
#include "desc.h"
#include "log.h"
#include "rig_contract.h"
#include "stats.h"

typedef enum { EP0_IDLE, EP0_DATA_IN, EP0_DATA_OUT, EP0_STATUS_IN, EP0_STATUS_OUT } ep0_state_t;

static const usbd_class_t *class_table;
static uint8_t class_count;
static usbd_control_fn vendor_handler;

/* EP0's max packet size (bMaxPacketSize0): the board's from the contract; another device built from
 * these layers (firmware/plain) may give a smaller one with -include. */
#ifndef USBD_EP0_SIZE
#define USBD_EP0_SIZE RIG_EP0_SIZE
#endif

static uint8_t ctrl_buf[USBD_CTRL_BUF_SIZE] __attribute__((aligned(4)));
static struct {
    ep0_state_t state;
    usb_setup_t setup;
    const uint8_t *in_ptr;
    uint16_t in_left;
    bool in_zlp;
    uint16_t out_got;
    usbd_control_fn out_handler;
    void (*after_status)(void);
    bool address_pending;
    uint8_t address;
} ep0;
static uint8_t configuration;
static void route_endpoints(void);

uint8_t *usbd_ctrl_buffer(void) { return ctrl_buf; }
bool usbd_configured(void) { return configuration != 0u; }

static void deconfigure(void) {
    dcd_ep_close_all();
    for (uint8_t i = 0; i < class_count; i++) {
        if (class_table[i].reset != NULL) {
            class_table[i].reset();
        }
    }
    configuration = 0u;
}

void usbd_init(const usbd_class_t *classes, uint8_t count, usbd_control_fn vendor) {
    class_table = classes;
    class_count = count;
    vendor_handler = vendor;
    route_endpoints();
    ep0.state = EP0_IDLE;
    configuration = 0u;
    dcd_init();
}

void dcd_on_bus_reset(void) {
    g_stats.usb_resets++;
    ep0.state = EP0_IDLE;
    ep0.address_pending = false;
    deconfigure();
    log_bus_reset();
}

static void ep0_send_next(void) {
    uint16_t n = ep0.in_left < USBD_EP0_SIZE ? ep0.in_left : (uint16_t)USBD_EP0_SIZE;
    uint8_t *buf = dcd_ep_buffer(0x80u);
    for (uint16_t i = 0; i < n; i++) {
        buf[i] = ep0.in_ptr[i];
    }
    ep0.in_ptr += n;
    ep0.in_left = (uint16_t)(ep0.in_left - n);
    dcd_ep_arm_in(0x80u, n);
}

static void stall_ep0(void) {
    g_stats.control_stalls++;
    ep0.state = EP0_IDLE;
    dcd_ep0_stall();
    log_stall(&ep0.setup);
}

static void begin_status_in(void) {
    ep0.state = EP0_STATUS_IN;
    dcd_ep_arm_in(0x80u, 0u);
}

/* Start the reply of an accepted request: data stage (IN) or status stage. */
static void begin_in_reply(const usbd_reply_t *reply) {
    uint16_t len = reply->len < ep0.setup.wLength ? reply->len : ep0.setup.wLength;
    ep0.in_ptr = reply->data;
    ep0.in_left = len;
    /* A reply shorter than asked for that ends on a packet boundary needs a ZLP to end it. */
    ep0.in_zlp = len > 0u && len < ep0.setup.wLength && (len % USBD_EP0_SIZE) == 0u;
    ep0.after_status = reply->after_status;
    ep0.state = EP0_DATA_IN;
    ep0_send_next();
}

static bool find_class_for_interface(uint8_t itf, const usbd_class_t **out) {
    for (uint8_t i = 0; i < class_count; i++) {
        const usbd_class_t *c = &class_table[i];
        if (itf >= c->itf_first && itf < c->itf_first + c->itf_count) {
            *out = c;
            return true;
        }
    }
    return false;
}

/* The configuration's endpoints and the interface each belongs to. Another device built from these
 * layers (firmware/plain) gives its own with -include: USBD_ITF_ENDPOINTS, USBD_NUM_INTERFACES. */
#ifndef USBD_ITF_ENDPOINTS
#define USBD_ITF_ENDPOINTS                                                                         \
    {RIG_IF_MIDI_STREAMING, RIG_EP_MIDI_OUT}, {RIG_IF_MIDI_STREAMING, RIG_EP_MIDI_IN},             \
        {RIG_IF_VENDOR, RIG_EP_FRAME_OUT}, {RIG_IF_VENDOR, RIG_EP_FRAME_IN},                       \
        {RIG_IF_CDC_COMM, RIG_EP_CDC_NOTIFY}, {RIG_IF_CDC_DATA, RIG_EP_CDC_OUT},                   \
        {RIG_IF_CDC_DATA, RIG_EP_CDC_IN}
#define USBD_NUM_INTERFACES RIG_NUM_INTERFACES
#endif
static const struct {
    uint8_t itf;
    uint8_t ep;
} itf_endpoints[] = {USBD_ITF_ENDPOINTS};
#define ITF_ENDPOINTS (sizeof itf_endpoints / sizeof itf_endpoints[0])

/* Each endpoint's completions go straight from the dcd to the class driver of its interface. */
static void route_endpoints(void) {
    for (size_t i = 0; i < ITF_ENDPOINTS; i++) {
        const usbd_class_t *c;
        uint8_t ep_addr = itf_endpoints[i].ep;
        if (find_class_for_interface(itf_endpoints[i].itf, &c)) {
            dcd_route(ep_addr, c->xfer);
        }
    }
}

/* wIndex names EP0 (either direction), or one of the configuration's endpoints while configured
 * (USB 2.0 9.3.4: bits 4..6 and the high byte are reserved, 0). */
static bool endpoint_valid(uint16_t w_index) {
    if ((w_index & 0xFF70u) != 0u) {
        return false;
    }
    uint8_t ep_addr = (uint8_t)w_index;
    if (USB_EP_NUM(ep_addr) == 0u) {
        return true;
    }
    if (configuration == 0u) {
        return false;
    }
    for (size_t i = 0; i < ITF_ENDPOINTS; i++) {
        if (itf_endpoints[i].ep == ep_addr) {
            return true;
        }
    }
    return false;
}

/* The halt is cleared and the toggle back at DATA0 (CLEAR_FEATURE(ENDPOINT_HALT), SET_INTERFACE). */
static void clear_halt(uint8_t ep_addr) {
    dcd_ep_clear_stall(ep_addr);
    for (uint8_t i = 0; i < class_count; i++) {
        if (class_table[i].halt_cleared != NULL) {
            class_table[i].halt_cleared(ep_addr);
        }
    }
}

static void set_configuration(uint8_t value) {
    deconfigure();
    if (value == RIG_CONFIG_VALUE) {
        configuration = value;
        for (uint8_t i = 0; i < class_count; i++) {
            if (class_table[i].open != NULL) {
                class_table[i].open();
            }
        }
    }
    log_configuration(value);
}

static void apply_set_address(void) {
    dcd_set_address(ep0.address);
    ep0.address_pending = false;
}

/* Standard requests; returns false to STALL. */
static bool standard_request(const usb_setup_t *s, usbd_reply_t *reply) {
    uint8_t recipient = s->bmRequestType & USB_REQ_RECIPIENT_MASK;
    bool in = (s->bmRequestType & USB_DIR_IN) != 0u;
    switch (s->bRequest) {
    case USB_REQ_GET_DESCRIPTOR: {
        if (!in || recipient != USB_RECIPIENT_DEVICE) {
            return false;
        }
        int len = desc_get((uint8_t)(s->wValue >> 8), (uint8_t)s->wValue, s->wIndex, ctrl_buf,
                           sizeof ctrl_buf);
        if (len < 0) {
            return false;
        }
        reply->data = ctrl_buf;
        reply->len = (uint16_t)len;
        return true;
    }
    case USB_REQ_SET_ADDRESS:
        if (in || recipient != USB_RECIPIENT_DEVICE || s->wValue > 127u || s->wIndex != 0u || s->wLength != 0u) {
            return false;
        }
        ep0.address = (uint8_t)s->wValue;
        ep0.address_pending = true;
        reply->after_status = apply_set_address;
        return true;
    case USB_REQ_GET_CONFIGURATION:
        if (!in || recipient != USB_RECIPIENT_DEVICE) {
            return false;
        }
        ctrl_buf[0] = configuration;
        reply->data = ctrl_buf;
        reply->len = 1u;
        return true;
    case USB_REQ_SET_CONFIGURATION:
        if (in || recipient != USB_RECIPIENT_DEVICE ||
            (s->wValue != 0u && s->wValue != RIG_CONFIG_VALUE)) {
            return false;
        }
        set_configuration((uint8_t)s->wValue);
        return true;
    case USB_REQ_GET_STATUS:
        if (!in || s->wValue != 0u) {
            return false;
        }
        ctrl_buf[0] = 0u;
        ctrl_buf[1] = 0u;
        if (recipient == USB_RECIPIENT_INTERFACE) {
            if (configuration == 0u || s->wIndex >= USBD_NUM_INTERFACES) {
                return false;
            }
        } else if (recipient == USB_RECIPIENT_ENDPOINT) {
            if (!endpoint_valid(s->wIndex)) {
                return false;
            }
            ctrl_buf[0] = dcd_ep_stalled((uint8_t)s->wIndex) ? 1u : 0u;
        } else if (recipient != USB_RECIPIENT_DEVICE || s->wIndex != 0u) {
            return false;
        }
        reply->data = ctrl_buf;
        reply->len = 2u;
        return true;
    case USB_REQ_CLEAR_FEATURE:
    case USB_REQ_SET_FEATURE: {
        /* Only ENDPOINT_HALT: no remote wakeup, no test modes. */
        if (in || recipient != USB_RECIPIENT_ENDPOINT || s->wValue != USB_FEATURE_ENDPOINT_HALT) {
            return false;
        }
        uint8_t ep_addr = (uint8_t)s->wIndex;
        /* EP0 has no halt feature here (9.4.5 neither requires nor recommends it): Request Error. */
        if (!endpoint_valid(s->wIndex) || USB_EP_NUM(ep_addr) == 0u) {
            return false;
        }
        if (s->bRequest == USB_REQ_SET_FEATURE) {
            dcd_ep_stall(ep_addr);
        } else {
            clear_halt(ep_addr);
        }
        return true;
    }
    case USB_REQ_GET_INTERFACE:
        if (!in || recipient != USB_RECIPIENT_INTERFACE || configuration == 0u ||
            s->wIndex >= USBD_NUM_INTERFACES) {
            return false;
        }
        ctrl_buf[0] = 0u;
        reply->data = ctrl_buf;
        reply->len = 1u;
        return true;
    case USB_REQ_SET_INTERFACE:
        /* Every interface has only alternate setting 0. Selecting it resets the interface's endpoints:
         * halts cleared, toggles at DATA0 (9.4.10, 9.1.1.5). */
        if (in || recipient != USB_RECIPIENT_INTERFACE || configuration == 0u || s->wIndex >= USBD_NUM_INTERFACES ||
            s->wValue != 0u) {
            return false;
        }
        for (size_t i = 0; i < ITF_ENDPOINTS; i++) {
            if (itf_endpoints[i].itf == s->wIndex) {
                clear_halt(itf_endpoints[i].ep);
            }
        }
        return true;
    default:
        return false;
    }
}

void dcd_on_setup(const usb_setup_t *s) {
    g_stats.control_requests++;
    ep0.setup = *s;
    ep0.state = EP0_IDLE;
    ep0.after_status = NULL;
    ep0.out_handler = NULL;
    usbd_reply_t reply = {.data = NULL, .len = 0u, .after_status = NULL};
    usbd_control_fn handler = NULL;
    bool ok = false;
    uint8_t type = s->bmRequestType & USB_REQ_TYPE_MASK;
    uint8_t recipient = s->bmRequestType & USB_REQ_RECIPIENT_MASK;

    if (type == USB_REQ_TYPE_STANDARD) {
        /* No standard request this device supports has an OUT data stage: STALL before acting. */
        ok = ((s->bmRequestType & USB_DIR_IN) != 0u || s->wLength == 0u) && standard_request(s, &reply);
    } else if (type == USB_REQ_TYPE_CLASS && recipient == USB_RECIPIENT_INTERFACE) {
        const usbd_class_t *c = NULL;
        if (configuration != 0u && (s->wIndex >> 8) == 0u && find_class_for_interface((uint8_t)s->wIndex, &c) &&
            c->control != NULL) {
            handler = c->control;
        }
    } else if (type == USB_REQ_TYPE_VENDOR && recipient == USB_RECIPIENT_DEVICE) {
        handler = vendor_handler;
    }
    if (handler != NULL) {
        ok = handler(USBD_STAGE_SETUP, s, NULL, &reply);
    }
    if (!ok) {
        stall_ep0();
        return;
    }
    if ((s->bmRequestType & USB_DIR_IN) && s->wLength == 0u) {
        ep0.after_status = reply.after_status;
        ep0.state = EP0_STATUS_OUT;
        dcd_ep_arm_out(0x00u, USBD_EP0_SIZE);
    } else if (s->bmRequestType & USB_DIR_IN) {
        if (reply.data == NULL) {
            stall_ep0();
            return;
        }
        begin_in_reply(&reply);
    } else if (s->wLength != 0u) {
        if (handler == NULL || s->wLength > sizeof ctrl_buf) {
            stall_ep0();
            return;
        }
        ep0.out_handler = handler;
        ep0.out_got = 0u;
        ep0.after_status = reply.after_status;
        ep0.state = EP0_DATA_OUT;
        dcd_ep_arm_out(0x00u, USBD_EP0_SIZE);
    } else {
        ep0.after_status = reply.after_status;
        begin_status_in();
    }
}

void dcd_on_ep0_xfer(uint8_t ep_addr, uint16_t len) {
    bool in = USB_EP_IS_IN(ep_addr);
    switch (ep0.state) {
    case EP0_DATA_IN:
        if (!in) {
            return;
        }
        if (ep0.in_left > 0u) {
            ep0_send_next();
        } else if (ep0.in_zlp) {
            ep0.in_zlp = false;
            dcd_ep_arm_in(0x80u, 0u);
        } else {
            ep0.state = EP0_STATUS_OUT;
            dcd_ep_arm_out(0x00u, USBD_EP0_SIZE);
        }
        break;
    case EP0_DATA_OUT: {
        if (in) {
            return;
        }
        const uint8_t *buf = dcd_ep_buffer(0x00u);
        uint16_t room = (uint16_t)(ep0.setup.wLength - ep0.out_got);
        uint16_t n = len < room ? len : room;
        for (uint16_t i = 0; i < n; i++) {
            ctrl_buf[ep0.out_got + i] = buf[i];
        }
        ep0.out_got = (uint16_t)(ep0.out_got + n);
        if (ep0.out_got < ep0.setup.wLength && len == USBD_EP0_SIZE) {
            dcd_ep_arm_out(0x00u, USBD_EP0_SIZE);
            break;
        }
        if (ep0.out_got != ep0.setup.wLength) {
            stall_ep0(); /* short data stage */
            break;
        }
        usbd_reply_t reply = {.data = NULL, .len = 0u, .after_status = ep0.after_status};
        if (!ep0.out_handler(USBD_STAGE_DATA, &ep0.setup, ctrl_buf, &reply)) {
            stall_ep0();
            break;
        }
        ep0.after_status = reply.after_status;
        begin_status_in();
        break;
    }
    case EP0_STATUS_IN:
    case EP0_STATUS_OUT:
        /* The status stage runs opposite to the data stage (IN after OUT or none, OUT after IN). */
        if (in != (ep0.state == EP0_STATUS_IN)) {
            return;
        }
        ep0.state = EP0_IDLE;
        if (ep0.after_status != NULL) {
            void (*fn)(void) = ep0.after_status;
            ep0.after_status = NULL;
            fn();
        }
        break;
    case EP0_IDLE:
    default:
        break;
    }
}

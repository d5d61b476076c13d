'use strict';
/*
 * host_endpoints.js: what the host knows of the device's endpoints from the descriptors it read, as a
 * host controller driver does: EP0's max packet size (device descriptor bMaxPacketSize0), and for
 * every endpoint of the configuration its wMaxPacketSize, transfer type and bInterval (USB 2.0 9.6.1,
 * 9.6.6). Until a descriptor is read the sizes are 64 (a full-speed host's first guess for EP0).
 * Full-speed legal sizes: EP0 8/16/32/64, bulk 8/16/32/64, interrupt 1..64 (USB 2.0 5.5.3, 5.8.3).
 */

const DEFAULT_SIZE = 64;
const TYPE = { CONTROL: 0, ISOCHRONOUS: 1, BULK: 2, INTERRUPT: 3 };

class HostEndpoints {
  constructor() {
    this.forget();
  }

  /** A new device on the bus (after a reset of the chip): nothing known of it yet. */
  forget() {
    this.ep0Size = DEFAULT_SIZE;
    this.endpoints = new Map(); // bEndpointAddress -> { maxPacket, type, interval }
  }

  /** A whole device descriptor was read: take bMaxPacketSize0 (8, 16, 32 or 64; others ignored). */
  learnDevice(bytes) {
    if (bytes.length >= 8 && bytes[1] === 1 && [8, 16, 32, 64].includes(bytes[7])) this.ep0Size = bytes[7];
  }

  /** A whole configuration descriptor (wTotalLength bytes) was read: take every endpoint descriptor. */
  learnConfiguration(bytes) {
    if (bytes.length < 4 || bytes.length < (bytes[2] | (bytes[3] << 8))) return;
    const map = new Map();
    for (let i = 0; i + 6 < bytes.length && bytes[i] >= 2; i += bytes[i]) {
      if (bytes[i + 1] !== 5 || bytes[i] < 7) continue;
      const size = (bytes[i + 4] | (bytes[i + 5] << 8)) & 0x7ff;
      map.set(bytes[i + 2], { maxPacket: size || DEFAULT_SIZE, type: bytes[i + 3] & 3, interval: bytes[i + 6] });
    }
    this.endpoints = map;
  }

  /** Max packet size of endpoint number `ep` in direction `out` (EP0: bMaxPacketSize0). */
  maxPacket(ep, out) {
    if (ep === 0) return this.ep0Size;
    const e = this.endpoints.get(out ? ep : ep | 0x80);
    return e ? e.maxPacket : DEFAULT_SIZE;
  }

  /** bInterval (ms at full speed) of an interrupt IN endpoint, or 0 when it is not one. */
  interruptInterval(ep) {
    const e = this.endpoints.get(ep | 0x80);
    return e && e.type === TYPE.INTERRUPT ? Math.max(1, e.interval) : 0;
  }

  info() {
    const eps = {};
    for (const [addr, e] of this.endpoints) eps[`0x${addr.toString(16).padStart(2, '0')}`] = { ...e };
    return { ep0_size: this.ep0Size, endpoints: eps };
  }
}

module.exports = { HostEndpoints };

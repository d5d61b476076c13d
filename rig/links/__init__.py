"""Links: the UsbLink seam, the pyusb backend over any link, the emulator's link and the pty line
watcher. Everything above reaches a device only through these."""

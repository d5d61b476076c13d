"""OS MIDI for the rig: choosing (or starting) the MIDI system python-rtmidi opens ports on, opening
rtmidi clients without JACK's probe noise, and the rig-side USB-MIDI class driver that gives a
device without an OS driver of its own (the emulator, the loopback) OS MIDI ports."""

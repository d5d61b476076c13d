"""The host's client for our board: vendor control and modes, frame and MIDI streams, the books
(device counters against host counters) and the errors a transfer can end in."""

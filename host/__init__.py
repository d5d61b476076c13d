"""Port-driver side models: DirectMusic MXF, AVStream framing and stream pointers, MIDI codecs.

Pure Python with no I/O and no threads of its own; clocks are injected so every behaviour is
deterministic under test.
"""

"""Differential testing: the same seeded operations on the loopback twin and on the firmware in the
emulator, every answer and counter compared (issue #15). `python -m tests.differential --help`."""

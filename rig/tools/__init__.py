"""Chores around a board: flashing a UF2, reading UF2 files, udev rules, and the doctor's checks."""

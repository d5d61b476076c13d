"""Latency and throughput measurement: statistics, clock sync, runners, reports and run history.

Pure parts (stats, clocksync, history, report) need no device; the runners reach a target through
the same pyusb / python-rtmidi calls that drive a real board. See docs/measuring.md for the method.
"""

"""USB 2.0 9.1.1.4 and 9.1.2: a bus reset takes the device back to the Default state (address 0,
unconfigured), and the host enumerates it again; a device must come back the same every time."""

from __future__ import annotations

import pytest
import usb.core

from .standard_device import (
    DT_DEVICE,
    get_configuration,
    get_descriptor,
    read_configuration,
    set_configuration,
)

pytestmark = pytest.mark.needs("usb")

RESETS = 50
"""As issue #8 asks (in the spirit of Linux usbtest's repeated resets): enough for a reset that
leaks state or leaves the device unable to enumerate now and then to show."""
DEVICE_DESCRIPTOR_LENGTH = 18


def test_repeated_bus_reset_and_re_enumeration(std_device: usb.core.Device) -> None:
    """USB 2.0 9.1.1.4, 9.1.2 and 9.4.2: after each of RESETS bus resets the device answers
    GET_DESCRIPTOR(device) with the descriptor it gave first, reports configuration 0 (not configured:
    a reset leaves the Default state, then the Address state), takes SET_CONFIGURATION of its first
    configuration and reports that value in GET_CONFIGURATION."""
    first = get_descriptor(std_device, DT_DEVICE, 0, DEVICE_DESCRIPTOR_LENGTH)
    value = read_configuration(std_device).bConfigurationValue
    for n in range(1, RESETS + 1):
        std_device.reset()
        again = get_descriptor(std_device, DT_DEVICE, 0, DEVICE_DESCRIPTOR_LENGTH)
        assert again == first, f"reset {n}: device descriptor {again.hex(' ')}, first {first.hex(' ')}"
        assert get_configuration(std_device) == 0, f"reset {n}: still configured after the bus reset"
        set_configuration(std_device, value)
        assert get_configuration(std_device) == value, f"reset {n}: GET_CONFIGURATION after SET_CONFIGURATION"

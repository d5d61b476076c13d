"""pyusb transfers for the miniports, with errors mapped to rig.client.board's exceptions (naming the board,
endpoint and transfer) exactly as `rig.client.board.Board` maps its own."""

from __future__ import annotations

import array
from collections.abc import Callable
from typing import TypeVar

import usb.core

from rig import contract as c
from rig.client.errors import TransferError, map_usb_error

_T = TypeVar("_T")

ENDPOINT_NAMES: dict[int, str] = {
    c.EP_MIDI_OUT: "EP_MIDI_OUT", c.EP_MIDI_IN: "EP_MIDI_IN", c.EP_FRAME_OUT: "EP_FRAME_OUT",
    c.EP_FRAME_IN: "EP_FRAME_IN", c.EP_CDC_OUT: "EP_CDC_OUT", c.EP_CDC_IN: "EP_CDC_IN",
}


def endpoint_name(endpoint: int) -> str:
    """`EP_FRAME_IN 0x82`: the contract's name and the address, as messages spell an endpoint."""
    return f"{ENDPOINT_NAMES.get(endpoint, 'endpoint')} 0x{endpoint:02x}"


def call(board_name: str, transfer: str, fn: Callable[[], _T]) -> _T:
    """Run one pyusb call, raising the mapped rig.client.board exception on failure."""
    try:
        return fn()
    except usb.core.USBError as exc:
        raise map_usb_error(board_name, transfer, exc) from exc


def write(device: usb.core.Device, board_name: str, endpoint: int, data: bytes | memoryview,
          timeout_ms: int) -> int:
    """One bulk OUT transfer; all of it must be accepted (fewer bytes is a TransferError)."""
    transfer = f"bulk write to {endpoint_name(endpoint)}"
    sent = int(call(board_name, transfer, lambda: device.write(endpoint, data, timeout_ms)))
    if sent != len(data):
        raise TransferError(f"{board_name}: {transfer}: accepted {sent} of {len(data)} bytes")
    return sent


def read_into(device: usb.core.Device, board_name: str, endpoint: int, buffer: array.array[int],
              timeout_ms: int) -> int:
    """One bulk IN transfer into `buffer` (pyusb fills arrays in place); returns bytes read."""
    transfer = f"bulk read from {endpoint_name(endpoint)}"
    return int(call(board_name, transfer, lambda: device.read(endpoint, buffer, timeout_ms)))

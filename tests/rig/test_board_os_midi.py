"""The board target with several boards attached: OS MIDI ports tied to a board by its USB serial
through a fake /sys and /proc tree (the seam: the root they are read from), the name rule as the
fallback, and the RIG_VID / RIG_PID override of the board IDs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serial.tools.list_ports_common import ListPortInfo

from rig import contract as c
from rig.errors import TargetError
from rig.links.pyusb_backend import LinkBackend
from rig.loopback import LoopbackBoard
from rig.targets import discovery
from rig.targets.discovery import (
    BadBoardIds,
    BoardNotFound,
    FoundBoard,
    alsa_card_of_port,
    board_ids,
    card_usb_device,
    find_boards,
    match_board_midi_ports,
    match_console_port,
)

P = c.PRODUCT


def found(serial: str, bus: int = 1, address: int = 5) -> FoundBoard:
    return FoundBoard(device=None, serial=serial, bus=bus, address=address)


def usb_card(root: Path, card: int, port: str, *, serial: str | None, bus: int = 1, address: int = 5,
             usbbus: bool = False) -> None:
    """A sound card on a USB device as Linux lays it out: /sys/class/sound/cardN/device is a link to
    the USB interface, whose parent is the device (serial, busnum, devnum); /proc/asound/cardN/usbbus."""
    device = root / "sys" / "devices" / "pci0000:00" / "usb1" / port
    interface = device / f"{port}:1.0"
    interface.mkdir(parents=True)
    if serial is not None:
        (device / "serial").write_text(serial + "\n")
        (device / "busnum").write_text(f"{bus}\n")
        (device / "devnum").write_text(f"{address}\n")
    sound = root / "sys" / "class" / "sound" / f"card{card}"
    sound.mkdir(parents=True)
    (sound / "device").symlink_to(interface)
    if usbbus:
        proc = root / "proc" / "asound" / f"card{card}"
        proc.mkdir(parents=True)
        (proc / "usbbus").write_text(f"{bus:03d}/{address:03d}\n")


def alsa(card: int) -> str:
    """python-rtmidi's ALSA name of the first port of a card's sequencer client (16 + 4 * card)."""
    return f"{P}:{P} MIDI 1 {16 + 4 * card}:0"


@pytest.fixture
def two_boards(tmp_path: Path) -> Path:
    usb_card(tmp_path, 1, "1-1", serial="E6614103E7654321", address=5)
    usb_card(tmp_path, 2, "1-2", serial="E66141040B123456", address=7)
    return tmp_path


def test_alsa_client_numbers_name_the_card() -> None:
    assert alsa_card_of_port(alsa(0)) == 0 and alsa_card_of_port(alsa(2)) == 2
    assert alsa_card_of_port(f"{P}:{P} MIDI 1 27:0") == 2  # a card's fourth client
    assert alsa_card_of_port(f"a2j:{P} [24] (playback): {P} MIDI 1") == 2
    assert alsa_card_of_port("Midi Through:Midi Through Port-0 14:0") is None
    assert alsa_card_of_port("RtMidi Output Client:out 128:0") is None
    assert alsa_card_of_port(f"{P} MIDI 1") is None


def test_two_boards_are_told_apart_by_serial(two_boards: Path) -> None:
    outs = ["Midi Through:Midi Through Port-0 14:0", alsa(1), alsa(2)]
    ins = list(outs)
    for serial, card in (("E66141040B123456", 2), ("e6614103e7654321", 1)):
        got = match_board_midi_ports(outs, ins, found(serial), root=two_boards, system="Linux")
        assert got == (alsa(card), alsa(card))
    # the name rule alone sees two
    with pytest.raises(TargetError, match="2 MIDI output ports"):
        discovery.match_midi_ports(outs, ins)
    with pytest.raises(TargetError,
                       match=r"no MIDI output port found for board 0000: 2 named like .*none is on the USB"):
        match_board_midi_ports(outs, ins, found("0000"), root=two_boards, system="Linux")


def test_without_a_serial_bus_and_address_from_proc_decide(tmp_path: Path) -> None:
    usb_card(tmp_path, 1, "1-1", serial=None, bus=1, address=5, usbbus=True)
    usb_card(tmp_path, 2, "1-2", serial=None, bus=1, address=9, usbbus=True)
    assert card_usb_device(2, tmp_path) == discovery.CardUsb(2, None, 1, 9)
    assert card_usb_device(3, tmp_path) is None
    outs = [alsa(1), alsa(2)]
    assert match_board_midi_ports(outs, outs, found("ANY", 1, 9), root=tmp_path, system="Linux")[0] == alsa(2)


def test_name_fallback_only_when_exactly_one_matches(tmp_path: Path) -> None:
    """Ports that carry no ALSA client (e.g. JACK's own names) cannot be tied to a card: one by name
    is taken, two are refused with the reason."""
    one = [f"{P} MIDI 1"]
    assert match_board_midi_ports(one, one, found("X"), root=tmp_path, system="Linux") == (one[0], one[0])
    two = [f"{P} MIDI 1", f"{P} MIDI 1 #2"]
    with pytest.raises(TargetError, match=r"board X: 2 named like .*2 of them could not be tied to a USB"):
        match_board_midi_ports(two, two, found("X"), root=tmp_path, system="Linux")


def test_other_systems_keep_the_name_rule_and_say_so(two_boards: Path) -> None:
    one = [f"{P} MIDI 1"]
    assert match_board_midi_ports(one, one, found("X"), root=two_boards, system="Darwin") == (one[0], one[0])
    two = [alsa(1), alsa(2)]
    with pytest.raises(TargetError, match="on Windows ports are matched by product name only"):
        match_board_midi_ports(two, two, found("X"), root=two_boards, system="Windows")


# --- RIG_VID / RIG_PID ---------------------------------------------------------------------------


@pytest.fixture
def boards(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[LoopbackBoard]]:
    """Two loopback boards standing in for what libusb would enumerate."""
    attached = [LoopbackBoard(bytes([0xB0 + i]) * 8, console_pty=False) for i in range(2)]
    monkeypatch.setattr(discovery, "libusb_backend", lambda: LinkBackend(attached))
    yield attached
    for b in attached:
        b.close()


def test_board_ids_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert board_ids({}) == (c.VID, c.PID)
    assert board_ids({"RIG_VID": "2e8a", "RIG_PID": "0x000A"}) == (0x2E8A, 0x000A)
    with pytest.raises(BadBoardIds, match="RIG_PID='pico' is not a hexadecimal USB ID"):
        board_ids({"RIG_PID": "pico"})
    with pytest.raises(ValueError, match="RIG_VID='12345' is outside"):
        board_ids({"RIG_VID": "12345"})
    monkeypatch.setenv("RIG_VID", "2e8a")
    assert board_ids() == (0x2E8A, c.PID)


def test_find_boards_and_the_board_target_use_the_override(boards: list[LoopbackBoard],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(find_boards()) == 2
    monkeypatch.setenv("RIG_PID", "9999")
    assert find_boards() == []
    with pytest.raises(BoardNotFound, match=f"no rig board with {c.VID:04x}:9999"):
        from rig.targets.factory import make_target

        make_target("board").open()
    monkeypatch.setenv("RIG_PID", f"{c.PID:04X}")
    assert [b.serial for b in find_boards("b1b1b1b1b1b1b1b1")] == ["B1B1B1B1B1B1B1B1"]
    # a software board handed in as the backend keeps the contract's IDs
    monkeypatch.setenv("RIG_PID", "9999")
    assert len(find_boards(backend=LinkBackend(boards))) == 2
    assert find_boards(backend=LinkBackend(boards), pid=0x9999) == []


def test_console_port_uses_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    def port(device: str, vid: int, pid: int, serial: str) -> Any:
        info = ListPortInfo(device, skip_link_detection=True)
        info.vid, info.pid, info.serial_number = vid, pid, serial
        return info

    ports = [port("/dev/ttyACM0", c.VID, c.PID, "AAAA"), port("/dev/ttyACM1", 0x2E8A, 0x000A, "AAAA")]
    assert match_console_port(ports, "AAAA") == "/dev/ttyACM0"
    monkeypatch.setenv("RIG_VID", "2E8A")
    monkeypatch.setenv("RIG_PID", "000a")
    assert match_console_port(ports, "AAAA") == "/dev/ttyACM1"

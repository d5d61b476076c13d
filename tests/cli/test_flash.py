"""rig flash against a temporary directory standing in for the RP2040 BOOTSEL drive."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.cli import main
from rig.tools.flash import (
    INFO_FILE,
    BadUf2,
    Flasher,
    FlashError,
    check_uf2,
    find_bootsel_drives,
    make_uf2,
    trusted_drive,
)

INFO_TEXT = "UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n"


class FakeClock:
    """A clock that advances only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _image(tmp_path: Path, size: int = 1000) -> Path:
    path = tmp_path / "fw.uf2"
    path.write_bytes(make_uf2(bytes(range(256)) * (size // 256 + 1)))
    return path


def _drive(base: Path, name: str = "RPI-RP2") -> Path:
    drive = base / name
    drive.mkdir(parents=True)
    (drive / INFO_FILE).write_text(INFO_TEXT)
    return drive


def _flasher(search: Path, **kw: object) -> tuple[Flasher, list[str]]:
    said: list[str] = []
    clock = FakeClock()
    defaults: dict[str, object] = dict(search_paths=[search], is_drive=lambda p: True,
                                       board_console=lambda: None, board_present=lambda: True,
                                       touch=lambda port: None, say=said.append,
                                       drive_timeout_s=1.0, enumerate_timeout_s=1.0, clock=clock,
                                       sleep=clock.sleep)
    defaults.update(kw)
    return Flasher(**defaults), said  # type: ignore[arg-type]


def test_uf2_is_checked_block_by_block(tmp_path: Path) -> None:
    image = check_uf2(_image(tmp_path, 1000))
    assert image.blocks == 4 and image.payload_bytes == 1024 and image.first_address == 0x10000000
    bad = tmp_path / "bad.uf2"
    data = bytearray(make_uf2(bytes(600)))
    data[512 + 20] = 7  # block 1 claims to be block 7
    bad.write_bytes(bytes(data))
    with pytest.raises(BadUf2, match="block 1: says it is block 7"):
        check_uf2(bad)
    bad.write_bytes(b"\0" * 100)
    with pytest.raises(BadUf2, match="not a whole number"):
        check_uf2(bad)
    bad.write_bytes(make_uf2(bytes(10), family_id=0x12345678))
    with pytest.raises(BadUf2, match="is not RP2040"):
        check_uf2(bad)


def test_drive_found_by_info_file(tmp_path: Path) -> None:
    drive = _drive(tmp_path / "media")
    (tmp_path / "media" / "USBSTICK").mkdir()
    assert find_bootsel_drives([tmp_path / "media", tmp_path / "nowhere"], is_drive=lambda p: True) == [drive]


def test_flash_copies_onto_an_existing_drive(tmp_path: Path) -> None:
    drive = _drive(tmp_path / "media")
    image = _image(tmp_path)
    flasher, said = _flasher(tmp_path / "media")
    flasher.flash(image)
    assert (drive / "fw.uf2").read_bytes() == image.read_bytes()
    assert any("BOOTSEL drive" in s for s in said) and said[-1] == "board re-enumerated: flashing done"


def test_flash_does_the_1200_baud_touch_when_no_drive(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    touched: list[str] = []

    def touch(port: str) -> None:
        touched.append(port)
        _drive(media)

    flasher, said = _flasher(media, board_console=lambda: "/dev/ttyACM7", touch=touch)
    flasher.flash(_image(tmp_path))
    assert touched == ["/dev/ttyACM7"]
    assert any("1200-baud touch on /dev/ttyACM7" in s for s in said)
    assert (media / "RPI-RP2" / "fw.uf2").exists()


def test_no_drive_and_no_board_says_what_to_do(tmp_path: Path) -> None:
    flasher, _ = _flasher(tmp_path)
    with pytest.raises(FlashError, match="hold BOOTSEL while plugging the board in"):
        flasher.flash(_image(tmp_path))


def test_drive_that_never_appears_times_out(tmp_path: Path) -> None:
    flasher, _ = _flasher(tmp_path, board_console=lambda: "/dev/ttyACM0")
    with pytest.raises(FlashError, match=r"did not show up as a BOOTSEL drive .* within 1 s"):
        flasher.flash(_image(tmp_path))


def test_board_that_does_not_come_back_is_an_error(tmp_path: Path) -> None:
    _drive(tmp_path)
    flasher, _ = _flasher(tmp_path, board_present=lambda: False)
    with pytest.raises(FlashError, match="copied but the board \\(1209:0001\\) did not enumerate within 1 s"):
        flasher.flash(_image(tmp_path))


def test_cli_flash_reports_each_step_and_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import rig.tools.flash

    monkeypatch.setattr(rig.tools.flash, "board_enumerated", lambda: False)
    monkeypatch.setattr(rig.tools.flash, "trusted_drive", lambda path: True)  # tmp_path is no mount point
    _drive(tmp_path / "media")
    code = main(["flash", str(_image(tmp_path)), "--drive-search", str(tmp_path / "media"), "--timeout", "0"])
    out, err = capsys.readouterr()
    assert "BOOTSEL drive:" in out and "copied to" in out
    # The board never comes back: a clean one-line error, not a traceback.
    assert code == 1
    assert err.startswith("rig: error: the image was copied but the board (1209:0001) did not enumerate")
    assert "Traceback" not in err


def test_cli_flash_takes_only_a_labgrid_place_as_rig(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flash", str(_image(tmp_path)), "--rig=board"]) == 1
    assert "only a labgrid:PLACE is flashed by --rig" in capsys.readouterr().err


def test_cli_flash_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flash", str(tmp_path / "nope.uf2"), "--drive-search", str(tmp_path)]) == 1
    assert "nope.uf2: cannot read" in capsys.readouterr().err


def test_1200_baud_touch_reboots_the_loopback_board() -> None:
    """The real touch (pyserial at 1200 baud) against the loopback board's console pty."""
    import time

    from rig.targets.factory import make_target
    from rig.tools.flash import touch_1200

    target = make_target("loopback")
    with target:
        board = target.board  # type: ignore[attr-defined]
        touch_1200(target.console_port())
        deadline = time.monotonic() + 5
        while board.reboots == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert board.reboots == 1


def test_touch_on_a_missing_port_is_a_flash_error(tmp_path: Path) -> None:
    from rig.tools.flash import touch_1200

    with pytest.raises(FlashError, match=r"1200-baud touch on .*nope failed"):
        touch_1200(str(tmp_path / "nope"))


def test_only_mount_points_owned_by_the_user_count_as_drives(tmp_path: Path) -> None:
    """A directory with INFO_UF2.TXT that is not a mount point, is a symlink, or belongs to someone
    else is not the BOOTSEL drive: rig flash would write there otherwise."""
    drive = _drive(tmp_path / "media")
    assert find_bootsel_drives([tmp_path / "media"]) == []  # a plain directory, not a mount point
    assert not trusted_drive(drive)
    assert trusted_drive(drive, is_mount=lambda p: True)
    assert not trusted_drive(drive, is_mount=lambda p: True, uid=drive.stat().st_uid + 1)
    link = tmp_path / "media" / "LINKED"
    link.symlink_to(drive)
    assert not trusted_drive(link, is_mount=lambda p: True)


def test_copy_does_not_follow_a_symlink_on_the_drive(tmp_path: Path) -> None:
    drive = _drive(tmp_path / "media")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (drive / "fw.uf2").symlink_to(victim)
    flasher, _ = _flasher(tmp_path / "media")
    with pytest.raises(FlashError, match=r"fw\.uf2"):
        flasher.flash(_image(tmp_path))
    assert victim.read_text() == "precious"

"""`--capture FILE` on the commands: `rig latency` and `rig throughput` record the run with a comment
on the first packet of each path or phase (read back by tshark); `rig test` and `rig run` pass the
capture options to the plugin, and `rig run` keeps failing tests' captures in the report directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from rig import contract as c
from rig.cli import latency_cmd, run_cmd, test_cmd, throughput_cmd

from .tshark_view import read_capture, tshark


def run_command(module: object, *argv: str) -> int:
    """Parse `argv` with one subcommand registered and run it, as `rig` would; its exit status."""
    parser = argparse.ArgumentParser(prog="rig")
    sub = parser.add_subparsers(dest="command", required=True)
    module.register(sub)  # type: ignore[attr-defined]
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def test_latency_capture_marks_each_path(tmp_path: Path) -> None:
    tshark()
    path = tmp_path / "latency.pcapng"
    rc = run_command(latency_cmd, "latency", "--rig", "loopback", "--path", "midi-usb", "--count", "20",
                     "--warmup", "2", "--report-dir", str(tmp_path / "rep"), "--no-history", "--no-progress",
                     "--jack", "never", "--capture", str(path))
    assert rc == 0
    packets = read_capture(path)
    marked = [p for p in packets if "latency path midi-usb" in p.comments]
    assert len(marked) == 1 and marked[0].urb_type == "S"
    sent = [e for p in packets if p.endpoint == c.EP_MIDI_OUT and p.urb_type == "S" for e in p.midi]
    echoed = [e for p in packets if p.endpoint == c.EP_MIDI_IN and p.urb_type == "C" for e in p.midi]
    assert len(sent) >= 22 and [e.event for e in echoed] == [e.event for e in sent]


def test_throughput_capture_marks_each_phase(tmp_path: Path) -> None:
    tshark()
    path = tmp_path / "throughput.pcapng"
    rc = run_command(throughput_cmd, "throughput", "--rig", "loopback", "--direction", "out",
                     "--sizes", "64,300", "--frames", "10", "--report-dir", str(tmp_path / "rep"),
                     "--no-history", "--no-progress", "--jack", "never", "--capture", str(path))
    assert rc == 0
    packets = read_capture(path)
    comments = [t for p in packets for t in p.comments if t.startswith("throughput phase")]
    assert comments == ["throughput phase bulk OUT 64 B", "throughput phase bulk OUT 300 B"]
    frames = [p for p in packets if p.endpoint == c.EP_FRAME_OUT and p.urb_type == "S"]
    assert len(frames) >= 20


def test_an_unwritable_capture_directory_is_named_before_any_work(tmp_path: Path) -> None:
    from rig.cli.output_locations import OutputUnwritable

    blocker = tmp_path / "file"
    blocker.write_text("")
    try:
        run_command(latency_cmd, "latency", "--rig", "no-such-kind", "--report-dir", str(tmp_path / "rep"),
                    "--no-history", "--capture", str(blocker / "x.pcapng"))
    except OutputUnwritable as exc:
        assert "capture file's directory" in str(exc)
    else:
        raise AssertionError("an unwritable capture directory was not refused")


def test_capture_ring_bounds_the_file(tmp_path: Path) -> None:
    tshark()
    path = tmp_path / "ring.pcapng"
    rc = run_command(throughput_cmd, "throughput", "--rig", "loopback", "--direction", "out",
                     "--sizes", "1000", "--frames", "300", "--report-dir", str(tmp_path / "rep"),
                     "--no-history", "--no-progress", "--jack", "never", "--capture", str(path),
                     "--capture-ring", "0.05")
    assert rc == 0
    assert path.stat().st_size <= 0.05 * 1024 * 1024 + 4096
    packets = read_capture(path)
    assert any(p.midi or c.SUBCLASS_MIDI_STREAMING in p.interface_subclasses for p in packets[:8])
    assert packets[-1].endpoint in (c.EP_FRAME_OUT, 0x80, 0x00), "the newest transfers were not kept"


def test_rig_test_and_rig_run_pass_the_capture_options(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="rig")
    sub = parser.add_subparsers(dest="command", required=True)
    test_cmd.register(sub)
    args = parser.parse_args(["test", "--capture", "all.pcapng"])
    argv = test_cmd.pytest_args(args)
    assert argv[argv.index("--rig-capture-file") + 1] == "all.pcapng"
    argv = run_cmd.pytest_args("loopback", tmp_path, None, False, tmp_path / "all.pcapng")
    assert argv[argv.index("--rig-capture") + 1] == str(tmp_path / "captures")
    assert argv[argv.index("--rig-capture-file") + 1] == str(tmp_path / "all.pcapng")
    assert run_cmd.latency_capture(tmp_path / "all.pcapng") == tmp_path / "all-latency.pcapng"


def test_rig_run_links_a_failing_tests_capture(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_one.py").write_text("def test_fails(board):\n    board.info()\n    assert False\n\n"
                                       "def test_passes(board):\n    board.info()\n")
    report = tmp_path / "rep"
    rc = run_command(run_cmd, "run", "--rig", "loopback", "--report-dir", str(report), "--suite", str(suite),
                     "--no-latency")
    assert rc == 1
    kept = sorted(p.name for p in (report / "captures").iterdir())
    assert len(kept) == 1 and "test_fails" in kept[0]
    assert f"(captures/{kept[0]})" in (report / "report.md").read_text()

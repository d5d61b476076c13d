"""The rig pytest plugin, exercised with pytester against a fake target kind (no device needed)."""

from __future__ import annotations

import textwrap

import pytest

import rig.targets.registry

from .conftest import run_expecting, run_plugin

pytest_plugins = ["pytester"]

FAKE_TARGET = '''
"""A fake target kind for plugin tests: `fake:usb+frames` has exactly those features."""
from rig.targets.registry import Feature, Target, TargetSpec, register

OPENED = []
CLOSED = []


class FakeTarget(Target):
    def __init__(self, spec: TargetSpec) -> None:
        super().__init__(spec)
        names = (spec.arg or "").split("+") if spec.arg else []
        self.features = frozenset(Feature(n) for n in names if n != "broken")
        self.broken = "broken" in names

    def open(self) -> None:
        if self.broken:
            raise RuntimeError("no such thing attached")
        OPENED.append(self.name)

    def close(self) -> None:
        CLOSED.append(self.name)


register("fake", FakeTarget)
'''


def module_of_target_tests(count: int) -> str:
    """A test module's source: `count` tests (test_0, test_1, ...) that only take `rig_target`."""
    return "".join(f"def test_{i}(rig_target):\n    pass\n\n" for i in range(count))


@pytest.fixture
def rigtester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester with the fake target module importable and registered as kind `fake`."""
    pytester.makepyfile(fake_rig_target=FAKE_TARGET)
    pytester.syspathinsert()
    monkeypatch.setitem(rig.targets.registry.KINDS, "fake", "fake_rig_target")
    monkeypatch.delenv("CI", raising=False)
    return pytester


def test_options_are_in_the_rig_group(rigtester: pytest.Pytester) -> None:
    result = run_plugin(rigtester, "-rs", "--help")
    result.stdout.fnmatch_lines(["*USB-MIDI test rig*", "*--rig=SPEC*", "*--rig-strict*",
                                 "*--rig-report=DIR*"])


def test_each_rig_value_is_a_parametrization_with_the_target_in_the_id(rigtester: pytest.Pytester) -> None:
    rigtester.makepyfile(test_x="""
        def test_uses(rig_target):
            assert rig_target.name.startswith("fake")

        def test_plain():
            pass
    """)
    run_expecting(rigtester, "-rs", "-v", "--rig=fake:usb", "--rig=fake:frames", passed=3,
                  lines=["*test_uses?fake:usb? PASSED*", "*test_uses?fake:frames? PASSED*",
                         "*test_plain PASSED*"])


def test_target_is_opened_once_per_session_and_closed_at_the_end(rigtester: pytest.Pytester) -> None:
    rigtester.makepyfile(test_x=module_of_target_tests(2) + textwrap.dedent("""
        import fake_rig_target

        def test_c():
            assert fake_rig_target.OPENED == ["fake:usb"]
            assert fake_rig_target.CLOSED == []
    """))
    rigtester.makeconftest("""
        import fake_rig_target

        def pytest_unconfigure(config):
            assert fake_rig_target.CLOSED == ["fake:usb"], fake_rig_target.CLOSED
            print("CLOSED-OK")
    """)
    run_expecting(rigtester, "-rs", "-s", "--rig=fake:usb", passed=3,
                  lines=["*CLOSED-OK*"])


def test_needs_marker_skips_with_the_reason(rigtester: pytest.Pytester) -> None:
    rigtester.makepyfile(test_x="""
        import pytest

        @pytest.mark.needs("frames")
        def test_frames(rig_target):
            pass
    """)
    run_expecting(rigtester, "-rs", "--rig=fake:usb", skipped=1,
                  lines=["*target fake:usb lacks frames (the test is marked needs('frames'))*"])


def test_needs_marker_passes_when_present(rigtester: pytest.Pytester) -> None:
    rigtester.makepyfile(test_x="""
        import pytest

        @pytest.mark.needs("usb", "frames")
        def test_frames(rig_target):
            pass
    """)
    run_plugin(rigtester, "-rs", "--rig=fake:usb+frames").assert_outcomes(passed=1)


def test_unknown_feature_is_a_usage_error_naming_it(rigtester: pytest.Pytester) -> None:
    rigtester.makepyfile(test_x="""
        import pytest

        @pytest.mark.needs("teleport")
        def test_x(rig_target):
            pass
    """)
    result = run_plugin(rigtester, "-rs", "--rig=fake:usb")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*needs('teleport')*unknown feature*"])


STRICT_TEST = """
    import pytest

    @pytest.mark.needs("midi-os")
    def test_midi(rig_target):
        pass

    @pytest.mark.needs("real-timing")
    def test_timing(rig_target):
        pass
"""


def test_strict_turns_an_expected_capability_skip_into_a_failure(rigtester: pytest.Pytester,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # The fake kind "should have" midi-os, but not real-timing.
    from rig.pytest_plugin import skip_rule as plugin

    monkeypatch.setitem(plugin.EXPECTED_FEATURES, "fake", frozenset({rig.targets.registry.Feature.MIDI_OS}))
    rigtester.makepyfile(test_x=STRICT_TEST)
    result = run_expecting(rigtester, "-rs", "--rig=fake:usb", "--rig-strict", failed=1, skipped=1,
                           lines=["*--rig-strict: target fake:usb lacks midi-os*should have midi-os*"])
    assert result.ret == 1


def test_without_strict_both_are_skips(rigtester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    from rig.pytest_plugin import skip_rule as plugin

    monkeypatch.setitem(plugin.EXPECTED_FEATURES, "fake", frozenset({rig.targets.registry.Feature.MIDI_OS}))
    rigtester.makepyfile(test_x=STRICT_TEST)
    result = run_plugin(rigtester, "-rs", "--rig=fake:usb")
    result.assert_outcomes(skipped=2)
    assert result.ret == 0


def test_ci_environment_turns_strict_on(rigtester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    from rig.pytest_plugin import skip_rule as plugin

    monkeypatch.setitem(plugin.EXPECTED_FEATURES, "fake", frozenset({rig.targets.registry.Feature.MIDI_OS}))
    monkeypatch.setenv("CI", "true")
    rigtester.makepyfile(test_x=STRICT_TEST)
    run_plugin(rigtester, "-rs", "--rig=fake:usb").assert_outcomes(failed=1, skipped=1)


def test_fixture_capability_skip_and_strict_failure(rigtester: pytest.Pytester,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from rig.pytest_plugin import skip_rule as plugin

    monkeypatch.setitem(plugin.EXPECTED_FEATURES, "fake", frozenset({rig.targets.registry.Feature.CONSOLE}))
    rigtester.makepyfile(test_x="""
        def test_console(console):
            raise AssertionError("must not run")
    """)
    run_expecting(rigtester, "-rs", "--rig=fake:usb", skipped=1,
                  lines=["*target fake:usb lacks console (the console fixture needs it)*"])
    run_plugin(rigtester, "-rs", "--rig=fake:usb", "--rig-strict").assert_outcomes(failed=1)


def test_param_beats_option_beats_default(rigtester: pytest.Pytester,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from rig.pytest_plugin import options

    monkeypatch.setattr(options, "default_target", lambda: "fake:console")
    rigtester.makepyfile(test_x="""
        import pytest

        @pytest.mark.parametrize("rig_target", ["fake:frames"], indirect=True)
        def test_param(rig_target):
            assert rig_target.name == "fake:frames"

        def test_option_or_default(rig_target, request):
            expected = request.config.getoption("expect")
            assert rig_target.name == expected
    """)
    rigtester.makeconftest("""
        def pytest_addoption(parser):
            parser.addoption("--expect")
    """)
    run_plugin(rigtester, "-rs", "--rig=fake:usb", "--expect=fake:usb").assert_outcomes(passed=2)
    run_plugin(rigtester, "-rs", "--expect=fake:console").assert_outcomes(passed=2)


def test_a_target_that_cannot_open_errors_every_test_with_the_reason(rigtester: pytest.Pytester) -> None:
    rigtester.makepyfile(test_x=module_of_target_tests(2))
    run_expecting(rigtester, "-rs", "--rig=fake:broken", errors=2,
                  lines=["*target fake:broken: could not open: no such thing attached*"])


def test_hardware_marker_skips_without_a_board(rigtester: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    fake_board = types.ModuleType("rig.targets.board")
    fake_board.find_boards = lambda: []  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "rig.targets.board", fake_board)
    rigtester.makepyfile(test_x="""
        import pytest

        @pytest.mark.hardware
        def test_x():
            pass
    """)
    run_expecting(rigtester, "-rs", skipped=1,
                  lines=["*needs an attached board; none is attached*"])


def test_report_dir_gets_record_and_markdown(rigtester: pytest.Pytester) -> None:
    rigtester.makepyfile(test_x="""
        import pytest

        def test_ok(rig_target):
            pass

        def test_bad(rig_target):
            assert 1 == 2, "one is not two"

        @pytest.mark.needs("frames")
        def test_skip(rig_target):
            pass
    """)
    out = rigtester.path / "rep"
    result = run_plugin(rigtester, "-rs", "--rig=fake:usb", f"--rig-report={out}")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    from rig.pytest_plugin.run_report import RunRecord

    record = RunRecord.load(out)
    outcomes = {t.nodeid.split("::")[-1]: (t.outcome, t.message) for t in record.tests}
    assert outcomes["test_ok[fake:usb]"] == ("passed", "")
    assert outcomes["test_bad[fake:usb]"][0] == "failed"
    assert "one is not two" in outcomes["test_bad[fake:usb]"][1]
    assert outcomes["test_skip[fake:usb]"][0] == "skipped"
    assert "lacks frames" in outcomes["test_skip[fake:usb]"][1]
    text = (out / "report.md").read_text()
    assert "**Verdict: FAIL" in text and "fake:usb" in text and "one is not two" in text


def test_unknown_rig_value_is_a_usage_error(rigtester: pytest.Pytester) -> None:
    rigtester.makepyfile(test_x=module_of_target_tests(1))
    result = run_plugin(rigtester, "-rs", "--rig=nonsense")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--rig: unknown target 'nonsense'; expected one of loopback, emulator*"])


def test_a_target_that_cannot_open_is_one_short_error_per_test_without_tracebacks(
        rigtester: pytest.Pytester) -> None:
    rigtester.makepyfile(test_x=module_of_target_tests(5))
    result = run_plugin(rigtester, "--rig=fake:broken")
    result.assert_outcomes(errors=5)
    text = result.stdout.str()
    assert "raise TargetError" not in text and "state.py" not in text, text


def test_open_early_ends_the_session_in_one_line_naming_the_cause(rigtester: pytest.Pytester) -> None:
    """What `rig test` passes: a target that cannot open stops the session before any test runs."""
    rigtester.makepyfile(test_x=module_of_target_tests(5))
    result = run_plugin(rigtester, "--rig=fake:broken", "--rig-open-early")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.stdout.lines if "could not open" in line]
    assert len(lines) == 1 and "target fake:broken: could not open: no such thing attached" in lines[0]
    assert "Traceback" not in result.stdout.str() and "test_0" not in result.stdout.str()

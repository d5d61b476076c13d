"""The latency runner on an injected link: warm-up, losses, pipelining, gaps, Ctrl-C."""

from __future__ import annotations

import heapq
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.measure.clocksync import fit
from rig.measure.latency import LatencyError, LatencySettings, SettingsError, run_latency
from rig.measure.messages import short_message
from rig.measure.model import Run

from .fakes import EchoLink, FakeClock


def new_run() -> Run:
    return Run(kind="latency", path="fake", target="fake", target_kind="fake", real_timing=False)


def test_one_in_flight_round_trips_and_warmup_is_flagged() -> None:
    clock = FakeClock()
    link = EchoLink(clock, delay_ns=lambda n: 100_000 + n * 1000)
    run = run_latency(link, LatencySettings(count=50, warmup=5), new_run(), clock=clock, sleep=clock.sleep)
    assert len(run.samples) == 55
    assert [s.warmup for s in run.samples[:6]] == [True] * 5 + [False]
    assert all(not s.lost for s in run.samples)
    s = run.summary()
    assert s["rtt_us"]["count"] == 50
    assert s["rtt_us"]["min"] == pytest.approx(106.0)  # sample 5: 100 us + 5 us + 1 us of send
    assert s["sequence"]["lost"] == 0 and s["sequence"]["sent"] == 50
    assert run.settings["count"] == 50


def test_losses_are_counted_after_the_timeout() -> None:
    clock = FakeClock()
    link = EchoLink(clock, drop=lambda n: n % 10 == 3)
    run = run_latency(link, LatencySettings(count=40, warmup=0, timeout_s=0.01), new_run(),
                      clock=clock, sleep=clock.sleep)
    lost = [s.seq for s in run.samples if s.lost]
    assert lost == [3, 13, 23, 33]
    assert run.summary()["sequence"]["lost"] == 4


def test_pipelined_run_sees_reordering() -> None:
    clock = FakeClock()
    # Every 5th message is slow, so the next ones overtake it.
    link = EchoLink(clock, delay_ns=lambda n: 900_000 if n % 5 == 0 else 100_000)
    settings = LatencySettings(count=40, warmup=0, in_flight=8, gap_min_s=50e-6, gap_max_s=50e-6)
    run = run_latency(link, settings, new_run(), clock=clock, sleep=clock.sleep)
    seq = run.summary()["sequence"]
    assert seq["received"] == 40
    assert seq["out_of_order"] > 0


def test_random_gaps_are_seeded_and_within_bounds() -> None:
    def sends(seed: int) -> list[int]:
        clock = FakeClock()
        link = EchoLink(clock, delay_ns=lambda n: 10_000)
        s = LatencySettings(count=20, warmup=0, gap_min_s=1e-3, gap_max_s=2e-3, seed=seed)
        return [x.sent_ns for x in run_latency(link, s, new_run(), clock=clock, sleep=clock.sleep).samples]

    a, b, c = sends(7), sends(7), sends(8)
    assert a == b and a != c
    gaps = [y - x for x, y in itertools.pairwise(a)]
    assert all(1_000_000 <= g <= 2_000_000 + 1_000 for g in gaps)


def test_ctrl_c_keeps_the_samples_taken_so_far() -> None:
    clock = FakeClock()
    link = EchoLink(clock, interrupt_after=30)
    run = run_latency(link, LatencySettings(count=100, warmup=10), new_run(), clock=clock, sleep=clock.sleep)
    assert run.interrupted
    assert len(run.samples) == 30
    assert run.summary()["rtt_us"]["count"] == 20


def test_a_device_fault_keeps_the_samples_taken_so_far_and_names_the_error() -> None:
    """A link that fails (board unplugged) after 30 sends: the run stops, keeps the 30 samples,
    is marked incomplete and names target, transfer and fault; nothing is raised."""
    from rig.client.errors import BoardGone

    clock = FakeClock()
    link = EchoLink(clock, fail_after=30, fault=BoardGone("board E661: bulk write to EP_MIDI_OUT: gone"))
    run = run_latency(link, LatencySettings(count=100, warmup=10), new_run(), clock=clock, sleep=clock.sleep)
    assert run.interrupted and run.error is not None
    assert "fake: fake echo link failed sending message 30: BoardGone: board E661" in run.error
    assert len(run.samples) == 30
    summary = run.summary()
    assert summary["incomplete"] and summary["error"] == run.error
    assert summary["rtt_us"]["count"] == 20
    assert run.meta()["error"] == run.error


def test_a_fault_with_messages_in_flight_abandons_them() -> None:
    clock = FakeClock()
    link = EchoLink(clock, delay_ns=lambda n: 10_000_000, fail_after=6)
    run = run_latency(link, LatencySettings(count=20, warmup=0, in_flight=4), new_run(), clock=clock,
                      sleep=clock.sleep)
    assert run.error is not None and "ConnectionError" in run.error
    assert run.abandoned > 0 and len(run.samples) + run.abandoned == 6
    assert all(s.received_ns is not None for s in run.samples)


def test_ctrl_c_with_messages_in_flight_abandons_them_not_loses_them() -> None:
    clock = FakeClock()
    link = EchoLink(clock, delay_ns=lambda n: 10_000_000, interrupt_after=6)
    settings = LatencySettings(count=20, warmup=0, in_flight=4)
    run = run_latency(link, settings, new_run(), clock=clock, sleep=clock.sleep)
    assert run.interrupted and run.abandoned > 0
    assert all(not s.lost for s in run.samples)
    assert len(run.samples) + run.abandoned == 6


def test_transformed_answers_match_with_expect() -> None:
    clock = FakeClock()

    def transpose(b: bytes) -> bytes:
        return bytes((b[0], (b[1] + 12) & 0x7F, b[2]))

    link = EchoLink(clock, transform=transpose)
    run = run_latency(link, LatencySettings(count=10, warmup=0), new_run(), expect=transpose,
                      clock=clock, sleep=clock.sleep)
    assert run.summary()["sequence"]["received"] == 10
    unmatched = run_latency(EchoLink(clock, transform=transpose), LatencySettings(count=3, warmup=0,
                            timeout_s=0.001), new_run(), clock=clock, sleep=clock.sleep)
    assert unmatched.unexpected == 3 and unmatched.summary()["sequence"]["lost"] == 3


def test_one_way_split_with_device_stamps_and_clock_fit() -> None:
    from rig.measure.clocksync import Exchange

    clock = FakeClock()
    offset_us = 777_000
    link = EchoLink(clock, delay_ns=lambda n: 200_000, device_offset_us=offset_us)
    run = new_run()
    run_latency(link, LatencySettings(count=20, warmup=0, message="frame", size=16), run,
                clock=clock, sleep=clock.sleep)
    run.clock = fit([Exchange(t, offset_us + t // 1000 + 5, t + 10_000) for t in range(0, 10**9, 10**8)])
    one_way = run.summary()["one_way_us"]
    assert one_way["device_internal"]["p50"] == pytest.approx(10.0, abs=0.01)
    total = one_way["host_to_device"]["p50"] + 10.0 + one_way["device_to_host"]["p50"]
    assert total == pytest.approx(run.summary()["rtt_us"]["p50"], abs=0.01)


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(SettingsError, match="in_flight"):
        LatencySettings(in_flight=0).validate()
    with pytest.raises(ValueError, match="SysEx size 3"):
        LatencySettings(message="sysex", size=3).validate()
    with pytest.raises(ValueError, match="gaps"):
        LatencySettings(gap_min_s=2, gap_max_s=1).validate()


def test_window_wider_than_the_message_space_is_refused() -> None:
    clock = FakeClock()
    link = EchoLink(clock, drop=lambda n: True)
    with pytest.raises(LatencyError, match="in flight"):
        run_latency(link, LatencySettings(count=20000, warmup=0, in_flight=20000), new_run(),
                    clock=clock, sleep=clock.sleep)
    assert short_message(0) == short_message(128 * 127)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(10_000, 3_000_000), min_size=1, max_size=60), st.integers(1, 6),
       st.sets(st.integers(0, 59), max_size=10))
def test_books_balance_for_any_delays_and_drops(delays: list[int], in_flight: int, dropped: set[int]) -> None:
    """Every sent message is received or lost exactly once; RTTs are what the link delayed."""
    clock = FakeClock()
    link = EchoLink(clock, delay_ns=lambda n: delays[n % len(delays)], drop=lambda n: n in dropped)
    count = len(delays)
    run = run_latency(link, LatencySettings(count=count, warmup=0, in_flight=in_flight, timeout_s=0.002),
                      new_run(), clock=clock, sleep=clock.sleep)
    seq = run.summary()["sequence"]
    assert seq["sent"] == count == len(run.samples)
    assert seq["received"] + seq["lost"] == count
    for s in run.samples:
        delay = delays[s.seq % len(delays)]
        if s.seq in dropped or delay > 2_000_000:
            assert s.lost and s.received_ns is None
        elif delay < 1_900_000:
            assert not s.lost
        if s.received_ns is not None:
            assert s.received_ns - s.sent_ns >= delays[s.seq % len(delays)]


def test_duplicates_and_late_answers_are_counted_apart() -> None:
    clock = FakeClock()

    class Doubling(EchoLink):
        def send(self, payload: bytes) -> None:
            n = len(self.sent)
            super().send(payload)
            if n == 4:  # the device answers message 4 twice
                heapq.heappush(self._pending, (self.clock.now_ns + 300_000, 10_000, payload))

    link = Doubling(clock, delay_ns=lambda n: 5_000_000 if n == 7 else 100_000)
    run = run_latency(link, LatencySettings(count=12, warmup=0, timeout_s=0.002, gap_min_s=0.001,
                                            gap_max_s=0.001), new_run(), clock=clock, sleep=clock.sleep)
    s = run.summary()
    assert s["sequence"]["duplicates"] == 1
    assert s["sequence"]["lost"] == 1 and run.samples[7].lost
    assert s["late"] == 1 and s["unexpected"] == 0

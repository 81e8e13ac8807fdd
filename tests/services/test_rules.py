"""Every detection rule on hand-made series, with the night edges at 22:00 and 06:00."""

from datetime import datetime, timedelta

import pytest

from portal.services import rules

SH = rules.LOCAL
NOISE = {"limit": 70, "night_limit": 55, "night_peak": 15, "min_seconds": 300, "hysteresis": 2}


def local(hour, minute=0, second=0, day=30):
    return datetime(2026, 11, day, hour, minute, second, tzinfo=SH)


def series(start, values, step=60):
    return [(start + timedelta(seconds=i * step), float(v)) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("moment", "night"),
    [
        (local(21, 59, 59), False),
        (local(22, 0, 0), True),
        (local(3, 0), True),
        (local(5, 59, 59), True),
        (local(6, 0, 0), False),
        (local(12, 0), False),
    ],
)
def test_night_is_22_to_6_in_shanghai(moment, night):
    assert rules.is_night(moment) is night
    assert rules.limit_at(NOISE, moment) == (55 if night else 70)


def test_night_edges_hold_in_utc_too():
    # 22:00 in Shanghai is 14:00 UTC.
    assert rules.is_night(datetime.fromisoformat("2026-11-30T14:00:00+00:00"))
    assert not rules.is_night(datetime.fromisoformat("2026-11-30T13:59:59+00:00"))
    assert not rules.is_night(datetime.fromisoformat("2026-11-30T22:00:00+00:00"))  # 06:00


def test_threshold_needs_the_minimum_duration():
    # 62 dB(A) from 21:55 to 22:06: legal by day, a breach at night once it lasts 5 minutes.
    points = series(local(21, 55), [62] * 12)
    assert rules.threshold_breach(NOISE, points[:6]) is None  # 21:55..22:00: 1 night minute
    assert rules.threshold_breach(NOISE, points[:10]) is None  # 22:04: 4 night minutes
    assert rules.threshold_breach(NOISE, points[:11]) == 62  # 22:05: five minutes at night


def test_a_dip_restarts_the_duration():
    points = series(local(23, 0), [60, 60, 60, 50, 60, 60, 60, 60, 60, 60])  # dip at 23:03
    assert rules.threshold_breach(NOISE, points[:9]) is None  # 23:08: the dip is in the window
    assert rules.threshold_breach(NOISE, points) == 60  # 23:09: 23:04..23:09 all above


def test_the_morning_edge_at_six_ends_the_night_limit():
    points = series(local(5, 50), [62] * 16)  # 05:50 .. 06:05
    assert rules.threshold_breach(NOISE, points[:10]) == 62  # 05:59, still night
    assert rules.threshold_breach(NOISE, points[10:]) is None  # 06:00 on: below 70
    assert rules.threshold_breach(NOISE, points) is None  # last point 06:05 is day and legal


def test_the_night_peak_breaches_at_once_by_day_it_does_not():
    assert rules.threshold_breach(NOISE, [(local(22, 0), 70.5)]) == 70.5
    assert rules.threshold_breach(NOISE, [(local(22, 0), 70.0)]) is None  # 55 + 15: not above
    assert rules.threshold_breach(NOISE, [(local(21, 59), 80.0)]) is None  # day: needs 5 min
    assert rules.threshold_breach(NOISE, [(local(5, 59), 71.0)]) == 71.0
    assert rules.threshold_breach(NOISE, [(local(6, 0), 71.0)]) is None


def test_a_series_too_short_for_the_duration_is_not_a_breach():
    assert rules.threshold_breach(NOISE, series(local(12), [75, 75, 75])) is None
    assert rules.threshold_breach(NOISE, series(local(12), [75] * 6)) == 75


def test_hysteresis_keeps_an_alarm_until_the_value_is_clearly_below():
    water = {"limit": 15, "hysteresis": 3}
    assert rules.threshold_breach(water, [(local(12), 15.0)]) == 15.0
    assert not rules.is_normal(water, local(12), 14.0)
    assert not rules.is_normal(water, local(12), 12.0)
    assert rules.is_normal(water, local(12), 11.9)
    assert rules.is_normal(NOISE, local(22), 52.9) and not rules.is_normal(NOISE, local(22), 53)


def test_an_hourly_mean_breaches_even_if_the_last_value_is_low():
    pm10 = {"limit": 150, "mean_seconds": 3600}
    high = series(local(10), [200] * 60 + [100])  # 10:00..11:00
    assert rules.threshold_breach(pm10, high) == pytest.approx((200 * 60 + 100) / 61)
    low = series(local(10), [100] * 61)
    assert rules.threshold_breach(pm10, low) is None
    assert rules.threshold_breach(pm10, high[-30:]) is None  # half an hour: no hourly mean


def test_rate_of_change():
    rising = {"max_per_minute": 2}
    assert rules.rate_breach(rising, series(local(12), [3, 6], step=60)) == 3
    assert rules.rate_breach(rising, series(local(12), [3, 6], step=120)) is None  # 1.5/min
    assert rules.rate_breach(rising, series(local(12), [9, 3])) is None  # falling
    assert rules.rate_breach({"max_per_minute": 2, "falling": True}, series(local(12), [9, 3]))
    assert rules.rate_breach(rising, series(local(12), [3])) is None
    assert rules.rate_breach(rising, [(local(12), 1.0), (local(12), 9.0)]) is None


def test_baseline_robust_z_per_hour_of_the_week():
    params = {"max_z": 3.5, "min_samples": 4, "min_mad": 0.5}
    history = [60, 62, 58, 61, 59, 300]  # one week had a festival: the median shrugs it off
    assert rules.baseline_breach(params, 61, history) is None
    z = rules.baseline_breach(params, 90, history)
    assert z is not None and z > 3.5
    assert rules.baseline_breach(params, 30, history) < -3.5
    assert rules.baseline_breach(params, 90, [60, 61, 59]) is None  # too little history
    assert rules.robust_z(5, [5, 5, 5], 0) == 0 and rules.robust_z(6, [5, 5, 5], 0) == float("inf")
    assert rules.hour_of_week(local(0, day=30)) == 0  # 30 Nov 2026 is a Monday
    assert rules.hour_of_week(local(23, day=29)) == 167


def test_silence():
    params = {"minutes": 30}
    made = local(8)
    assert not rules.silent(params, local(11, 31), made, local(12))
    assert rules.silent(params, local(11, 30), made, local(12))
    assert rules.silent(params, None, made, local(9))
    assert not rules.silent(params, None, made, local(8, 29))

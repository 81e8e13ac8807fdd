"""Detection rules on series of readings: pure functions, tested on hand-made series.

A point is (aware time, value), oldest first. Night is 22:00–06:00 in Asia/Shanghai (GB
12523-2011); each point is judged against the limit of its own time.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Asia/Shanghai")
NIGHT_START = time(22, 0)
NIGHT_END = time(6, 0)

Point = tuple[datetime, float]


def is_night(moment: datetime) -> bool:
    """Tell whether a moment falls in the night hours, 22:00 (included) to 06:00 (excluded)."""
    hourly = _night_for_hour(int(moment.timestamp()) // 3600)
    if hourly is not None:
        return hourly
    local = moment.astimezone(LOCAL).time()
    return local >= NIGHT_START or local < NIGHT_END


@lru_cache(maxsize=8192)
def _night_for_hour(hour: int) -> bool | None:
    """Tell whether a whole UTC hour (hours since the epoch) is night; None when it is not
    all one or the other (an offset change inside it, or an offset in part hours).

    The rules judge every point against the limit of its time: this spares a time zone
    conversion per point, since night starts and ends on the hour."""
    start = datetime.fromtimestamp(hour * 3600, UTC)
    offset = start.astimezone(LOCAL).utcoffset()
    last = (start + timedelta(hours=1, microseconds=-1)).astimezone(LOCAL).utcoffset()
    if offset is None or offset != last or offset % timedelta(hours=1):
        return None
    if NIGHT_START.minute or NIGHT_END.minute:
        return None
    local = (start + offset).time()
    return local >= NIGHT_START or local < NIGHT_END


def limit_at(params: dict, moment: datetime) -> float:
    """Return the limit in force at a moment: the night limit at night if the rule has one."""
    if params.get("night_limit") is not None and is_night(moment):
        return float(params["night_limit"])
    return float(params["limit"])


def is_normal(params: dict, moment: datetime, value: float) -> bool:
    """Tell whether a value is back to normal: below its limit by the hysteresis margin."""
    return value < limit_at(params, moment) - float(params.get("hysteresis", 0))


def peak_breach(params: dict, point: Point) -> bool:
    """Tell whether one night value exceeds the night limit by more than the peak margin."""
    moment, value = point
    peak = params.get("night_peak")
    if peak is None or params.get("night_limit") is None or not is_night(moment):
        return False
    return value > float(params["night_limit"]) + float(peak)


def threshold_breach(params: dict, points: Sequence[Point]) -> float | None:
    """Return the value that breaches the threshold at the last point, None if none does.

    min_seconds: every point over that long must be at or above its limit, and the points
    must cover it. mean_seconds: the mean over that window (covered) is compared instead.
    At night a single peak above night_limit + night_peak breaches at once.
    """
    if not points:
        return None
    last = points[-1]
    if peak_breach(params, last):
        return last[1]
    mean_seconds = float(params.get("mean_seconds", 0))
    if mean_seconds:
        window = _window(points, mean_seconds)
        if window is None:
            return None
        return mean_breach(params, last, math.fsum(value for _, value in window), len(window))
    if last[1] < limit_at(params, last[0]):
        return None
    min_seconds = float(params.get("min_seconds", 0))
    if not min_seconds:
        return last[1]
    window = _window(points, min_seconds)
    if window is None:
        return None
    if all(value >= limit_at(params, moment) for moment, value in window):
        return last[1]
    return None


def mean_breach(params: dict, last: Point, total: float | None, count: int) -> float | None:
    """Return the mean of a threshold rule's window (mean_seconds) if it breaches at the last
    point, from the window's sum and count (None: the series does not reach back that far);
    a night peak at the last point breaches at once, as in threshold_breach.

    The mean is total / count. threshold_breach sums exactly (math.fsum, as
    statistics.fmean does); the worker on PostgreSQL takes the database's float sum, which
    for these non-negative values is within (count - 1) x 2^-53 of it, relative (2e-13 for
    an hour at one reading every 2 s): a mean that close to the limit may be judged either
    way, values that add up exactly in binary (whole numbers, halves) are judged alike."""
    if peak_breach(params, last):
        return last[1]
    if total is None or not count:
        return None
    mean = total / count
    return mean if mean >= limit_at(params, last[0]) else None


def _window(points: Sequence[Point], seconds: float) -> list[Point] | None:
    """Return the points of the last `seconds`, from the one at or before its start; None
    when the series does not reach back that far."""
    start = points[-1][0] - timedelta(seconds=seconds)
    first = None
    for index in range(len(points) - 1, -1, -1):
        if points[index][0] <= start:
            first = index
            break
    if first is None:
        return None
    return list(points[first:])


def rate_breach(params: dict, points: Sequence[Point]) -> float | None:
    """Return the change per minute from the first point to the last (the rule's window, so
    that a sensor's jitter between two close readings is not a trend) if above max_per_minute."""
    if len(points) < 2:
        return None
    return rate_between(params, points[0], points[-1])


def rate_between(params: dict, first: Point, last: Point) -> float | None:
    """Return the change per minute from first to last if above max_per_minute (rate_breach
    on a window's first and last points, all the rule needs of it)."""
    (t0, v0), (t1, v1) = first, last
    minutes = (t1 - t0).total_seconds() / 60
    if minutes <= 0:
        return None
    rate = (v1 - v0) / minutes
    limit = float(params["max_per_minute"])
    if params.get("falling"):
        return rate if abs(rate) >= limit else None
    return rate if rate >= limit else None


def robust_z(value: float, history: Sequence[float], min_mad: float = 0.0) -> float | None:
    """Return the robust z-score of a value against history (median and MAD)."""
    if not history:
        return None
    median = statistics.median(history)
    mad = statistics.median(abs(x - median) for x in history)
    mad = max(mad, min_mad)
    if mad == 0:
        return 0.0 if value == median else float("inf")
    return 0.6745 * (value - median) / mad


def baseline_breach(params: dict, value: float, history: Sequence[float]) -> float | None:
    """Return the z-score if a value deviates from the device's own baseline (same hour of
    the week in past weeks) by more than max_z; None with too little history."""
    if len(history) < int(params.get("min_samples", 4)):
        return None
    z = robust_z(value, history, float(params.get("min_mad", 0.5)))
    if z is None or abs(z) <= float(params.get("max_z", 3.5)):
        return None
    return z


def hour_of_week(moment: datetime) -> int:
    """Return the local hour of the week, 0 (Monday 00:00) to 167."""
    local = moment.astimezone(LOCAL)
    return local.weekday() * 24 + local.hour


def silent(params: dict, last_seen: datetime | None, since: datetime, now: datetime) -> bool:
    """Tell whether a device has sent nothing for `minutes` (counting from since if never)."""
    quiet_from = last_seen or since
    return now - quiet_from >= timedelta(minutes=float(params["minutes"]))

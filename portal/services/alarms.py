"""Alarms: rules run on stored readings; people acknowledge, verify, open a case or dismiss.

One device and rule has at most one open alarm (raised, acknowledged or verified); later
breaches add to it. An alarm not yet verified clears itself once the value has been
normal for the rule's clear_seconds. An alarm nobody acknowledges escalates one level per
ALARM_ESCALATE_MINUTES, as an SLA clock would.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from portal.models import (
    OPEN_ALARM_STATES,
    Alarm,
    AuditEntry,
    Case,
    Category,
    DetectionRule,
    Device,
    Reading,
    ReadingHour,
    User,
)
from portal.services import audit, rules
from portal.services.readings import LOCKED_KINDS, UNITS, Ids, among, transaction_of

VERIFIER_ROLES = ("dispatcher", "handler", "supervisor", "admin")
DEFAULT_CLEAR_SECONDS = 600
BASELINE_WEEKS = 8


class AlarmError(ValueError):
    """A step the alarm's state or the user's role does not allow."""


def _setting(name: str, default: float) -> float:
    if has_app_context():
        return float(current_app.config.get(name, default))
    return default


def resolved(params: dict) -> dict:
    """Return a rule's parameters with setting names (such as "PM10_LIMIT") made numbers."""
    out = dict(params)
    for key in ("limit", "night_limit"):
        if isinstance(out.get(key), str):
            out[key] = _setting(out[key], 0.0)
    return out


def rules_by_device(session: Session, kinds: dict[int, str]) -> dict[int, list[DetectionRule]]:
    """Return the active rules of each device (lists to read, not change): its kind's, with
    its own rules of the same code in their place."""
    found = session.scalars(
        select(DetectionRule).where(
            DetectionRule.active.is_(True),
            or_(
                DetectionRule.device_kind.in_(set(kinds.values())),
                among(session, DetectionRule.device_id, kinds),
            ),
        )
    ).all()
    by_kind: dict[str, list[DetectionRule]] = defaultdict(list)
    own: dict[int, list[DetectionRule]] = defaultdict(list)
    for rule in found:
        if rule.device_id is not None:
            own[rule.device_id].append(rule)
        else:
            by_kind[rule.device_kind or ""].append(rule)
    result = {}
    for device_id, kind in kinds.items():
        if device_id not in own:
            result[device_id] = by_kind.get(kind, [])  # shared between devices: read only
            continue
        mine = {rule.code: rule for rule in own[device_id]}
        chosen = [rule for rule in by_kind.get(kind, []) if rule.code not in mine]
        result[device_id] = chosen + list(mine.values())
    return result


def open_alarms(session: Session, device_ids: Iterable[int]) -> dict[tuple[int, int], Alarm]:
    """Return the open alarms of some devices by (device, rule)."""
    ids = list(device_ids)
    if not ids:
        return {}
    alarms = session.scalars(
        select(Alarm).where(
            among(session, Alarm.device_id, ids), Alarm.state.in_(OPEN_ALARM_STATES)
        )
    ).all()
    return {(a.device_id, a.rule_id): a for a in alarms}


def _lookback(rule: DetectionRule, params: dict) -> float:
    """Return how many seconds of readings before a point a rule looks at (0: the point)."""
    if rule.rule_kind == "threshold":
        return max(float(params.get("min_seconds", 0)), float(params.get("mean_seconds", 0)))
    if rule.rule_kind == "rate":
        return float(params.get("window_seconds", 300))
    return 0.0


# What a rule needs of the readings before a point (_need): the window's points (a
# threshold with a minimum duration: each point against its own limit), only its first
# point (a rate: the first and last points make it), or only its sum and count from the
# point at or before its start (a threshold on a mean).
POINTS, FIRST, MEAN = "points", "first", "mean"


def _need(rule_kind: str, params: dict, seconds: float) -> tuple[str, float] | None:
    """Return what a rule reads of the window before each point and how far back, or None."""
    if rule_kind == "rate":
        return FIRST, seconds
    if rule_kind == "threshold" and params.get("mean_seconds"):
        return MEAN, float(params["mean_seconds"])  # threshold_breach ignores min_seconds
    if rule_kind == "threshold" and seconds:
        return POINTS, seconds
    return None


# (first point or None, sum, count) of a window up to a point (see _summaries).
Summary = tuple[rules.Point | None, float | None, int]


def _series(
    session: Session, spans: dict[str, tuple[set[int], datetime]]
) -> dict[tuple[int, str], list[rules.Point]]:
    """Return, by (device, metric), the readings after each metric's `since`, plus each
    device's last reading at or before it, oldest first: two queries per metric for a whole
    batch, whatever the number of devices."""
    if session.get_bind().dialect.name == "postgresql":
        return _series_pg(session, spans)
    found: dict[tuple[int, str], list[rules.Point]] = {}
    connection = session.connection()  # plain rows: no ORM work per reading
    for metric, (ids, since) in spans.items():
        id_list = sorted(ids)
        last_before = (
            select(Reading.ts)
            .where(Reading.device_id == Device.id, Reading.metric == metric, Reading.ts <= since)
            .order_by(Reading.ts.desc())
            .limit(1)
            .correlate(Device)
            .scalar_subquery()
        )
        starts = select(Device.id.label("device_id"), last_before.label("ts")).where(
            among(session, Device.id, id_list)
        )
        starts = starts.subquery()
        before = connection.execute(
            select(Reading.device_id, Reading.ts, Reading.value).join(
                starts,
                and_(
                    Reading.device_id == starts.c.device_id,
                    Reading.ts == starts.c.ts,
                    Reading.metric == metric,
                ),
            )
        ).all()
        for d in id_list:
            found[(d, metric)] = []
        for d, t, v in before:
            found[(d, metric)].append((t, v))
        after = connection.execute(
            select(Reading.device_id, Reading.ts, Reading.value)
            .where(
                among(session, Reading.device_id, id_list),
                Reading.metric == metric,
                Reading.ts > since,
            )
            .order_by(Reading.device_id, Reading.ts)
        )
        for d, t, v in after:
            found[(d, metric)].append((t, v))
    return found


# _series in one statement a metric (PostgreSQL): each device's last reading at or before
# `since`, then its readings after it, oldest first, read by the driver (no type processing).
_SERIES_PG = """
SELECT d.id, b.ts, b.value FROM unnest(%(ids)s::int[]) AS d(id)
CROSS JOIN LATERAL (
    SELECT ts, value FROM reading
    WHERE device_id = d.id AND metric = %(metric)s AND ts <= %(since)s
    ORDER BY ts DESC LIMIT 1
) AS b
UNION ALL
SELECT device_id, ts, value FROM reading
WHERE device_id = ANY(%(ids)s::int[]) AND metric = %(metric)s AND ts > %(since)s
ORDER BY 1, 2
"""


def _series_pg(
    session: Session, spans: dict[str, tuple[set[int], datetime]]
) -> dict[tuple[int, str], list[rules.Point]]:
    found: dict[tuple[int, str], list[rules.Point]] = {}
    connection = session.connection().connection.driver_connection
    with connection.cursor() as cursor:
        for metric, (ids, since) in spans.items():
            id_list = sorted(ids)
            for d in id_list:
                found[(d, metric)] = []
            cursor.execute(_SERIES_PG, {"ids": Ids(id_list), "metric": metric, "since": since})
            for d, t, v in cursor.fetchall():
                found[(d, metric)].append((t, v))
    return found


# The windows' first points (FIRST) for a batch's points of one metric, in one statement
# (PostgreSQL): for each point, the device's last reading at or before the window's start,
# else its first one after the start (up to the point), as _Window.upto finds them.
_FIRSTS_PG = """
SELECT p.device_id, p.ts, coalesce(b.ts, a.ts), coalesce(b.value, a.value)
FROM unnest(%(ids)s::int[], %(times)s::timestamptz[], %(starts)s::timestamptz[])
    AS p(device_id, ts, start)
LEFT JOIN LATERAL (
    SELECT ts, value FROM reading
    WHERE device_id = p.device_id AND metric = %(metric)s AND ts <= p.start
    ORDER BY ts DESC LIMIT 1
) AS b ON true
LEFT JOIN LATERAL (
    SELECT ts, value FROM reading
    WHERE b.ts IS NULL
        AND device_id = p.device_id AND metric = %(metric)s AND ts > p.start AND ts <= p.ts
    ORDER BY ts LIMIT 1
) AS a ON true
"""
# The windows' sums and counts (MEAN), from the reading at or before each window's start to
# the point, summed by PostgreSQL (float8, in time order); a point whose device has no
# reading that far back is left out (no mean).
_MEANS_PG = """
SELECT p.device_id, p.ts, s.total, s.n
FROM unnest(%(ids)s::int[], %(times)s::timestamptz[], %(starts)s::timestamptz[])
    AS p(device_id, ts, start)
CROSS JOIN LATERAL (
    SELECT ts FROM reading
    WHERE device_id = p.device_id AND metric = %(metric)s AND ts <= p.start
    ORDER BY ts DESC LIMIT 1
) AS b
CROSS JOIN LATERAL (
    SELECT sum(value) AS total, count(*) AS n FROM reading
    WHERE device_id = p.device_id AND metric = %(metric)s AND ts >= b.ts AND ts <= p.ts
) AS s
"""


def _summaries(
    session: Session, wanted: dict[tuple[str, str, float], set[tuple[int, datetime]]]
) -> dict[tuple[str, str, float], dict[tuple[int, datetime], Summary]]:
    """Return, for each (need, metric, seconds) and each (device, time) of a stored point,
    its window's Summary: the first point (FIRST), or the sum and count (MEAN).

    PostgreSQL works them out and returns one row a point, whatever the window's length;
    elsewhere the windows' points are read (_series) and summed here, exactly (math.fsum)."""
    found: dict[tuple[str, str, float], dict[tuple[int, datetime], Summary]] = {}
    if not wanted:
        return found
    if session.get_bind().dialect.name != "postgresql":
        spans: dict[str, tuple[set[int], datetime]] = {}
        for (_need, metric, seconds), points in wanted.items():
            ids, since = spans.get(metric, (set(), min(t for _, t in points)))
            ids.update(d for d, _ in points)
            start = min(t for _, t in points) - timedelta(seconds=seconds)
            spans[metric] = (ids, min(since, start))
        windows = {key: _Window(points) for key, points in _series(session, spans).items()}
        for key, points in wanted.items():
            need, metric, seconds = key
            summaries = found[key] = {}
            for device_id, moment in points:
                window = windows.get((device_id, metric))
                upto = window.upto((moment, 0.0), seconds) if window is not None else []
                if need == FIRST:
                    summaries[(device_id, moment)] = (upto[0] if upto else None, None, 0)
                elif upto and upto[0][0] <= moment - timedelta(seconds=seconds):
                    values = [value for _, value in upto]
                    summaries[(device_id, moment)] = (upto[0], math.fsum(values), len(values))
        return found
    connection = session.connection().connection.driver_connection
    with connection.cursor() as cursor:
        for key, points in wanted.items():
            need, metric, seconds = key
            ordered = sorted(points)
            back = timedelta(seconds=seconds)
            cursor.execute(
                _FIRSTS_PG if need == FIRST else _MEANS_PG,
                {
                    "ids": Ids(d for d, _ in ordered),
                    "times": [t for _, t in ordered],
                    "starts": [t - back for _, t in ordered],
                    "metric": metric,
                },
            )
            summaries = found[key] = {}
            if need == FIRST:
                for d, t, first_ts, first_value in cursor.fetchall():
                    first = None if first_ts is None else (first_ts, first_value)
                    summaries[(d, t)] = (first, None, 0)
            else:
                for d, t, total, count in cursor.fetchall():
                    summaries[(d, t)] = (None, total, count)
    return found


def _hour_means(
    session: Session, wanted: dict[str, dict[int, set[datetime]]]
) -> dict[tuple[int, str, datetime], float]:
    """Return the hourly means of some devices' hours, by (device, metric, hour)."""
    means: dict[tuple[int, str, datetime], float] = {}
    for metric, by_device in wanted.items():
        hours = set().union(*by_device.values())
        rows = session.execute(
            select(
                ReadingHour.device_id, ReadingHour.hour, ReadingHour.total, ReadingHour.count
            ).where(
                among(session, ReadingHour.device_id, by_device),
                ReadingHour.metric == metric,
                ReadingHour.hour.in_(sorted(hours)),
            )
        )
        for d, hour, total, count in rows:
            if count:
                means[(d, metric, hour)] = total / count
    return means


def _past_hours(moment: datetime) -> tuple[datetime, ...]:
    """Return the same hour of the week in the past BASELINE_WEEKS weeks."""
    return _weeks_before(moment.replace(minute=0, second=0, microsecond=0))


@lru_cache(maxsize=4096)
def _weeks_before(hour: datetime) -> tuple[datetime, ...]:
    return tuple(hour - timedelta(weeks=k) for k in range(1, BASELINE_WEEKS + 1))


class _Window:
    """A device's series of one metric, with the points up to a moment found by bisection."""

    def __init__(self, points: list[rules.Point]) -> None:
        self.points = points
        self.times = [t for t, _ in points]

    def upto(self, point: rules.Point, seconds: float) -> list[rules.Point]:
        """Return the points of the `seconds` up to the point's time, plus the one just
        before (the point itself last)."""
        moment = point[0]
        end = bisect_right(self.times, moment)
        start = bisect_right(self.times, moment - timedelta(seconds=seconds))
        found = self.points[max(start - 1, 0) : end]
        if not found or found[-1][0] != moment:
            found = [*found, point]
        return found


def _floor(params: dict) -> float | None:
    """Return the value below which a threshold rule cannot breach at any time (below its
    day and night limits, so neither a limit nor a night peak): _low's first test, worked
    out once a batch; None for a mean, which can stay high after a low value."""
    try:
        if params.get("mean_seconds") or float(params.get("night_peak") or 0) < 0:
            return None
        night = params.get("night_limit")
        limit = float(params["limit"])
        return limit if night is None else min(limit, float(night))
    except (KeyError, TypeError, ValueError):
        return None  # judged point by point, as before (and failing there as before)


def _low(params: dict, point: rules.Point) -> bool:
    """Tell whether a threshold rule without a mean cannot breach at this point."""
    if params.get("mean_seconds"):
        return False  # a mean can stay high after a low value
    value = point[1]
    night = params.get("night_limit")
    floor = float(params["limit"]) if night is None else min(float(params["limit"]), float(night))
    if value < floor and float(params.get("night_peak") or 0) >= 0:
        return True  # below the day and the night limit, so neither the limit nor a peak
    return value < rules.limit_at(params, point[0]) and not rules.peak_breach(params, point)


def judge(
    rule_kind: str,
    params: dict,
    need: tuple[str, float] | None,
    point: rules.Point,
    window: _Window | None,
    summary: Summary | None,
    history: list[float],
) -> tuple[bool, float | None]:
    """Return (breached, value) for a rule at one point; value None if normal.

    need is what the rule reads before the point (_need); window holds the device's
    readings of the metric around the batch (POINTS, see _series); summary the first point,
    or the sum and count, of the point's window (FIRST, MEAN, see _summaries); history the
    hourly means of the point's hour of the week in past weeks (baseline).
    """
    if rule_kind == "threshold":
        if _low(params, point):
            return False, None
        if need is not None and need[0] == MEAN:
            _first, total, count = summary or (None, None, 0)
            found = rules.mean_breach(params, point, total, count)
        else:
            back = need[1] if need is not None else 0
            points = window.upto(point, back) if back and window is not None else [point]
            found = rules.threshold_breach(params, points)
        return found is not None, found
    if rule_kind == "rate":
        first = summary[0] if summary is not None else None
        found = None if first is None else rules.rate_between(params, first, point)
        return found is not None, found
    if rule_kind == "baseline":
        found = rules.baseline_breach(params, point[1], history)
        return found is not None, found
    return False, None


def _normal(rule: DetectionRule, latest: rules.Point) -> bool:
    """Tell whether the latest value counts as normal for clearing (with hysteresis)."""
    if rule.rule_kind == "threshold":
        return rules.is_normal(resolved(rule.params), latest[0], latest[1])
    return True  # rate and baseline: the breach is gone as soon as it is not repeated


def raise_or_add(
    session: Session,
    alarm: Alarm | None,
    device: Device,
    rule: DetectionRule,
    value: float | None,
    moment: datetime,
) -> Alarm:
    """Raise an alarm for a breach, or add the breach to the open alarm of the device and rule."""
    if alarm is not None:
        alarm.breach_count += 1
        alarm.last_breach_at = max(alarm.last_breach_at, moment)
        alarm.normal_since = None
        if value is not None and (alarm.peak_value is None or value > alarm.peak_value):
            alarm.peak_value = value
        return alarm
    alarm = Alarm(
        device_id=device.id,
        rule_id=rule.id,
        state="raised",
        lat=device.lat,
        lng=device.lng,
        summary=f"{rule.name_zh}{_shown(rule, value)} · {device.code}"[:255],
        category_code=rule.category_code,
        opened_at=moment,
        last_breach_at=moment,
        breach_count=1,
        peak_value=value,
    )
    session.add(alarm)
    return alarm


def _shown(rule: DetectionRule, value: float | None) -> str:
    """Return the value an alarm's title gives, in the rule's own terms: a reading with its
    unit, a rate per minute, a baseline's z-score; nothing for an open/closed state."""
    if value is None or rule.metric == "open" or rule.rule_kind == "silence":
        return ""
    unit = UNITS.get(rule.metric, "")
    if rule.rule_kind == "rate":
        return f" {value:+.1f}{unit}/分钟"
    if rule.rule_kind == "baseline":
        return f" z={value:.1f}"
    return f" {value:.1f}{unit}"


HANDLED_STATES = ("case", "dismissed")


def _clear_wait(rule: DetectionRule) -> timedelta:
    """Return how long a rule's value must be normal, or its breaches pause, to clear."""
    return timedelta(seconds=float(rule.params.get("clear_seconds", DEFAULT_CLEAR_SECONDS)))


def handled_alarms(
    session: Session, pairs: Iterable[tuple[int, int]], since: datetime
) -> dict[tuple[int, int], Alarm]:
    """Return, by (device, rule), the latest alarm a person has handled (made a case of, or
    dismissed as false) with a breach since `since`: a breach that goes on holds to it."""
    wanted = set(pairs)
    if not wanted:
        return {}
    found = session.scalars(
        select(Alarm)
        .where(
            among(session, Alarm.device_id, sorted({d for d, _ in wanted})),
            Alarm.state.in_(HANDLED_STATES),
            Alarm.last_breach_at >= since,
        )
        .order_by(Alarm.last_breach_at)
    ).all()
    return {(a.device_id, a.rule_id): a for a in found if (a.device_id, a.rule_id) in wanted}


def _holds(alarm: Alarm, rule: DetectionRule, moment: datetime) -> bool:
    """Tell whether a breach at `moment` adds to the alarm: an open one always; one a person
    has handled while the breaches go on without a pause of the rule's clear time (the
    same condition, already a case or judged false: no new alarm for it every minute)."""
    if alarm.state in OPEN_ALARM_STATES:
        return True
    return alarm.state in HANDLED_STATES and moment - alarm.last_breach_at < _clear_wait(rule)


def _maybe_clear(alarm: Alarm, rule: DetectionRule, moment: datetime) -> None:
    """Start or finish the normal period that clears an alarm not yet verified."""
    if alarm.state not in ("raised", "acknowledged"):
        return
    if alarm.normal_since is None:
        alarm.normal_since = moment
    if moment - alarm.normal_since >= _clear_wait(rule):
        alarm.state = "cleared"
        alarm.closed_at = moment


def evaluate_stored(session: Session, rows: list[dict], now: datetime) -> list[Alarm]:
    """Run every applicable rule on every reading just stored, each device's in time order,
    so that a peak in the middle of a batch is judged like the last point.

    The windows and baselines of the whole batch are read in a few set-based queries; the
    rules then run on each point in memory.
    """
    new: dict[tuple[int, str], list[rules.Point]] = defaultdict(list)
    for row in rows:
        new[(row["device_id"], row["metric"])].append((row["ts"], row["value"]))
    for points in new.values():
        points.sort()
    device_ids = sorted({device_id for device_id, _ in new})
    if not device_ids:
        return []
    # The kinds the batch's lock read (PostgreSQL, same transaction), else read them here.
    transaction, locked = session.info.pop(LOCKED_KINDS, (None, {}))
    if transaction is transaction_of(session) and all(d in locked for d in device_ids):
        kinds = {d: locked[d] for d in device_ids}
    else:
        kinds = dict(
            session.execute(
                select(Device.id, Device.kind).where(among(session, Device.id, device_ids))
            ).all()
        )
    by_device = rules_by_device(session, kinds)
    opened = open_alarms(session, device_ids)
    # Each rule's attributes read once (the same rule serves every device of its kind), and
    # each list of rules planned once (devices of a kind without rules of their own share it).
    facts: dict[int, tuple[str, str, dict, tuple[str, float] | None]] = {}
    floors: dict[int, float | None] = {}  # threshold rules: see _floor
    plans: dict[int, list[tuple[DetectionRule, int, str, str, dict, Any]]] = {}
    for device_rules in by_device.values():
        if id(device_rules) in plans:
            continue
        plan = []
        for rule in device_rules:
            if rule.id not in facts:
                params = resolved(rule.params)
                need = _need(rule.rule_kind, params, _lookback(rule, params))
                facts[rule.id] = (rule.rule_kind, rule.metric, params, need)
                if rule.rule_kind == "threshold":
                    floors[rule.id] = _floor(params)
            plan.append((rule, rule.id, *facts[rule.id]))
        plans[id(device_rules)] = plan
    spans: dict[str, tuple[set[int], datetime]] = {}  # POINTS: windows read
    wanted: dict[tuple[str, str, float], set[tuple[int, datetime]]] = defaultdict(set)
    hours: dict[str, dict[int, set[datetime]]] = defaultdict(lambda: defaultdict(set))
    quiet: set[tuple[int, int]] = set()  # (device, rule): a threshold no point can breach
    for device_id, device_rules in by_device.items():
        for _rule, rule_id, rule_kind, metric, params, need in plans[id(device_rules)]:
            points = new.get((device_id, metric))
            if not points:
                continue
            if rule_kind == "threshold" and (
                ((floor := floors[rule_id]) is not None and max(v for _, v in points) < floor)
                or all(_low(params, point) for point in points)
            ):
                quiet.add((device_id, rule_id))
                continue  # no point can breach: no window to read
            if need is not None and need[0] == POINTS:
                ids, since = spans.get(metric, (set(), points[0][0]))
                ids.add(device_id)
                spans[metric] = (ids, min(since, points[0][0] - timedelta(seconds=need[1])))
            elif need is not None:  # FIRST or MEAN: PostgreSQL sums, the points stay there
                wanted[(need[0], metric, need[1])].update((device_id, t) for t, _ in points)
            if rule_kind == "baseline":
                for moment, _ in points:
                    hours[metric][device_id].update(_past_hours(moment))
    windows = {key: _Window(points) for key, points in _series(session, spans).items()}
    summaries = _summaries(session, wanted)
    means = _hour_means(session, hours)
    # First judge every point, then load the devices that breached and apply in order.
    verdicts: list[tuple[int, DetectionRule, list[tuple[rules.Point, bool, float | None]]]] = []
    for device_id in device_ids:
        device_rules = by_device.get(device_id, [])
        for rule, rule_id, rule_kind, metric, params, need in plans.get(id(device_rules), []):
            if rule_kind == "silence":
                if (device_id, rule_id) in opened:
                    verdicts.append((device_id, rule, []))
                continue
            if (device_id, rule_id) in quiet and (device_id, rule_id) not in opened:
                continue  # nothing breached and nothing to clear
            window = windows.get((device_id, metric))
            summed = summaries.get((need[0], metric, need[1]), {}) if need is not None else {}
            judged = []
            for point in new.get((device_id, metric), []):
                history = []
                if rule_kind == "baseline":
                    history = [
                        means[key]
                        for hour in _past_hours(point[0])
                        if (key := (device_id, metric, hour)) in means
                    ]
                summary = summed.get((device_id, point[0]))
                breached, value = judge(rule_kind, params, need, point, window, summary, history)
                judged.append((point, breached, value))
            if judged:
                verdicts.append((device_id, rule, judged))
    breaching = sorted(
        {d for d, _, judged in verdicts if any(breached for _, breached, _ in judged)}
    )
    devices = (
        {
            d.id: d
            for d in session.scalars(select(Device).where(among(session, Device.id, breaching)))
        }
        if breaching
        else {}
    )
    # A breach with no open alarm may go on from one a person has handled.
    unopened = {
        (d, rule.id)
        for d, rule, judged in verdicts
        if (d, rule.id) not in opened and any(breached for _, breached, _ in judged)
    }
    earliest = min((judged[0][0][0] for _, _, judged in verdicts if judged), default=now)
    longest = max((_clear_wait(rule) for _, rule, _ in verdicts), default=timedelta(0))
    opened.update(handled_alarms(session, unopened, earliest - longest))
    touched: dict[int, Alarm] = {}
    for device_id, rule, judged in verdicts:
        alarm = opened.get((device_id, rule.id))
        if rule.rule_kind == "silence":
            if alarm is not None and alarm.state in ("raised", "acknowledged"):
                alarm.state = "cleared"
                alarm.closed_at = now
                touched[id(alarm)] = alarm
            continue
        for point, breached, value in judged:
            if alarm is not None and not _holds(alarm, rule, point[0]):
                alarm = None  # cleared, or handled and paused long enough: raise anew
            if breached:
                alarm = raise_or_add(session, alarm, devices[device_id], rule, value, point[0])
                opened[(device_id, rule.id)] = alarm
                touched[id(alarm)] = alarm
            elif alarm is not None and _normal(rule, point):
                _maybe_clear(alarm, rule, point[0])
                touched[id(alarm)] = alarm
            elif alarm is not None:
                alarm.normal_since = None
    session.flush()
    return list(touched.values())


def sweep_silence(session: Session, now: datetime) -> list[Alarm]:
    """Mark devices silent past their silence rule offline and raise an alarm for each."""
    devices = session.scalars(
        select(Device).where(Device.active.is_(True), Device.status != "maintenance")
    ).all()
    by_device = rules_by_device(session, {d.id: d.kind for d in devices})
    opened = open_alarms(session, [d.id for d in devices])
    raised = []
    for device in devices:
        for rule in by_device.get(device.id, []):
            if rule.rule_kind != "silence":
                continue
            if not rules.silent(rule.params, device.last_seen_at, device.created_at, now):
                continue
            device.status = "offline"
            if (device.id, rule.id) not in opened:
                alarm = raise_or_add(session, None, device, rule, None, now)
                opened[(device.id, rule.id)] = alarm
                raised.append(alarm)
    session.flush()
    return raised


def escalate(session: Session, now: datetime, minutes: float | None = None) -> int:
    """Raise the level of alarms nobody acknowledged, one per period; return how many rose."""
    period = timedelta(minutes=minutes or _setting("ALARM_ESCALATE_MINUTES", 30))
    risen = 0
    for alarm in session.scalars(select(Alarm).where(Alarm.state == "raised")).all():
        level = int((now - alarm.opened_at) / period)
        if level > alarm.escalation_level:
            alarm.escalation_level = level
            risen += 1
    session.flush()
    return risen


def _check_role(user: User) -> None:
    if user.role not in VERIFIER_ROLES:
        raise AlarmError("role")


def acknowledge(session: Session, user: User, alarm: Alarm, now: datetime, note: str = "") -> None:
    """Take an alarm on: someone is looking at it (stops its escalation). A note typed with
    it (the start of a case's description) is kept with the step, for the next one."""
    _check_role(user)
    if alarm.state != "raised":
        raise AlarmError("state")
    alarm.state = "acknowledged"
    alarm.acknowledged_at = now
    alarm.acknowledged_by_id = user.id
    session.flush()
    audit.record(session, user, "alarm.acknowledge", "alarm", alarm.id, None, _noted(note), now)


def verify(session: Session, user: User, alarm: Alarm, now: datetime, note: str = "") -> None:
    """Confirm on site or by camera that the alarm is real (it no longer clears itself); a
    note typed with it (what was found, a case's description to be) is kept with the step."""
    _check_role(user)
    if alarm.state not in ("raised", "acknowledged"):
        raise AlarmError("state")
    if alarm.acknowledged_at is None:
        alarm.acknowledged_at = now
        alarm.acknowledged_by_id = user.id
    alarm.state = "verified"
    alarm.verified_at = now
    alarm.verified_by_id = user.id
    session.flush()
    audit.record(session, user, "alarm.verify", "alarm", alarm.id, None, _noted(note), now)


def _noted(note: str) -> dict[str, str] | None:
    note = note.strip()[:2000]
    return {"note": note} if note else None


def last_note(session: Session, alarm: Alarm) -> str:
    """Return the note typed with the alarm's latest acknowledgement or verification ("" if
    none): the page offers it again, so that it need not be typed twice to open a case."""
    entry = session.scalar(
        select(AuditEntry)
        .where(
            AuditEntry.object_type == "alarm",
            AuditEntry.object_id == str(alarm.id),
            AuditEntry.action.in_(("alarm.acknowledge", "alarm.verify")),
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    return str((entry.after or {}).get("note", "")) if entry is not None else ""


def dismiss(session: Session, user: User, alarm: Alarm, reason: str, now: datetime) -> None:
    """Dismiss an open alarm as a false alarm, with the reason."""
    _check_role(user)
    reason = reason.strip()
    if not reason:
        raise AlarmError("reason")
    if alarm.state not in OPEN_ALARM_STATES:
        raise AlarmError("state")
    alarm.state = "dismissed"
    alarm.dismiss_reason = reason[:2000]
    alarm.closed_at = now
    session.flush()
    audit.record(
        session,
        user,
        "alarm.dismiss",
        "alarm",
        alarm.id,
        None,
        {"reason": alarm.dismiss_reason},
        now,
    )


def open_case(session: Session, user: User, alarm: Alarm, description: str, now: datetime) -> Case:
    """Turn a verified alarm into a case (source "sensor") at its place, of its rule's category."""
    from portal.services import cases
    from portal.services.photos import PhotoStore

    _check_role(user)
    if alarm.state != "verified":
        raise AlarmError("state")
    category = session.scalar(
        select(Category).where(Category.code == alarm.category_code, Category.active.is_(True))
    )
    if category is None:
        raise AlarmError("category")
    device = alarm.device
    text = (description.strip() or alarm.summary)[:2000]
    case, _token = cases.submit(
        session,
        cases.Report(
            category=category,
            lat=alarm.lat,
            lng=alarm.lng,
            description=text,
            address=(device.name if device is not None else "")[:255],
            source="sensor",
            hide_name=True,
            reporter_id=user.id,  # reported by the one who verified it, not by a resident
        ),
        [],
        PhotoStore(current_app.config["UPLOAD_DIR"]),
        now,
    )
    if device is not None and device.facility_id is not None:
        case.facility_id = device.facility_id
    alarm.state = "case"
    alarm.case_id = case.id
    alarm.closed_at = now
    session.flush()
    audit.record(session, user, "alarm.case", "alarm", alarm.id, None, {"case": case.number}, now)
    return case


def exceedances(session: Session, project_ids: Iterable[int], since: datetime) -> int:
    """Count the alarms of a contractor's sites' devices since a time, false alarms excepted."""
    ids = list(project_ids)
    if not ids:
        return 0
    return len(
        session.scalars(
            select(Alarm.id)
            .join(Device, Device.id == Alarm.device_id)
            .join(DetectionRule, DetectionRule.id == Alarm.rule_id)
            .where(
                and_(
                    Device.project_id.in_(ids),
                    Alarm.opened_at >= since,
                    Alarm.state != "dismissed",
                    DetectionRule.rule_kind != "silence",
                )
            )
        ).all()
    )


ALARM_FILTERS = (
    "open",
    "raised",
    "acknowledged",
    "verified",
    "case",
    "dismissed",
    "cleared",
    "all",
)


def queue(session: Session, state: str = "open", kind: str = "", limit: int = 500) -> list[Alarm]:
    """Return alarms for the queue: escalated and oldest first among the open ones."""
    query = select(Alarm)
    if state == "open":
        query = query.where(Alarm.state.in_(OPEN_ALARM_STATES))
    elif state != "all":
        query = query.where(Alarm.state == state)
    if kind:
        query = query.join(Device, Device.id == Alarm.device_id).where(Device.kind == kind)
    query = query.order_by(Alarm.escalation_level.desc(), Alarm.opened_at.desc()).limit(limit)
    return list(session.scalars(query))


def in_box(session: Session, bbox: tuple[float, float, float, float]) -> list[Alarm]:
    """Return the open alarms in a box (minLng, minLat, maxLng, maxLat)."""
    min_lng, min_lat, max_lng, max_lat = bbox
    return list(
        session.scalars(
            select(Alarm)
            .where(
                Alarm.state.in_(OPEN_ALARM_STATES),
                Alarm.lat.between(min_lat, max_lat),
                Alarm.lng.between(min_lng, max_lng),
            )
            .order_by(Alarm.opened_at.desc())
            .limit(5000)
        )
    )


def of_case(session: Session, case_id: int) -> Alarm | None:
    """Return the alarm a case was opened from, if any."""
    return session.scalar(select(Alarm).where(Alarm.case_id == case_id))

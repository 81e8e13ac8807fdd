"""Readings in: one validation and one insert for both doors (MQTT and HTTP).

A message is JSON: {"device": "<code>", "ts": "<ISO 8601 or epoch seconds>",
"values": {"<metric>": <number>, ...}}, or a list of such objects. A reading that fails a
check is counted on its device by reason and never stored; nothing here raises on bad
input, so one bad message never stops the listener. Storage is idempotent on (device,
time, metric): a reading delivered twice is stored once and counted as a duplicate.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.adapt import Dumper
from sqlalchemy import (
    Integer,
    TypeDecorator,
    any_,
    bindparam,
    case,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, scoped_session

from portal.models import Device, Reading, ReadingHour
from portal.services import singleton

# Each kind's metrics and the physically possible range of each (a value outside is a
# broken sensor, not a flood).
METRICS: dict[str, dict[str, tuple[float, float]]] = {
    "water_depth": {"depth": (0.0, 500.0)},  # cm
    "cover_tilt": {"tilt": (0.0, 180.0), "open": (0.0, 1.0)},  # degrees; 1 = open
    "dust_pm10": {"pm10": (0.0, 10000.0)},  # µg/m³
    "noise": {"noise": (20.0, 140.0)},  # dB(A)
}
UNITS = {"depth": "cm", "tilt": "°", "open": "", "pm10": "µg/m³", "noise": "dB(A)"}
MAIN_METRIC = {"water_depth": "depth", "cover_tilt": "tilt", "dust_pm10": "pm10", "noise": "noise"}
REASONS = (
    "bad_json",
    "unknown_device",
    "wrong_device",
    "unknown_metric",
    "out_of_range",
    "bad_time",
    "future",
    "too_old",
    "duplicate",
)
MAX_BATCH = 1000
FUTURE_SLACK = timedelta(minutes=5)  # device clocks drift a little
MAX_AGE = timedelta(days=365)

Row = tuple[int, datetime, str, float]  # device, time, metric, value


@dataclass
class Known:
    """What the doors need to know of a device, cached by the listener."""

    id: int
    code: str
    kind: str


@dataclass
class Outcome:
    """What one ingestion did: rows stored and readings refused by device and reason."""

    stored: list[dict] = field(default_factory=list)
    bad: Counter = field(default_factory=Counter)  # (device_id or None, reason) -> n

    @property
    def refused(self) -> int:
        """Return how many readings were refused."""
        return sum(self.bad.values())

    def by_reason(self) -> dict[str, int]:
        """Return the refused readings counted by reason."""
        counts: Counter = Counter()
        for (_device, reason), n in self.bad.items():
            counts[reason] += n
        return dict(counts)


class Directory:
    """Devices by code, loaded once and reloaded when an unknown code turns up."""

    def __init__(self, reload_after: timedelta = timedelta(seconds=30)) -> None:
        self.by_code: dict[str, Known] = {}
        self.loaded_at: datetime | None = None
        self.reload_after = reload_after

    def load(self, session: Session, now: datetime) -> None:
        """Read every active device."""
        rows = session.execute(
            select(Device.id, Device.code, Device.kind).where(Device.active.is_(True))
        )
        self.by_code = {code: Known(id_, code, kind) for id_, code, kind in rows}
        self.loaded_at = now

    def find(self, session: Session, code: str, now: datetime) -> Known | None:
        """Return the device with this code, reloading at most every reload_after."""
        known = self.by_code.get(code)
        if known is None and (self.loaded_at is None or now - self.loaded_at >= self.reload_after):
            self.load(session, now)
            known = self.by_code.get(code)
        return known


class Ids(list):
    """Integer ids sent to PostgreSQL as one int4[] literal, "{1,2,3}"."""


class _IdsDumper(Dumper):
    """Dump Ids in one join: psycopg's own list dumper looks at every element for quoting
    (a regular expression per element), about 3 ms for 2,000 ids, several times a batch."""

    oid = psycopg.adapters.types["int4"].array_oid

    def dump(self, obj: Ids) -> bytes:
        return ("{" + ",".join(map(str, map(int, obj))) + "}").encode()


psycopg.adapters.register_dumper(Ids, _IdsDumper)


class _IdArray(TypeDecorator):
    """int4[] whose Ids reach psycopg as they are (ARRAY's own bind processing copies every
    value into a plain list, which psycopg's list dumper would then take)."""

    impl = postgresql.ARRAY(Integer)
    cache_ok = True

    def bind_processor(self, dialect: Any) -> None:
        return None


def among(session: Session, column: Any, ids: Iterable[int]) -> Any:
    """Return `column IN ids`: one array parameter on PostgreSQL (= ANY), so that a batch of
    thousands of devices is not thousands of parameters to render and send."""
    ids = sorted(set(ids))
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, Ids(ids), type_=_IdArray()))
    return column.in_(ids)


def parse_time(value: Any) -> datetime | None:
    """Read an ISO 8601 time with an offset, or epoch seconds; None if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value) or not 0 <= value < 32503680000:
            return None
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and len(value) <= 40:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            return None  # a time without an offset is ambiguous: refuse it
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            return None
    return None


_DECODER = json.JSONDecoder()


def decode(payload: bytes | str) -> list[Any] | None:
    """Return the readings of a message as a list, None when it is not JSON."""
    try:
        if type(payload) is bytes and payload[:1] == b"{" and payload[1:2] != b"\0":
            # What json.loads does with such bytes (they can only be UTF-8), without its
            # look at the encoding and its wrapper: a few µs a message.
            data = _DECODER.decode(payload.decode("utf-8", "surrogatepass"))
        else:
            data = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    return None


def check(
    item: Any, sender: Known, now: datetime, bad: Counter, *, raw_days: int | None = None
) -> list[dict]:
    """Return the rows of one reading of the sender; count it in bad when refused."""
    oldest = now - (MAX_AGE if raw_days is None else min(MAX_AGE, timedelta(days=raw_days)))
    return [
        {"device_id": d, "ts": t, "metric": m, "value": v}
        for d, t, m, v in _check_rows(item, sender, now + FUTURE_SLACK, oldest, bad)
    ]


def _check_rows(
    item: Any, sender: Known, latest: datetime, oldest: datetime, bad: Counter
) -> list[Row]:
    """Return the rows (device, time, metric, value) of one reading of the sender, or count
    it in bad: check() for a whole message, with its time bounds worked out once a batch."""
    values = item.get("values") if isinstance(item, dict) else None
    if not isinstance(values, dict):
        bad[(sender.id, "bad_json")] += 1
        return []
    claimed = item.get("device", sender.code)
    if claimed != sender.code:
        bad[(sender.id, "wrong_device")] += 1
        return []
    raw = item.get("ts")
    if type(raw) is float and 0 <= raw < 32503680000:  # the usual case: epoch seconds
        ts = datetime.fromtimestamp(raw, UTC)
    else:
        ts = parse_time(raw)
        if ts is None:
            bad[(sender.id, "bad_time")] += 1
            return []
    if ts > latest:
        bad[(sender.id, "future")] += 1
        return []
    if ts < oldest:
        bad[(sender.id, "too_old")] += 1
        return []
    ranges = METRICS[sender.kind]
    rows = []
    for metric, value in values.items():
        bounds = ranges.get(metric)
        if bounds is None:
            bad[(sender.id, "unknown_metric")] += 1
            continue
        kind = type(value)
        if kind is not float and kind is not int:
            if kind is bool:
                value = float(value)
            elif not isinstance(value, int | float):
                bad[(sender.id, "out_of_range")] += 1
                continue
        if not bounds[0] <= value <= bounds[1]:  # NaN fails both; infinities are out of range
            bad[(sender.id, "out_of_range")] += 1
            continue
        rows.append((sender.id, ts, metric, float(value)))
    return rows


def _insert(session: Session, rows: list[dict]) -> list[dict]:
    """Insert rows, skipping those already stored; return the new ones (SQLite)."""
    if not rows:
        return []
    statement = (
        sqlite.insert(Reading)
        .on_conflict_do_nothing(index_elements=["device_id", "ts", "metric"])
        .returning(Reading.device_id, Reading.ts, Reading.metric, Reading.value)
    )
    new = session.execute(statement, rows).all()
    return [{"device_id": d, "ts": t, "metric": m, "value": v} for d, t, m, v in new]


def _aggregate(session: Session, rows: list[dict]) -> None:
    """Add new rows to their hours' count, sum, minimum and maximum (SQLite)."""
    hours: dict[tuple, list[float]] = {}
    for row in rows:
        key = (
            row["device_id"],
            row["ts"].replace(minute=0, second=0, microsecond=0),
            row["metric"],
        )
        acc = hours.get(key)
        value = row["value"]
        if acc is None:
            hours[key] = [1, value, value, value]
        else:
            acc[0] += 1
            acc[1] += value
            acc[2] = min(acc[2], value)
            acc[3] = max(acc[3], value)
    if not hours:
        return
    values = [
        {"device_id": d, "hour": h, "metric": m, "count": c, "total": t, "low": lo, "high": hi}
        for (d, h, m), (c, t, lo, hi) in sorted(hours.items(), key=lambda kv: kv[0])
    ]
    statement = sqlite.insert(ReadingHour)
    least, greatest = func.min, func.max
    statement = statement.on_conflict_do_update(
        index_elements=["device_id", "hour", "metric"],
        set_={
            "count": ReadingHour.count + statement.excluded.count,
            "total": ReadingHour.total + statement.excluded.total,
            "low": least(ReadingHour.low, statement.excluded.low),
            "high": greatest(ReadingHour.high, statement.excluded.high),
        },
    )
    session.execute(statement, values)


def _touch_devices(session: Session, rows: list[dict], kinds: dict[int, str]) -> None:
    """Record each device's latest time and main value; a silent device is back online
    (SQLite; on PostgreSQL the staged statement does it)."""
    latest: dict[int, dict] = {}
    for row in rows:
        if row["metric"] != MAIN_METRIC.get(kinds.get(row["device_id"], ""), ""):
            continue
        seen = latest.get(row["device_id"])
        if seen is None or row["ts"] >= seen["ts"]:
            latest[row["device_id"]] = row
    if not latest:
        return
    ordered = sorted(latest.items())
    # One statement run for every device (executemany), not two round trips per device.
    statement = (
        update(Device)
        .where(
            Device.id == bindparam("device"),
            (Device.last_seen_at.is_(None)) | (Device.last_seen_at <= bindparam("seen")),
        )
        .values(
            last_seen_at=bindparam("seen"),
            last_value=bindparam("value"),
            status=case((Device.status == "offline", "online"), else_=Device.status),
        )
        .execution_options(synchronize_session=False)
    )
    params = [
        {"device": device_id, "seen": row["ts"], "value": row["value"]}
        for device_id, row in ordered
    ]
    session.connection().execute(statement, params)


def count_bad(session: Session, bad: Counter) -> None:
    """Add refused readings to their devices' counts, in total and by reason."""
    per_device: dict[int, Counter] = defaultdict(Counter)
    for (device_id, reason), n in bad.items():
        if device_id is not None:
            per_device[device_id][reason] += n
    if not per_device:
        return
    devices = session.scalars(
        select(Device).where(among(session, Device.id, per_device)).with_for_update()
    ).all()
    for device in devices:
        reasons = dict(device.bad_reasons or {})
        for reason, n in per_device[device.id].items():
            reasons[reason] = reasons.get(reason, 0) + n
        device.bad_reasons = reasons
        device.bad_count = (device.bad_count or 0) + sum(per_device[device.id].values())
    session.flush()


# The main metric of each kind; each metric belongs to one kind only, so "the metric is a
# main one" picks the same rows as "the metric is its device's main one".
MAIN_METRICS = sorted(MAIN_METRIC.values())
_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS reading_in (device_id integer, ts timestamptz, "
    "metric varchar(16), value float8) ON COMMIT DELETE ROWS"
)
# One statement stores a staged batch: the new readings (a duplicate is skipped and not
# returned), their hours, and each device's latest main value.
_STORE_STAGED = """
WITH new AS (
    INSERT INTO reading (device_id, ts, metric, value)
    SELECT device_id, ts, metric, value FROM reading_in ORDER BY device_id, ts, metric
    ON CONFLICT DO NOTHING
    RETURNING device_id, ts, metric, value
), hours AS (
    INSERT INTO reading_hour (device_id, hour, metric, count, total, low, high)
    SELECT device_id, date_trunc('hour', ts, 'UTC'), metric, count(*), sum(value),
        min(value), max(value)
    FROM new GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (device_id, hour, metric) DO UPDATE SET
        count = reading_hour.count + excluded.count,
        total = reading_hour.total + excluded.total,
        low = least(reading_hour.low, excluded.low),
        high = greatest(reading_hour.high, excluded.high)
), latest AS (
    SELECT DISTINCT ON (device_id) device_id, ts, value FROM new
    WHERE metric = ANY(%(main)s) ORDER BY device_id, ts DESC
), touched AS (
    UPDATE device SET last_seen_at = latest.ts, last_value = latest.value,
        status = CASE WHEN device.status = 'offline' THEN 'online' ELSE device.status END
    FROM latest
    WHERE device.id = latest.device_id
        AND (device.last_seen_at IS NULL OR device.last_seen_at <= latest.ts)
)
SELECT device_id, ts, metric, value FROM new
"""


def _store_staged(session: Session, rows: list[tuple]) -> list[tuple]:
    """COPY rows (device, time, metric, value) into a temporary table and store them with
    their hours and devices in one statement (PostgreSQL); return the new ones."""
    connection = session.connection().connection.driver_connection
    with connection.cursor() as cursor:
        cursor.execute(_STAGE)
        with cursor.copy(
            "COPY reading_in (device_id, ts, metric, value) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int4", "timestamptz", "varchar", "float8"])
            for row in rows:
                copy.write_row(row)
        cursor.execute(_STORE_STAGED, {"main": MAIN_METRICS})
        return cursor.fetchall()


LOCKED_KINDS = "readings.locked_kinds"  # session.info: {device id: kind} of the batch's locks


def transaction_of(session: Session) -> Any:
    """Return the session's current transaction (None if none), for a scoped session too."""
    if isinstance(session, scoped_session):
        return session.registry().get_transaction()
    return session.get_transaction()


def _lock_devices(session: Session, bad: list[int], keys: Iterable[tuple]) -> None:
    """Lock the devices of a batch in id order until the commit (PostgreSQL).

    Listeners sharing the subscription then take a device's readings one batch at a time:
    the second waits, then reads the first's readings and alarms when it judges its own,
    so a device and rule still has one open alarm; the order keeps them from deadlocking."""
    ids = sorted({key[0] for key in keys}.union(bad))
    if ids:
        locked = session.execute(
            select(Device.id, Device.kind).where(among(session, Device.id, ids))
            .order_by(Device.id).with_for_update()
        ).all()  # fmt: skip
        # The rules need the same devices' kinds, read here under the lock (LOCKED_KINDS).
        session.info[LOCKED_KINDS] = (transaction_of(session), dict(locked))


def store(
    session: Session, rows: list[dict], outcome: Outcome, kinds: dict[int, str]
) -> list[dict]:
    """Store checked rows once each; duplicates (in the batch or stored) count as bad."""
    return _store_rows(
        session,
        [(row["device_id"], row["ts"], row["metric"], row["value"]) for row in rows],
        outcome,
        kinds,
    )


def _store_rows(
    session: Session, rows: list[Row], outcome: Outcome, kinds: dict[int, str]
) -> list[dict]:
    """Store rows (device, time, metric, value) as store() does; return the new ones as
    dictionaries, in (device, time, metric) order."""
    unique: dict[tuple, float] = {}
    bad = outcome.bad
    for device_id, ts, metric, value in rows:
        key = (device_id, ts, metric)
        if key in unique:
            bad[(device_id, "duplicate")] += 1
        else:
            unique[key] = value
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        _lock_devices(session, [d for d, _ in bad if d is not None], unique)
    if postgresql and unique:
        added = _store_staged(session, [(*key, value) for key, value in unique.items()])
        added.sort()
        new = [{"device_id": d, "ts": t, "metric": m, "value": v} for d, t, m, v in added]
    else:
        ordered = [
            {"device_id": d, "ts": t, "metric": m, "value": unique[(d, t, m)]}
            for d, t, m in sorted(unique)
        ]
        new = _insert(session, ordered)
        _aggregate(session, new)
        _touch_devices(session, new, kinds)
    if len(new) < len(unique):
        seen = {(r["device_id"], r["ts"], r["metric"]) for r in new}
        for key in unique:
            if key not in seen:
                bad[(key[0], "duplicate")] += 1
    count_bad(session, bad)
    outcome.stored.extend(new)
    return new


def ingest_messages(
    session: Session,
    messages: list[tuple[str, bytes | str]],
    directory: Directory,
    now: datetime,
    *,
    raw_days: int | None = None,
) -> Outcome:
    """Check and store MQTT messages, each (the device code its topic names, payload)."""
    outcome = Outcome()
    bad = outcome.bad
    rows: list[Row] = []
    kinds: dict[int, str] = {}
    latest = now + FUTURE_SLACK
    oldest = now - (MAX_AGE if raw_days is None else min(MAX_AGE, timedelta(days=raw_days)))
    for code, payload in messages:
        sender = directory.find(session, code, now)
        if sender is None:
            bad[(None, "unknown_device")] += 1
            continue
        kinds[sender.id] = sender.kind
        items = decode(payload)
        if items is None:
            bad[(sender.id, "bad_json")] += 1
            continue
        for item in items:
            rows.extend(_check_rows(item, sender, latest, oldest, bad))
    _store_rows(session, rows, outcome, kinds)
    return outcome


def ingest_batch(
    session: Session,
    device: Device,
    items: list[Any],
    now: datetime,
    *,
    raw_days: int | None = None,
) -> Outcome:
    """Check and store readings a device posted over HTTP (at most MAX_BATCH)."""
    outcome = Outcome()
    sender = Known(device.id, device.code, device.kind)
    latest = now + FUTURE_SLACK
    oldest = now - (MAX_AGE if raw_days is None else min(MAX_AGE, timedelta(days=raw_days)))
    rows: list[Row] = []
    for item in items:
        rows.extend(_check_rows(item, sender, latest, oldest, outcome.bad))
    _store_rows(session, rows, outcome, {device.id: device.kind})
    return outcome


def partition_name(month_start: datetime) -> str:
    """Return the name of the partition holding a month's readings."""
    return f"reading_p{month_start:%Y%m}"


def _month(moment: datetime, shift: int = 0) -> datetime:
    index = moment.year * 12 + moment.month - 1 + shift
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partitions(session: Session) -> list[str]:
    """Return the names of the readings table's partitions (PostgreSQL)."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    return list(
        session.scalars(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'reading'"
            )
        )
    )


def ensure_partitions(
    session: Session, now: datetime, *, back_days: int = 90, ahead: int = 2
) -> list[str]:
    """Create the monthly partitions from back_days ago to `ahead` months on (PostgreSQL).

    Every listener does this each minute: the lock makes a second one wait for the first's
    commit and then find its partitions (two `CREATE TABLE IF NOT EXISTS` of one name at
    once fail in the second, which cannot see the first's uncommitted table)."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    singleton.hold(session, "reading partitions")
    existing = set(partitions(session))
    made = []
    month = _month(now - timedelta(days=back_days))
    last = _month(now, ahead)
    while month <= last:
        name = partition_name(month)
        if name not in existing:
            following = _month(month, 1)
            # The names and bounds are made here from dates, never from input.
            session.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF reading "
                    f"FOR VALUES FROM ('{month.isoformat()}') TO ('{following.isoformat()}')"
                )
            )
            made.append(name)
        month = _month(month, 1)
    return made


def purge(session: Session, now: datetime, raw_days: int) -> int:
    """Delete raw readings older than raw_days (their hours stay); drop whole old partitions."""
    cutoff = now - timedelta(days=raw_days)
    dropped = 0
    if session.get_bind().dialect.name == "postgresql":
        names = partitions(session)
        for name in names:
            if not name.startswith("reading_p"):
                continue
            month = datetime.strptime(name[len("reading_p") :], "%Y%m").replace(tzinfo=UTC)
            if _month(month, 1) <= cutoff:
                session.execute(text(f"DROP TABLE {name}"))  # a listed partition
                dropped += 1
    result = session.execute(delete(Reading).where(Reading.ts < cutoff))
    session.flush()
    return dropped + (result.rowcount or 0)


def series(
    session: Session,
    device: Device,
    metric: str,
    start: datetime,
    end: datetime,
    raw_days: int,
    now: datetime,
) -> tuple[str, list[tuple[datetime, float, float | None, float | None]]]:
    """Return a metric between start and end: raw points if kept and few, else hourly means.

    Each point is (time, value, low, high); raw points have no low and high.
    """
    raw_from = now - timedelta(days=raw_days)
    if start >= raw_from and end - start <= timedelta(days=2):
        rows = session.execute(
            select(Reading.ts, Reading.value)
            .where(
                Reading.device_id == device.id,
                Reading.metric == metric,
                Reading.ts >= start,
                Reading.ts <= end,
            )
            .order_by(Reading.ts)
        )
        return "raw", [(ts, value, None, None) for ts, value in rows]
    rows = session.execute(
        select(
            ReadingHour.hour,
            ReadingHour.total,
            ReadingHour.count,
            ReadingHour.low,
            ReadingHour.high,
        )
        .where(
            ReadingHour.device_id == device.id,
            ReadingHour.metric == metric,
            ReadingHour.hour >= start.replace(minute=0, second=0, microsecond=0),
            ReadingHour.hour <= end,
        )
        .order_by(ReadingHour.hour)
    )
    return "hourly", [(hour, total / count, low, high) for hour, total, count, low, high in rows]

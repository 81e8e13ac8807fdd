"""Sensor ingestion on PostgreSQL: 10,000 simulated devices publishing over MQTT through a
private Mosquitto to the listener (checks, idempotent insert, hourly aggregates, rules),
beside COPY of the same rows into the same partitioned table; and publish-to-alarm latency
at that rate (a cover knocked open raises its alarm with no minimum duration)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess  # nosec B404 - the bench's own broker and publisher
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import (
    Run,
    compared,
    database_url,
    ensure_database,
    percentile,
    register,
    side_by_side,
    timed,
)

DEVICES = 10_000
PER_DEVICE = 10  # readings each: 100,000 in all (3 drained in under 2 s on a quiet host)
# The throughput row's readings per message: 1, the figure. BENCH_SENSOR_PACK=10
# has each device send its ten as one list (a device's buffer; README, "MQTT"), a separate
# row for comparison: what the listener's cost per message weighs.
PACK = int(os.environ.get("BENCH_SENSOR_PACK", "1"))
KINDS = ("water_depth", "cover_tilt", "dust_pm10", "noise")
TARGET_RATE = 5_000  # readings per second
TARGET_SHARE = 0.25  # of raw COPY
TARGET_P95_S = 2.0

LISTENERS = 2  # `sensors listen` workers on the shared subscription
POLL = 0.1  # seconds between two looks at the alarms
ALARMS = (
    "SELECT a.id, extract(epoch FROM a.opened_at) FROM alarm a "
    "JOIN detection_rule r ON r.id = a.rule_id WHERE r.code IN ('cover_open', 'cover_tilt')"
)
DRAIN_POLL = 0.02  # the throughput row: seconds between two counts of the stored readings
COUNT_EVERY = 5  # looks at the alarms per count of the stored readings
KNOCKED = 100  # covers knocked open once each (n % 100 == 1)
PUBLISHERS = 2  # processes: one Python publisher alone tops out near the listener's rate
PACE_SECONDS = 2.0  # the latency row: each device publishes every 2 s (5,000 readings/s)
PACE_ROUNDS = 12

# A publisher for the devices n with n % share == part. rate 0: as fast as it can, the
# payloads made before connecting (their times a fraction of a second old); otherwise
# paced, each device once per `rate` seconds, each payload made when sent (its time is its
# publication, which the latency row measures from). Covers n % 100 == 1 are knocked open
# once each (at round `knock`, or spread over the rounds when paced), then set back.
PUBLISHER = r"""
import sys, time
import paho.mqtt.client as mqtt
port, devices, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
part, share, rate = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
pack, prefix = int(sys.argv[7]), sys.argv[8]
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-devices-{part}")
client.max_inflight_messages_set(2000)
client.max_queued_messages_set(50000)
client.connect("127.0.0.1", port)
client.loop_start()
kinds = ("water_depth", "cover_tilt", "dust_pm10", "noise")
values = {"water_depth": "depth", "cover_tilt": "tilt", "dust_pm10": "pm10", "noise": "noise"}
base = {"water_depth": 1.0, "cover_tilt": 1.0, "dust_pm10": 20.0, "noise": 45.0}  # in range
mine = range(part, devices, share)
topics = {n: f"{prefix}/S{n:05d}/readings" for n in mine}
def knocked(n, round_):
    if n % 4 != 1 or n % 100 != 1:
        return False
    if rate == 0:
        return round_ == rounds // 2
    return round_ == 2 + (n // 100) % max(rounds - 4, 1)
def payload(n, round_, now):
    if knocked(n, round_):
        return '{"ts": %.6f, "values": {"tilt": 40.0, "open": 1}}' % now
    kind = kinds[n % 4]
    return '{"ts": %.6f, "values": {"%s": %.1f}}' % (now, values[kind], base[kind] + n % 7)
def send(topic, data):
    info = client.publish(topic, data, qos=1)
    while info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:  # the client's queue is full: wait a little
        time.sleep(0.002)
        info = client.publish(topic, data, qos=1)
    return info
last = None
if rate == 0:
    now = time.time()
    def packed(n, r):  # rounds r to r + pack - 1 of device n, as a list when more than one
        items = [payload(n, q, now + q * 0.001) for q in range(r, min(r + pack, rounds))]
        return (items[0] if pack == 1 else "[" + ",".join(items) + "]").encode()
    ready = [(topics[n], packed(n, r)) for r in range(0, rounds, pack) for n in mine]
    for topic, data in ready:
        last = send(topic, data)
else:
    slices = 200  # a round in slices of rate / 200 seconds
    order = list(mine)
    per_slice = -(-len(order) // slices)
    start = time.monotonic()
    for r in range(rounds):
        for k in range(slices):
            due = start + r * rate + k * rate / slices
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            for n in order[k * per_slice:(k + 1) * per_slice]:
                last = send(topics[n], payload(n, r, time.time()))
last.wait_for_publish(300)
time.sleep(1)
client.loop_stop()
client.disconnect()
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _broker(folder: Path) -> tuple[subprocess.Popen, int]:
    import getpass

    port = _free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 5000\n"
        f"max_queued_messages 1000000\nuser {getpass.getuser()}\n"
    )
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen(  # noqa: S603  # nosec B603
        [mosquitto, "-c", str(conf)], stderr=subprocess.DEVNULL
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return process, port


def _fresh(url: str):
    """Return the portal on the sensors bench database, emptied, with 10,000 devices."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, text

    from portal import create_app
    from portal.extensions import db
    from portal.models import Device, Project, utcnow
    from portal.services import readings

    ensure_database(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        upgrade()
        db.session.execute(
            text("TRUNCATE reading, reading_hour, alarm, detection_rule, device, project CASCADE")
        )
        db.session.commit()
        _seed_rules(db.session)
        site = Project(
            code="BENCH", name="bench", geometry={"type": "Point", "coordinates": [120.15, 30.27]},
            lat=30.27, lng=120.15, phase="construction", created_at=utcnow(),
        )  # fmt: skip
        db.session.add(site)
        db.session.flush()
        now = utcnow()
        db.session.execute(
            insert(Device),
            [
                {
                    "code": f"S{n:05d}",
                    "kind": KINDS[n % 4],
                    "name": "",
                    "project_id": site.id,
                    "lat": 30.27,
                    "lng": 120.15,
                    "status": "online",
                    "key_hash": "",
                    "active": True,
                    "bad_count": 0,
                    "bad_reasons": {},
                    "created_at": now,
                }
                for n in range(DEVICES)
            ],
        )
        readings.ensure_partitions(db.session, now, back_days=31)
        db.session.commit()
    return app


def _seed_rules(session) -> None:
    """Put the default rules back (the migration's)."""
    import importlib.util

    from sqlalchemy import insert

    from portal.models import DetectionRule

    path = next(Path(__file__).parent.parent.glob("migrations/versions/*_5e4a1c9d7b20_*.py"))
    spec = importlib.util.spec_from_file_location("sensor_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    session.execute(insert(DetectionRule), module.DEFAULT_RULES)


def _copy(app, rows: list[tuple]) -> float:
    """COPY rows into the emptied readings table; return the seconds it took."""
    from sqlalchemy import text

    from portal.extensions import db

    with app.app_context():
        db.session.execute(text("TRUNCATE reading"))
        db.session.commit()
        raw = db.engine.raw_connection()
        try:
            began = time.perf_counter()
            statement = "COPY reading (device_id, ts, metric, value) FROM STDIN"
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
            raw.commit()
            return time.perf_counter() - began
        finally:
            raw.close()


def _listeners(url: str, port: int, settle: float = 2) -> list[subprocess.Popen]:
    """Start LISTENERS `flask --app wsgi sensors listen` workers on the bench's broker and
    database; return once each has said it is listening (and given it time to subscribe)."""

    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1"),
        "SECRET_KEY": "bench",
        "MQTT_PORT": str(port),
        "READINGS_RAW_DAYS": "90",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "sensors", "listen"]
    root = Path(__file__).parent.parent
    workers = []
    for k in range(LISTENERS):
        own = {**environment, "MQTT_CLIENT_ID": f"bench-listener-{k}"}
        workers.append(
            subprocess.Popen(  # noqa: S603  # nosec B603
                command, env=own, cwd=root, stdout=subprocess.PIPE, text=True
            )
        )
    for worker in workers:
        worker.stdout.readline()  # "Listening on …": connecting and subscribing next
    time.sleep(settle)
    return workers


def _stop(workers: list[subprocess.Popen]) -> tuple[int, int, float]:
    """Stop the workers as an operator would (Ctrl-C); return the messages they handled and
    the readings they refused, from what each says on leaving, and the CPU seconds (user
    and system) they used in all, which the machine's load does not inflate as it does
    their rates (no other child of the bench ends while they are stopped)."""
    import resource
    import signal

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    before = cpu()
    handled = refused = 0
    for worker in workers:
        worker.send_signal(signal.SIGINT)
        said = worker.communicate(timeout=60)[0]
        print(f"   {said.strip().splitlines()[-1]}", flush=True)
        found = re.search(r"from (\d+) messages; refused (\d+)", said)
        if found:
            handled += int(found[1])
            refused += int(found[2])
    return handled, refused, cpu() - before


# The floor of receiving MQTT in Python: paho alone, on the same broker, drains the same
# messages (published to floor/… while it is away, as the listeners' are) and acknowledges
# each, doing nothing else: no JSON, no check, no database. "subscribe" registers its
# persistent session; "drain" takes `total` messages and prints "<messages> <seconds> <cpu>".
FLOOR = r"""
import collections, resource, sys, time
import paho.mqtt.client as mqtt
port, mode, total = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
got = collections.deque()
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-floor", clean_session=False)
client.max_inflight_messages_set(5000)
client.on_message = lambda c, u, message: got.append(message)
if mode == "subscribe":
    client.connect("127.0.0.1", port)
    client.subscribe("floor/+/readings", 1)
    for _ in range(5):
        client.loop(0.2)
    client.disconnect()
    sys.exit()
client.manual_ack_set(True)
client.connect("127.0.0.1", port)
client.loop_start()
began = time.time()
taken, first = 0, None
while taken < total and time.time() - began < 120:
    while got:
        message = got.popleft()
        if first is None:
            first, usage = time.time(), resource.getrusage(resource.RUSAGE_SELF)
        client.ack(message.mid, message.qos)
        taken += 1
    time.sleep(0.001)
last, end = time.time(), resource.getrusage(resource.RUSAGE_SELF)
cpu = end.ru_utime + end.ru_stime - usage.ru_utime - usage.ru_stime
client.loop_stop()
print(taken, last - first, cpu)
"""


def _floor(port: int, rounds: int) -> dict:
    """Drain through paho alone the messages of `rounds` readings of every device; return
    its readings per second and CPU per message (the floor under the listener's figures)."""
    command = [sys.executable, "-c", FLOOR, str(port)]
    subprocess.run([*command, "subscribe", "0"], check=True, timeout=60)  # noqa: S603  # nosec B603
    for publisher in _publish(port, rounds, 0, prefix="floor"):
        publisher.wait(timeout=600)
    messages = DEVICES * -(-rounds // PACK)
    said = subprocess.run(  # noqa: S603  # nosec B603
        [*command, "drain", str(messages)], check=True, timeout=300, capture_output=True, text=True
    ).stdout.split()
    taken, seconds, cpu = int(said[0]), float(said[1]), float(said[2])
    return {
        "rate": taken * min(PACK, rounds) / seconds,
        "cpu_us": cpu / taken * 1e6,
        "complete": taken == messages,
    }


def _publish(
    port: int, rounds: int, pace: float, prefix: str = "sensors"
) -> list[subprocess.Popen]:
    """Start the PUBLISHERS processes, each for its share of the devices."""
    pack = 1 if pace else PACK
    arguments = [str(port), str(DEVICES), str(rounds), "", str(PUBLISHERS), str(pace), str(pack)]
    arguments.append(prefix)
    publishers = []
    for part in range(PUBLISHERS):
        arguments[3] = str(part)
        publishers.append(
            subprocess.Popen(  # noqa: S603  # nosec B603
                [sys.executable, "-c", PUBLISHER, *arguments]
            )
        )
    return publishers


def _stream(url: str, port: int, rounds: int, pace: float) -> dict:
    """Send `rounds` readings of every device through the broker to the workers; return
    what was stored, the readings per second, and for each knocked cover's alarm the seconds
    from the reading's publication to the alarm being visible (committed) in the database.

    pace 0 (the throughput row): every message is published first and waits at the broker
    in the workers' persistent sessions (subscribed, then stopped); the workers then start
    and the rate is the readings stored between the first and the last look at the table,
    so the publishers' CPU, which real devices do not take from the server, is not counted.
    Otherwise (the latency row) the workers run while the publishers send at their pace."""
    import psycopg
    from sqlalchemy.engine import make_url

    workers = _listeners(url, port)
    publishers = []
    if not pace:
        _stop(workers)  # subscribed: the broker keeps what follows for them
        publishers = _publish(port, rounds, pace)
        for publisher in publishers:
            publisher.wait(timeout=600)
        workers = _listeners(url, port, settle=0)  # they drain at once: look from the start
    expected = DEVICES * rounds + KNOCKED  # a knocked cover's reading has two metrics
    target = make_url(url).set(drivername="postgresql")
    seen: set[int] = set()
    latencies: list[float] = []
    looks: list[tuple[float, int]] = []  # (time, readings stored) at each change
    with psycopg.connect(target.render_as_string(hide_password=False), autocommit=True) as pg:
        if pace:
            publishers = _publish(port, rounds, pace)
        stored, last_change = 0, time.time()
        while stored < expected and time.time() - last_change < 30:
            time.sleep(POLL if pace else DRAIN_POLL)
            now = time.time()
            alarms = pg.execute(ALARMS) if pace else ()  # the drain times no alarm
            for alarm_id, opened in alarms:
                if alarm_id not in seen:
                    seen.add(alarm_id)
                    latencies.append(now - float(opened))
            if pace and len(seen) < 2 * KNOCKED and int(now / POLL) % COUNT_EVERY:
                continue  # count the readings less often than look for alarms: a scan
            count = pg.execute("SELECT count(*) FROM reading").fetchone()[0]
            if count != stored:
                stored, last_change = count, now
                looks.append((now, count))
    for publisher in publishers:
        publisher.wait(timeout=60)
    handled, refused, cpu = _stop(workers)
    (first_at, first_count), (last_at, last_count) = looks[0], looks[-1]
    return {
        "handled": handled,
        "refused": refused,
        "total": DEVICES * -(-rounds // (1 if pace else PACK)),  # messages
        "stored": stored,
        "rate": (last_count - first_count) / (last_at - first_at),
        "cpu_us": cpu / max(stored, 1) * 1e6,  # the workers' CPU per stored reading
        "latencies": latencies,
    }


@register(
    "sensor ingestion",
    "10,000 devices over MQTT → listener → PostgreSQL, beside COPY; publish-to-alarm p95",
    "≥ 5,000 readings/s and ≥ 0.25× COPY; alarm p95 < 2 s",
    rounds=1,
    sizes=(DEVICES,),
)
def run(run: Run) -> list[dict]:
    """Stream 100,000 readings as fast as the publishers go, then COPY them; then stream
    readings paced at 5,000 a second and time the alarms."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Reading

    if run.database != "postgresql":
        print("   sensor ingestion runs on PostgreSQL only", flush=True)
        return []
    url = run.url if "sensors" in run.url else database_url("postgresql", DEVICES, "sensors")
    folder = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    broker, port = _broker(folder)
    try:
        app = _fresh(url)
        burst = _stream(url, port, PER_DEVICE, 0)
        with app.app_context():
            rows = db.session.execute(
                select(Reading.device_id, Reading.ts, Reading.metric, Reading.value)
            ).all()
            db.session.rollback()
        copy_seconds = _copy(app, rows)
        floor = _floor(port, PER_DEVICE)
        _fresh(url)
        paced = _stream(url, port, PACE_ROUNDS, PACE_SECONDS)
    finally:
        broker.terminate()
        broker.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
    rate, raw_rate = burst["rate"], len(rows) / copy_seconds
    share = rate / raw_rate
    handled, total = burst["handled"], burst["total"]
    met = rate >= TARGET_RATE and share >= TARGET_SHARE and handled == total
    latencies = paced["latencies"]
    p95 = percentile(latencies, 0.95) if latencies else float("nan")
    p50 = statistics.median(latencies) if latencies else float("nan")
    kept_up = paced["handled"] == paced["total"]
    return [
        {
            "benchmark": "sensor ingestion" + (f", {PACK} a message" if PACK > 1 else ""),
            "database": "postgresql",
            "cases": DEVICES,
            "portal_text": f"{rate:,.0f} readings/s ({burst['stored']:,} stored, "
            f"{burst['refused']:,} refused, {handled:,} of {total:,} messages; "
            f"{LISTENERS} listeners, {PUBLISHERS} publishers; workers' CPU "
            f"{burst['cpu_us']:.0f} µs a reading; paho alone, one process receiving and "
            f"acknowledging the same messages: {floor['rate']:,.0f} readings/s, "
            f"{floor['cpu_us']:.1f} µs a message"
            f"{'' if floor['complete'] else ', INCOMPLETE'})",
            "raw_text": f"COPY {raw_rate:,.0f} rows/s",
            "ratio_text": f"{share:.2f}×",
            "summary_text": f"{rate:,.0f}/s, {share:.2f}×",
            "met": met if PACK == 1 else None,  # packed: for comparison, not the figure
        },
        {
            "benchmark": "sensor alarm latency",
            "database": "postgresql",
            "cases": DEVICES,
            "portal_p50_ms": p50 * 1000,
            "portal_p95_ms": p95 * 1000,
            "portal_text": f"{p50 * 1000:.0f} / {p95 * 1000:.0f} ms ({len(latencies)} alarms; "
            f"paced {DEVICES / PACE_SECONDS:,.0f} readings/s for "
            f"{PACE_ROUNDS * PACE_SECONDS:.0f} s, stored at {paced['rate']:,.0f}/s, "
            f"{paced['handled']:,} of {paced['total']:,} messages; workers' CPU "
            f"{paced['cpu_us']:.0f} µs a reading)",
            "raw_text": "target p95 < 2,000 ms",
            "ratio_text": "—",
            "summary_text": f"p95 {p95 * 1000:.0f} ms",
            "met": p95 < TARGET_P95_S and kept_up,
        },
    ]


CHART_DEVICES = 1_000
CHART_PER_DEVICE = 10_000  # 10,000,000 readings over 30 days: one each 259 s per device
CHART_TARGET_P95_S = 0.2


def _fill_chart(url: str, now) -> object:
    """Return the portal on a database of 10,000,000 readings of 1,000 water gauges over
    the last 30 days and their hourly aggregates (filled once, kept between runs)."""

    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select, text

    from portal import create_app
    from portal.extensions import db
    from portal.models import Device, Project, Reading
    from portal.services import readings

    ensure_database(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        upgrade()
        total = CHART_DEVICES * CHART_PER_DEVICE
        if db.session.scalar(select(func.count()).select_from(Reading)) == total:
            return app
        db.session.execute(
            text("TRUNCATE reading, reading_hour, alarm, detection_rule, device, project CASCADE")
        )
        site = Project(
            code="BENCH", name="bench", geometry={"type": "Point", "coordinates": [120.15, 30.27]},
            lat=30.27, lng=120.15, phase="construction", created_at=now,
        )  # fmt: skip
        db.session.add(site)
        db.session.flush()
        db.session.execute(
            insert(Device),
            [
                {
                    "code": f"C{n:05d}",
                    "kind": "water_depth",
                    "name": "",
                    "project_id": site.id,
                    "lat": 30.27,
                    "lng": 120.15,
                    "status": "online",
                    "key_hash": "",
                    "active": True,
                    "bad_count": 0,
                    "bad_reasons": {},
                    "created_at": now,
                }
                for n in range(CHART_DEVICES)
            ],
        )
        readings.ensure_partitions(db.session, now, back_days=31)
        db.session.commit()
        step = 30 * 86400 / CHART_PER_DEVICE
        print(f"   filling {total:,} readings", flush=True)
        db.session.execute(
            text(
                "INSERT INTO reading (device_id, ts, metric, value) "
                "SELECT d.id, CAST(:now AS timestamptz) - make_interval(secs => i * :step), "
                "'depth', (i + d.id) % 40 FROM device d, generate_series(0, :last) AS i"
            ),
            {"now": now, "step": step, "last": CHART_PER_DEVICE - 1},
        )
        db.session.execute(
            text(
                "INSERT INTO reading_hour (device_id, hour, metric, count, total, low, high) "
                "SELECT device_id, date_trunc('hour', ts), metric, count(*), sum(value), "
                "min(value), max(value) FROM reading GROUP BY 1, 2, 3"
            )
        )
        db.session.commit()
        db.session.execute(text("ANALYZE reading"))
        db.session.execute(text("ANALYZE reading_hour"))
        db.session.commit()
    return app


@register(
    "sensor chart",
    "a device's 30-day chart at 10,000,000 stored readings, from the hourly aggregates",
    "p95 < 200 ms",
    rounds=50,
    sizes=(CHART_DEVICES * CHART_PER_DEVICE,),
)
def chart(run: Run) -> list[dict]:
    """Time readings.series over 30 days for random devices beside the same hourly rows read
    in plain SQL, and beside the hourly means computed from the raw readings."""
    import random
    from datetime import timedelta

    from sqlalchemy import select, text

    from portal.extensions import db
    from portal.models import Device, utcnow
    from portal.services import readings

    if run.database != "postgresql":
        print("   sensor chart runs on PostgreSQL only", flush=True)
        return []
    now = utcnow().replace(microsecond=0)
    url = database_url("postgresql", run.cases, "sensors")
    app = _fill_chart(url, now)
    chooser = random.Random(16)  # nosec B311 - picks devices
    with app.app_context():
        ids = list(db.session.scalars(select(Device.id)))
        end = db.session.scalar(text("SELECT max(hour) FROM reading_hour")) + timedelta(hours=1)
        start = end - timedelta(days=30)

        def portal() -> None:
            device = db.session.get(Device, chooser.choice(ids))
            kind, points = readings.series(db.session, device, "depth", start, end, 90, end)
            assert kind == "hourly" and len(points) >= 700
            db.session.rollback()

        raw = db.engine.raw_connection()

        def hourly_sql() -> None:
            with raw.cursor() as cursor:
                cursor.execute(
                    "SELECT hour, total / count, low, high FROM reading_hour WHERE device_id = %s"
                    " AND metric = 'depth' AND hour >= %s AND hour <= %s ORDER BY hour",
                    (chooser.choice(ids), start, end),
                )
                cursor.fetchall()
            raw.rollback()

        def raw_sql() -> None:
            with raw.cursor() as cursor:
                cursor.execute(
                    "SELECT date_trunc('hour', ts), avg(value), min(value), max(value) "
                    "FROM reading WHERE device_id = %s AND metric = 'depth' AND ts >= %s "
                    "AND ts <= %s GROUP BY 1 ORDER BY 1",
                    (chooser.choice(ids), start, end),
                )
                cursor.fetchall()
            raw.rollback()

        try:
            mine, theirs = side_by_side(portal, hourly_sql, run.rounds)
            from_raw = [timed(raw_sql) for _ in range(max(run.rounds // 5, 5))]
        finally:
            raw.close()
    result = compared("sensor chart", run, mine, theirs, float("inf"))
    p95 = result["portal_p95_ms"]
    result.update(
        cases=run.cases,
        met=p95 < CHART_TARGET_P95_S * 1000,
        note=f"p95 {p95:.1f} ms against < 200 ms; the same hours from the raw readings: "
        f"p50 {statistics.median(from_raw) * 1000:.0f} ms, "
        f"p95 {percentile(from_raw, 0.95) * 1000:.0f} ms",
    )
    return [result]

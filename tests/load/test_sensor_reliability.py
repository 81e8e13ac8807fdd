"""Sensor reliability against a real Mosquitto and PostgreSQL: a broker restart in the middle
of a stream, PostgreSQL stopped for a few seconds, and a flood of bad messages."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess  # nosec B404 - the test's own publisher
import sys
import threading
import time
from collections import Counter

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from portal.extensions import db as _db
from portal.models import Reading, utcnow
from portal.services import listener
from tests.broker import LISTENER_USER, Mosquitto, publisher
from tests.conftest import make_app
from tests.factories import make_device
from tests.load.harness import PrivateCluster, require_services

pytestmark = pytest.mark.load
PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"


@pytest.fixture
def broker(tmp_path):
    mosquitto = Mosquitto(tmp_path, {"A1": "A1-pw"})
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


class Running:
    """A listener storing in a thread until stopped."""

    def __init__(self, factory, broker, **options) -> None:
        self.worker = listener.Listener(
            factory,
            listener.Broker(port=broker.port, username=LISTENER_USER[0], password=LISTENER_USER[1]),
            batch_wait=0.05,
            **options,
        )
        self.worker.start()
        assert self.worker.connected.wait(10)
        time.sleep(0.3)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.worker.stopping.set()
        self.thread.join(timeout=30)
        self.worker.stop()


def count(factory) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Reading))


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def stream(
    device,
    total: int,
    start: float,
    pause_every: int = 200,
    hold: threading.Event | None = None,
    infos: list | None = None,
) -> list:
    """Publish total readings one second apart in device time, QoS 1; with `hold`, publish
    the first half, then wait for it to be set before the second. Returns (and appends to
    `infos`) each publication's MQTTMessageInfo."""
    infos = [] if infos is None else infos
    for i in range(total):
        if hold is not None and i == total // 2:
            hold.wait(60)
        payload = json.dumps({"ts": start + i, "values": {"depth": 1 + i % 50}})
        infos.append(device.publish(listener.topic_for("A1"), payload, qos=1))
        if i % pause_every == 0:
            time.sleep(0.01)
    return infos


def test_a_broker_restart_mid_stream_loses_and_doubles_nothing(db, broker, figures):
    """One listener, as MQTT_SHARED=0 runs it: Mosquitto restores its plain subscription
    after the restart (it forgets shared ones, and lost 3-356 of 4,000 readings in about one
    run in six that way: README)."""
    require_services()
    make_device(db.session, "water_depth", code="A1")
    factory = sessionmaker(bind=db.engine)
    running = Running(factory, broker, shared=False)
    device = publisher(broker.port, "A1", "A1-pw")
    total = 4000
    start = utcnow().timestamp() - total - 60
    infos: list = []
    sender = threading.Thread(
        target=stream, args=(device, total, start), kwargs={"infos": infos}, daemon=True
    )
    sender.start()
    wait_for(lambda: count(factory) >= total // 4, 30)
    broker.stop()
    time.sleep(2)
    broker.start()
    sender.join(timeout=60)
    arrived = wait_for(lambda: count(factory) >= total, 60)
    time.sleep(1)
    stored = count(factory)
    still_at_device = len(device._out_messages)  # paho's own outbox
    running.stop()
    device.loop_stop()
    device.disconnect()
    figures(
        published=total,
        stored=stored,
        reconnects=running.worker.stats.reconnects,
        duplicates_refused=running.worker.stats.reasons.get("duplicate", 0),
        still_at_device=still_at_device,
        acknowledged_to_device=sum(1 for info in infos if not info.rc and info.is_published()),
        publish_errors=Counter(info.rc for info in infos if info.rc),
    )
    assert arrived and stored == total
    with factory() as session:
        distinct = session.scalar(select(func.count(func.distinct(Reading.ts))))
    assert distinct == total


def test_postgresql_stopped_for_seconds_loses_nothing_acknowledged(broker, tmp_path, figures):
    require_services()
    cluster = PrivateCluster()
    cluster.init()
    cluster.start()
    try:
        app = make_app(cluster.url, tmp_path / "uploads")
        with app.app_context():
            upgrade()
            make_device(_db.session, "water_depth", code="A1")
            _db.session.remove()
            _db.engine.dispose()
        engine = create_engine(cluster.url, pool_pre_ping=True, connect_args={"connect_timeout": 2})
        factory = sessionmaker(bind=engine)
        running = Running(factory, broker)
        device = publisher(broker.port, "A1", "A1-pw")
        total = 3000
        start = utcnow().timestamp() - total - 60
        # The second half is published while the database is down: the outage is always
        # felt, however fast the listener stored the first half.
        outage = threading.Event()
        sender = threading.Thread(
            target=stream, args=(device, total, start), kwargs={"hold": outage}, daemon=True
        )
        sender.start()
        wait_for(lambda: count(factory) >= total // 4, 30)
        cluster.stop()
        outage.set()
        time.sleep(5)
        cluster.start()
        sender.join(timeout=60)
        arrived = wait_for(lambda: count(factory) >= total, 90)
        stored = count(factory)
        running.stop()
        device.loop_stop()
        device.disconnect()
        engine.dispose()
        figures(
            published=total,
            stored=stored,
            database_errors=running.worker.stats.db_errors,
            acknowledged=running.worker.stats.messages,
        )
        assert arrived and stored == total
        assert running.worker.stats.db_errors > 0  # the outage was felt, and outlived
    finally:
        cluster.remove()


def test_ten_thousand_bad_messages_do_not_delay_good_ones(db, broker, figures):
    """10,000 bad messages neither stop the worker nor hold up the good ones among them: all
    are refused and counted in a few batches (never a transaction each), every good reading
    is stored. The delays (worker and end to end) are printed; timing belongs to bench/."""
    require_services()
    make_device(db.session, "water_depth", code="A1")
    factory = sessionmaker(bind=db.engine)
    stored_at: dict[float, float] = {}

    def record(session, rows, now) -> None:
        wall = time.time()
        for row in rows:
            stored_at.setdefault(row["ts"].timestamp(), wall)

    running = Running(factory, broker, after_store=record)
    # The flood comes from another process (mosquitto_pub), as devices would: this process
    # measures the listener alone.
    flood = subprocess.Popen(
        [PUB, "-h", "127.0.0.1", "-p", str(broker.port), "-u", "A1", "-P", "A1-pw", "-q", "1",
         "-t", listener.topic_for("A1"), "-l"],
        stdin=subprocess.PIPE,
    )  # fmt: skip
    sent: list[float] = []
    for i in range(10_000):
        flood.stdin.write(b'{"broken": %d\n' % i)
        if i % 100 == 99:
            moment = round(time.time(), 3)
            sent.append(moment)
            flood.stdin.write(json.dumps({"ts": moment, "values": {"depth": 3}}).encode() + b"\n")
            flood.stdin.flush()
            time.sleep(0.005)
    flood.stdin.close()
    flood.wait(timeout=60)
    arrived = wait_for(lambda: len(stored_at) >= len(sent), 60)
    running.stop()
    delays = sorted(stored_at[t] - t for t in sent if t in stored_at)
    figures(
        bad=10_000,
        good=len(sent),
        stored=len(delays),
        refused=running.worker.stats.refused,
        end_to_end_worst_s=round(delays[-1], 3) if delays else None,
        end_to_end_median_s=round(delays[len(delays) // 2], 3) if delays else None,
        worker_worst_wait_s=round(running.worker.stats.worst_wait, 3),
        worker_store_s=round(running.worker.stats.store_seconds, 3),
        worker_ack_s=round(running.worker.stats.ack_seconds, 3),
        batches=running.worker.stats.batches,
    )
    assert arrived and len(delays) == len(sent)
    assert running.worker.stats.refused == 10_000
    assert running.worker.stats.reasons == {"bad_json": 10_000}
    assert running.worker.stats.batches <= running.worker.stats.messages // 500 + 5


def test_two_listeners_split_the_stream_and_store_each_reading_once(db, broker, tmp_path, figures):
    """Two `flask sensors listen` processes on the shared subscription: each takes part of
    the stream, and every reading is stored exactly once (issue 19)."""
    require_services()
    make_device(db.session, "water_depth", code="A1")
    db.session.commit()
    factory = sessionmaker(bind=db.engine)
    env = {
        **os.environ,
        "DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
        "SECRET_KEY": "two-listeners",
        "MQTT_HOST": "127.0.0.1",
        "MQTT_PORT": str(broker.port),
        "MQTT_USER": LISTENER_USER[0],
        "MQTT_PASSWORD": LISTENER_USER[1],
    }
    workers = [
        subprocess.Popen(  # nosec B603 - the portal's own command
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "wsgi",
                "sensors",
                "listen",
                "--seconds",
                "120",
            ],
            env={**env, "MQTT_CLIENT_ID": f"listener-{n}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in (1, 2)
    ]
    log = broker.folder / "mosquitto.log"
    try:
        assert wait_for(
            lambda: log.exists() and all(f"as listener-{n}" in log.read_text() for n in (1, 2)),
            30,
        )
        time.sleep(1.5)  # both have subscribed
        device = publisher(broker.port, "A1", "A1-pw")
        total = 3000
        start = utcnow().timestamp() - total - 60
        infos = stream(device, total, start)
        for info in infos:
            info.wait_for_publish(30)
        arrived = wait_for(lambda: count(factory) >= total, 60)
        time.sleep(1)
        device.loop_stop()
        device.disconnect()
    finally:
        outputs = []
        for worker in workers:
            worker.terminate()
            outputs.append(worker.communicate(timeout=30)[0])
    said = [
        re.search(r"Stored (\d+) readings from (\d+) messages; refused (\d+)", out)
        for out in outputs
    ]
    assert all(said), outputs
    shares = [int(match.group(1)) for match in said]
    messages = [int(match.group(2)) for match in said]
    refused = [int(match.group(3)) for match in said]
    with factory() as session:
        stored = session.scalar(select(func.count()).select_from(Reading))
        distinct = session.scalar(select(func.count(func.distinct(Reading.ts))))
    figures(published=total, stored=stored, per_listener=shares, messages=messages)
    assert arrived and stored == total and distinct == total
    # Each message went to one listener only: none was taken twice and refused as a duplicate.
    assert sum(shares) == total and sum(messages) == total and sum(refused) == 0
    assert all(share > 0 for share in shares)  # the stream was split, not taken by one

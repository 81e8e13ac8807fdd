"""The MQTT door against a real private Mosquitto: QoS 1, a persistent shared session, ACL."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from portal.models import Device, Reading, utcnow
from portal.services import listener
from tests.broker import LISTENER_USER, Mosquitto, publisher
from tests.factories import make_device


@pytest.fixture
def broker(tmp_path):
    """Start a private broker for two devices, A1 and B2 (password = code + '-pw')."""
    mosquitto = Mosquitto(tmp_path, {"A1": "A1-pw", "B2": "B2-pw"})
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


def make_listener(db, broker, **options) -> listener.Listener:
    worker = listener.Listener(
        sessionmaker(bind=db.engine),
        listener.Broker(
            port=broker.port,
            username=LISTENER_USER[0],
            password=LISTENER_USER[1],
            client_id=options.pop("client_id", "test-listener"),
        ),
        batch_wait=0.05,
        **options,
    )
    worker.start()
    assert worker.connected.wait(5)
    time.sleep(0.2)  # let the subscription land
    return worker


def stored(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Reading))


def run_until(worker, predicate, seconds=15.0) -> None:
    deadline = time.monotonic() + seconds
    worker.run(until=lambda: predicate() or time.monotonic() > deadline)


def test_readings_arrive_bad_ones_are_counted_and_a_device_cannot_publish_as_another(db, broker):
    a, _ = make_device(db.session, "water_depth", code="A1")
    b, _ = make_device(db.session, "water_depth", code="B2")
    worker = make_listener(db, broker)
    device = publisher(broker.port, "A1", "A1-pw")
    now = utcnow().isoformat()
    infos = [
        device.publish(
            listener.topic_for("A1"),
            json.dumps({"device": "A1", "ts": now, "values": {"depth": 12.5}}),
            qos=1,
        ),
        device.publish(listener.topic_for("A1"), b"garbage", qos=1),
        # The broker's ACL drops a publication under another device's topic ...
        device.publish(
            listener.topic_for("B2"),
            json.dumps({"device": "B2", "ts": now, "values": {"depth": 99}}),
            qos=1,
        ),
        # ... and the listener refuses a payload naming another device.
        device.publish(
            listener.topic_for("A1"),
            json.dumps({"device": "B2", "ts": now, "values": {"depth": 98}}),
            qos=1,
        ),
    ]
    for info in infos:
        info.wait_for_publish(5)
    try:
        run_until(worker, lambda: worker.stats.messages >= 3)
        time.sleep(0.3)
        run_until(worker, lambda: False, seconds=0.3)  # anything else that would arrive
    finally:
        worker.stop()
        device.loop_stop()
        device.disconnect()
    assert worker.stats.messages == 3
    values = db.session.execute(select(Reading.device_id, Reading.value)).all()
    assert values == [(a.id, 12.5)]
    a = db.session.get(Device, a.id)
    assert a.last_value == 12.5
    assert a.bad_reasons == {"bad_json": 1, "wrong_device": 1}
    assert db.session.get(Device, b.id).bad_count == 0


def publish_while_away(broker, readings: int) -> None:
    """Device A1 publishes noise readings, one a second in device time, QoS 1, then leaves."""
    device = publisher(broker.port, "A1", "A1-pw")
    start = utcnow().timestamp() - 600
    for i in range(readings):
        payload = json.dumps({"ts": start + i, "values": {"noise": 50 + i % 10}})
        device.publish(listener.topic_for("A1"), payload, qos=1).wait_for_publish(5)
    device.loop_stop()
    device.disconnect()


def listen_until_stored(db, broker, readings: int, **options) -> None:
    """Start a listener again and let it store what waits for it."""
    again = make_listener(db, broker, **options)
    try:
        run_until(again, lambda: again.stats.stored >= readings)
    finally:
        again.stop()


def test_the_persistent_session_keeps_what_is_published_while_the_listener_is_away(db, broker):
    make_device(db.session, "noise", code="A1")
    worker = make_listener(db, broker)
    worker.stop()  # subscribed once: the broker now queues for this client id
    publish_while_away(broker, 50)
    listen_until_stored(db, broker, 50)
    assert stored(db) == 50


def test_a_plain_subscription_keeps_what_is_published_across_a_broker_restart(db, broker):
    """MQTT_SHARED off: the broker restores the plain subscription of the listener's session
    after its restart, so what a device publishes before the listener is back waits for it
    (Mosquitto forgets a shared one)."""
    make_device(db.session, "noise", code="A1")
    worker = make_listener(db, broker, shared=False)
    assert worker.topic == listener.TOPIC_FILTER
    worker.stop()
    broker.stop()
    broker.start()
    publish_while_away(broker, 20)
    listen_until_stored(db, broker, 20, shared=False)
    assert stored(db) == 20


def test_what_the_listener_stored_is_acknowledged_and_never_sent_again(db, broker):
    make_device(db.session, "noise", code="A1")
    worker = make_listener(db, broker)
    device = publisher(broker.port, "A1", "A1-pw")
    start = utcnow().timestamp() - 600
    try:
        for i in range(120):
            payload = json.dumps({"ts": start + i, "values": {"noise": 50 + i % 10}})
            device.publish(listener.topic_for("A1"), payload, qos=1).wait_for_publish(5)
        run_until(worker, lambda: worker.stats.stored >= 120)
    finally:
        device.loop_stop()
        device.disconnect()
        worker.stop()
    assert worker.stats.messages == 120
    again = make_listener(db, broker)  # the same client id: the broker's session of the first
    try:
        run_until(again, lambda: False, seconds=1.5)
    finally:
        again.stop()
    assert again.stats.messages == 0 and stored(db) == 120


def test_two_listeners_split_the_shared_subscription(db, broker):
    make_device(db.session, "noise", code="A1")
    first = make_listener(db, broker, client_id="listener-1")
    second = make_listener(db, broker, client_id="listener-2")
    device = publisher(broker.port, "A1", "A1-pw")
    start = utcnow().timestamp() - 600
    for i in range(40):
        payload = json.dumps({"ts": start + i, "values": {"noise": 55}})
        device.publish(listener.topic_for("A1"), payload, qos=1).wait_for_publish(5)
    try:
        deadline = time.monotonic() + 15
        while first.stats.messages + second.stats.messages < 40 and time.monotonic() < deadline:
            first.step()
            second.step()
    finally:
        first.stop()
        second.stop()
        device.loop_stop()
        device.disconnect()
    assert first.stats.messages > 0 and second.stats.messages > 0
    assert first.stats.messages + second.stats.messages == 40
    assert stored(db) == 40


def test_the_listener_takes_the_shared_subscription_unless_told_it_runs_alone(tmp_path):
    from portal.config import Settings

    assert Settings({}).load(str(tmp_path))["MQTT_SHARED"] is True
    assert Settings({"MQTT_SHARED": "0"}).load(str(tmp_path))["MQTT_SHARED"] is False

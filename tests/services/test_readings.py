"""Readings: checks, idempotent storage, hourly aggregates, partitions and the purge."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from portal.models import Device, Reading, ReadingHour
from portal.services import readings
from tests.factories import make_device

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _message(code, ts, **values):
    return {"device": code, "ts": ts, "values": values}


def test_good_readings_are_stored_once_and_aggregated_by_hour(db):
    device, _ = make_device(db.session, "water_depth")
    directory = readings.Directory()
    payload = [
        _message(device.code, "2026-11-29T11:10:00+08:00", depth=3.0),
        _message(device.code, (NOW - timedelta(minutes=50)).timestamp(), depth=5.0),
    ]
    first = readings.ingest_messages(
        db.session, [(device.code, json.dumps(payload))], directory, NOW
    )
    db.session.commit()
    assert len(first.stored) == 2 and first.refused == 0
    again = readings.ingest_messages(
        db.session, [(device.code, json.dumps(payload))], directory, NOW
    )
    db.session.commit()
    assert again.stored == [] and again.by_reason() == {"duplicate": 2}
    assert db.session.scalar(select(func.count()).select_from(Reading)) == 2
    hour = db.session.scalars(select(ReadingHour)).all()
    assert [(h.count, h.total, h.low, h.high) for h in hour] == [
        (1, 3.0, 3.0, 3.0),
        (1, 5.0, 5.0, 5.0),
    ]
    db.session.refresh(device)
    assert device.last_value == 5.0 and device.bad_count == 2
    assert device.bad_reasons == {"duplicate": 2}


def test_every_bad_reading_is_counted_by_reason_and_never_stored(db):
    device, _ = make_device(db.session, "noise")
    other, _ = make_device(db.session, "noise")
    directory = readings.Directory()
    ok = NOW.isoformat()
    messages = [
        (device.code, b"{not json"),
        ("nobody", b'{"device": "nobody", "ts": 0, "values": {}}'),
        (device.code, f'{{"device": "{other.code}", "ts": "{ok}", "values": {{"noise": 60}}}}'),
        (device.code, f'{{"ts": "{ok}", "values": {{"noise": 300}}}}'),
        (device.code, f'{{"ts": "{ok}", "values": {{"noise": "loud"}}}}'),
        (device.code, f'{{"ts": "{ok}", "values": {{"noise": 1{"0" * 400}}}}}'),
        (device.code, f'{{"ts": "{ok}", "values": {{"depth": 3}}}}'),
        (device.code, '{"ts": "2030-01-01T00:00:00+00:00", "values": {"noise": 60}}'),
        (device.code, '{"ts": "2020-01-01T00:00:00+00:00", "values": {"noise": 60}}'),
        (device.code, '{"ts": "2026-11-29T12:00:00", "values": {"noise": 60}}'),
        (
            device.code,
            json.dumps([{"ts": ok, "values": {"noise": 61}}] * 2),
        ),
    ]
    outcome = readings.ingest_messages(db.session, messages, directory, NOW)
    db.session.commit()
    assert len(outcome.stored) == 1
    assert outcome.by_reason() == {
        "bad_json": 1,
        "unknown_device": 1,
        "wrong_device": 1,
        "out_of_range": 3,
        "unknown_metric": 1,
        "future": 1,
        "too_old": 1,
        "bad_time": 1,
        "duplicate": 1,
    }
    db.session.refresh(device)
    assert device.bad_count == 10 and device.bad_reasons["out_of_range"] == 3
    db.session.refresh(other)
    assert other.bad_count == 0


def test_purge_keeps_the_hours_and_drops_old_raw_readings(db):
    device, _ = make_device(db.session, "dust_pm10")
    old = NOW - timedelta(days=100)
    rows = [
        {"device_id": device.id, "ts": old, "metric": "pm10", "value": 90.0},
        {"device_id": device.id, "ts": NOW, "metric": "pm10", "value": 80.0},
    ]
    readings.ensure_partitions(db.session, NOW, back_days=120)
    readings.store(db.session, rows, readings.Outcome(), {device.id: "dust_pm10"})
    db.session.commit()
    readings.purge(db.session, NOW, 90)
    db.session.commit()
    assert db.session.scalars(select(Reading.value)).all() == [80.0]
    assert db.session.scalar(select(func.count()).select_from(ReadingHour)) == 2
    kind, points = readings.series(
        db.session, device, "pm10", NOW - timedelta(days=200), NOW, 90, NOW
    )
    assert kind == "hourly" and [p[1] for p in points] == [90.0, 80.0]


def test_partitions_are_made_ahead_on_postgresql(db):
    made = readings.ensure_partitions(db.session, NOW, back_days=31, ahead=2)
    db.session.commit()
    if db.engine.dialect.name != "postgresql":
        assert made == []
        return
    expected = {"reading_p202610", "reading_p202611", "reading_p202612", "reading_p202701"}
    assert expected <= set(readings.partitions(db.session))
    assert set(made) <= expected
    assert readings.ensure_partitions(db.session, NOW, back_days=31, ahead=2) == []
    device, _ = make_device(db.session, "water_depth")
    readings.store(
        db.session,
        [{"device_id": device.id, "ts": NOW, "metric": "depth", "value": 1.0}],
        readings.Outcome(),
        {device.id: "water_depth"},
    )
    db.session.commit()
    where = db.session.scalar(text("SELECT tableoid::regclass::text FROM reading"))
    assert where == "reading_p202611"
    assert isinstance(db.session.get(Device, device.id).last_seen_at, datetime)


def test_two_listeners_making_the_same_partition_at_once_both_succeed(db):
    import threading

    from sqlalchemy.orm import sessionmaker

    month = datetime(2031, 5, 10, tzinfo=UTC)  # a month no other test makes
    first, second = sessionmaker(bind=db.engine)(), sessionmaker(bind=db.engine)()
    outcome: dict = {}

    def other_listener() -> None:
        try:
            outcome["made"] = readings.ensure_partitions(second, month, back_days=0, ahead=0)
            second.commit()
        except Exception as error:  # the test reports whatever the thread met
            outcome["error"] = error
            second.rollback()

    try:
        made = readings.ensure_partitions(first, month, back_days=0, ahead=0)
        thread = threading.Thread(target=other_listener)
        thread.start()
        thread.join(0.5)  # the other one is now waiting for this one's transaction
        first.commit()
        thread.join(30)
    finally:
        first.close()
        second.close()
    assert "error" not in outcome, outcome.get("error")
    if db.engine.dialect.name == "postgresql":
        assert made == ["reading_p203105"] and outcome["made"] == []
        assert "reading_p203105" in readings.partitions(db.session)
    else:
        assert made == outcome["made"] == []


def test_a_batch_holds_its_devices_until_it_commits_so_two_listeners_take_turns(db):
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import sessionmaker

    from portal.models import Alarm
    from portal.services import alarms

    device, _ = make_device(db.session, "cover_tilt")
    untouched, _ = make_device(db.session, "cover_tilt")
    db.session.commit()
    first, second = sessionmaker(bind=db.engine)(), sessionmaker(bind=db.engine)()
    try:
        # "open" is not the main metric: the batch does not update the device row itself.
        row = {"device_id": device.id, "ts": NOW, "metric": "open", "value": 1.0}
        new = readings.store(first, [row], readings.Outcome(), {device.id: "cover_tilt"})
        alarms.evaluate_stored(first, new, NOW)
        if db.engine.dialect.name == "postgresql":
            # Another listener cannot take the device before this batch commits (the lock a
            # listener takes, not only the key-share lock of the readings' foreign key) ...
            with pytest.raises(OperationalError):
                second.execute(
                    text("SELECT id FROM device WHERE id = :id FOR NO KEY UPDATE NOWAIT"),
                    {"id": device.id},
                )
            second.rollback()
            # ... while the batch's other devices stay free.
            second.execute(
                text("SELECT id FROM device WHERE id = :id FOR NO KEY UPDATE NOWAIT"),
                {"id": untouched.id},
            )
            second.rollback()
        first.commit()
        # Taking its turn after the commit, the other listener adds to the open alarm.
        later = {"device_id": device.id, "ts": NOW + timedelta(seconds=5), "metric": "open",
                 "value": 1.0}  # fmt: skip
        new = readings.store(second, [later], readings.Outcome(), {device.id: "cover_tilt"})
        alarms.evaluate_stored(second, new, NOW)
        second.commit()
    finally:
        first.close()
        second.close()
    [alarm] = db.session.scalars(select(Alarm).where(Alarm.device_id == device.id)).all()
    assert alarm.rule.code == "cover_open" and alarm.breach_count == 2

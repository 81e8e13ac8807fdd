"""The demo story, played through the same ingestion and rules as the listener uses."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal.models import Alarm, Device
from portal.services import alarms, demo_devices, readings, simulator
from tests.factories import make_project

START = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def test_the_story_raises_the_four_alarms(db):
    for n in range(3):
        make_project(db.session, code=f"S-{n}", active_site=True, phase="construction")
    added = demo_devices.load_devices(db.session, START - timedelta(minutes=5))
    db.session.commit()
    assert added["devices"] == 40
    devices = db.session.scalars(select(Device)).all()
    story = simulator.Story(list(devices), START)
    directory = readings.Directory()

    def deliver(messages, now):
        code_of = {m.topic: m.topic.split("/")[1] for m in messages}
        outcome = readings.ingest_messages(
            db.session, [(code_of[m.topic], m.payload) for m in messages], directory, now
        )
        alarms.evaluate_stored(db.session, outcome.stored, now)
        db.session.commit()
        return outcome

    night = deliver(story.last_night(), START)
    assert len(night.stored) == 91 and night.refused == 0
    for k in range(31):
        now = START + timedelta(seconds=10 * k)
        assert deliver(story.tick(now), now).refused == 0
    alarms.sweep_silence(db.session, START + timedelta(seconds=300))
    db.session.commit()
    opened = {
        (a.device.code, a.rule.code)
        for a in db.session.scalars(select(Alarm).where(Alarm.state == "raised"))
    }
    assert {("WL-01", "water_deep"), ("WL-02", "water_deep")} <= opened
    assert ("ZS-01", "noise_limit") in opened
    assert ("JG-03", "cover_open") in opened and ("JG-03", "cover_tilt") in opened
    assert ("YC-04", "pm10_silent") in opened
    assert not any(code == "WL-05" for code, rule in opened if rule == "water_deep")
    noise = db.session.scalar(select(Alarm).join(Device).where(Device.code == "ZS-01"))
    assert demo_devices.rules.is_night(noise.opened_at)

"""Alarms from stored readings: one open per device and rule, clearing, silence,
escalation, and the people who verify them into cases or dismiss them."""

import statistics
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.models import Alarm, Case, Contractor, DetectionRule, Device
from portal.services import alarms, readings
from tests.factories import make_device, make_project, make_user

NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def feed(db, device, metric, values, start=NOW, step=60):
    """Store values one minute apart and run the rules after each, as the listener would."""
    touched = []
    for i, value in enumerate(values):
        moment = start + timedelta(seconds=i * step)
        outcome = readings.Outcome()
        new = readings.store(
            db.session,
            [{"device_id": device.id, "ts": moment, "metric": metric, "value": float(value)}],
            outcome,
            {device.id: device.kind},
        )
        touched += alarms.evaluate_stored(db.session, new, moment)
    db.session.commit()
    return touched


def open_alarms(db, code=None):
    found = db.session.scalars(
        select(Alarm).where(Alarm.state.in_(("raised", "acknowledged", "verified")))
    ).all()
    return [a for a in found if code is None or a.rule.code == code]


def test_water_raises_one_alarm_later_breaches_add_to_it_and_it_clears(db):
    device, _ = make_device(db.session, "water_depth")
    feed(db, device, "depth", [5, 16, 17])  # 2 minutes at ≥ 15 cm needed
    assert open_alarms(db, "water_deep") == []
    [rising] = open_alarms(db, "water_rising")  # 11 cm in a minute
    feed(db, device, "depth", [18, 20, 22], start=NOW + timedelta(minutes=3))
    [alarm] = open_alarms(db, "water_deep")
    assert alarm.state == "raised" and alarm.category_code == "0203"
    assert alarm.breach_count == 3 and alarm.peak_value == 22
    # 13 cm: below the limit but inside the hysteresis band: the alarm stays.
    feed(db, device, "depth", [13] * 20, start=NOW + timedelta(minutes=6))
    db.session.refresh(alarm)
    assert alarm.state == "raised" and alarm.normal_since is None
    # Below 12 cm for 15 minutes clears it.
    feed(db, device, "depth", [5] * 16, start=NOW + timedelta(minutes=26))
    db.session.refresh(alarm)
    assert alarm.state == "cleared" and alarm.closed_at is not None
    db.session.refresh(rising)
    assert rising.state == "cleared"


def test_a_verified_alarm_does_not_clear_itself_and_becomes_a_case(db, reference):
    dispatcher = make_user(db.session, "dispatcher")
    device, _ = make_device(db.session, "cover_tilt", name="文一路下穿隧道")
    feed(db, device, "open", [0, 1])
    [alarm] = open_alarms(db)
    assert alarm.rule.code == "cover_open"
    alarms.acknowledge(db.session, dispatcher, alarm, NOW)
    alarms.verify(db.session, dispatcher, alarm, NOW)
    feed(db, device, "open", [0] * 30, start=NOW + timedelta(minutes=5))
    db.session.refresh(alarm)
    assert alarm.state == "verified"
    case = alarms.open_case(db.session, dispatcher, alarm, "", NOW)
    db.session.commit()
    assert case.source == "sensor" and case.category.code == "0401"
    assert alarm.state == "case" and alarm.case_id == case.id
    assert db.session.get(Case, case.id).lat == device.lat
    # Reported by the one who verified it, at the device's place: not "the resident", "—".
    assert case.address == "文一路下穿隧道"
    assert [e.actor_id for e in case.events if e.kind == "submitted"] == [dispatcher.id]


def test_dismissing_needs_a_reason_and_a_role(db):
    admin_free = make_user(db.session, "dispatcher")
    device, _ = make_device(db.session, "cover_tilt")
    feed(db, device, "tilt", [30])
    [alarm] = open_alarms(db)
    with pytest.raises(alarms.AlarmError):
        alarms.dismiss(db.session, admin_free, alarm, "  ", NOW)
    with pytest.raises(alarms.AlarmError):
        alarms.open_case(db.session, admin_free, alarm, "", NOW)  # not verified yet
    alarms.dismiss(db.session, admin_free, alarm, "施工单位在检修", NOW)
    assert alarm.state == "dismissed" and alarm.dismiss_reason == "施工单位在检修"
    # The same breach going on adds to the dismissed alarm: no new one a minute later ...
    feed(db, device, "tilt", [40], start=NOW + timedelta(minutes=1))
    assert open_alarms(db) == [] and alarm.breach_count == 2 and alarm.state == "dismissed"
    # ... but a breach after a pause of the rule's clear time (600 s) is a new alarm.
    feed(db, device, "tilt", [5], start=NOW + timedelta(minutes=3))
    feed(db, device, "tilt", [35], start=NOW + timedelta(minutes=12))
    [again] = open_alarms(db)
    assert again.id != alarm.id and again.state == "raised" and alarm.breach_count == 2


def test_a_condition_that_goes_on_after_its_case_opened_adds_to_that_alarm(db, reference):
    dispatcher = make_user(db.session, "dispatcher")
    device, _ = make_device(db.session, "water_depth")
    feed(db, device, "depth", [16, 17, 18])  # two minutes at 15 cm or more
    [alarm] = open_alarms(db, "water_deep")
    alarms.acknowledge(db.session, dispatcher, alarm, NOW)
    alarms.verify(db.session, dispatcher, alarm, NOW)
    case = alarms.open_case(db.session, dispatcher, alarm, "", NOW)
    db.session.commit()
    count = alarm.breach_count
    # The water stays high: the case's alarm takes the breaches, none is raised again.
    feed(db, device, "depth", [20] * 10, start=NOW + timedelta(minutes=3))
    assert open_alarms(db, "water_deep") == []
    db.session.refresh(alarm)
    assert alarm.state == "case" and alarm.case_id == case.id
    assert alarm.breach_count == count + 10 and alarm.peak_value == 20
    # It recedes for the clear time (900 s), then rises again: a new alarm.
    feed(db, device, "depth", [3] * 16, start=NOW + timedelta(minutes=13))
    feed(db, device, "depth", [19, 19, 19], start=NOW + timedelta(minutes=30))
    [again] = open_alarms(db, "water_deep")
    assert again.id != alarm.id


def test_night_noise_and_the_night_peak(db):
    device, _ = make_device(db.session, "noise")
    night = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    feed(db, device, "noise", [62] * 5, start=night)
    assert open_alarms(db) == []
    feed(db, device, "noise", [62], start=night + timedelta(minutes=5))
    [alarm] = open_alarms(db)
    assert alarm.rule.code == "noise_limit" and alarm.category_code == "0702"
    other, _ = make_device(db.session, "noise")
    feed(db, other, "noise", [71], start=night + timedelta(hours=2))  # a single night peak
    assert len(open_alarms(db)) == 2


def test_a_device_rule_replaces_its_kinds_rule_of_the_same_code(db):
    device, _ = make_device(db.session, "water_depth")
    db.session.add(
        DetectionRule(
            code="water_deep",
            name_zh="下穿隧道积水超过30厘米",
            name_en="Underpass water 30 cm",
            device_id=device.id,
            rule_kind="threshold",
            metric="depth",
            params={"limit": 30},
            category_code="0203",
        )
    )
    db.session.commit()
    feed(db, device, "depth", [20] * 5)
    assert open_alarms(db) == []
    feed(db, device, "depth", [31], start=NOW + timedelta(minutes=5))
    [alarm] = open_alarms(db, "water_deep")
    assert alarm.rule.device_id == device.id


def test_silence_marks_the_device_offline_and_a_reading_clears_it(db):
    device, _ = make_device(db.session, "dust_pm10")
    feed(db, device, "pm10", [60])
    raised = alarms.sweep_silence(db.session, NOW + timedelta(minutes=29))
    assert raised == []
    [alarm] = alarms.sweep_silence(db.session, NOW + timedelta(minutes=31))
    db.session.commit()
    assert db.session.get(Device, device.id).status == "offline"
    assert alarms.sweep_silence(db.session, NOW + timedelta(minutes=40)) == []  # still one
    feed(db, device, "pm10", [61], start=NOW + timedelta(minutes=41))
    db.session.refresh(alarm)
    assert alarm.state == "cleared"
    assert db.session.get(Device, device.id).status == "online"


def test_unacknowledged_alarms_escalate_per_period(db):
    dispatcher = make_user(db.session, "dispatcher")
    device, _ = make_device(db.session, "cover_tilt")
    feed(db, device, "tilt", [30])
    [alarm] = open_alarms(db)
    assert alarms.escalate(db.session, NOW + timedelta(minutes=29), 30) == 0
    assert alarms.escalate(db.session, NOW + timedelta(minutes=61), 30) == 1
    assert alarm.escalation_level == 2
    alarms.acknowledge(db.session, dispatcher, alarm, NOW + timedelta(minutes=62))
    assert alarms.escalate(db.session, NOW + timedelta(minutes=200), 30) == 0


def test_site_exceedances_count_for_the_contractor(db):
    dispatcher = make_user(db.session, "dispatcher")
    contractor = Contractor(name="某某建设", credit_code="91110000600037341L")
    db.session.add(contractor)
    db.session.flush()
    site = make_project(db.session, contractor_id=contractor.id)
    device, _ = make_device(db.session, "noise", project=site)
    feed(db, device, "noise", [80] * 6)
    other, _ = make_device(db.session, "cover_tilt", project=site)
    feed(db, other, "tilt", [40])
    assert alarms.exceedances(db.session, [site.id], NOW - timedelta(days=1)) == 2
    tilt = db.session.scalar(select(Alarm).where(Alarm.device_id == other.id))
    alarms.dismiss(db.session, dispatcher, tilt, "误报", NOW)
    assert alarms.exceedances(db.session, [site.id], NOW - timedelta(days=1)) == 1


def feed_batch(db, device, metric, values, start=NOW, step=60):
    """Store values one minute apart in ONE batch and run the rules once, as the listener
    does with a batch of messages."""
    rows = [
        {"device_id": device.id, "ts": start + timedelta(seconds=i * step), "metric": metric,
         "value": float(value)}
        for i, value in enumerate(values)
    ]  # fmt: skip
    new = readings.store(db.session, rows, readings.Outcome(), {device.id: device.kind})
    touched = alarms.evaluate_stored(db.session, new, rows[-1]["ts"])
    db.session.commit()
    return touched


def test_a_peak_in_the_middle_of_a_batch_raises_its_alarm(db):
    device, _ = make_device(db.session, "cover_tilt")
    feed_batch(db, device, "tilt", [2, 2, 40, 2, 2])  # knocked, then set back, in one batch
    [alarm] = open_alarms(db, "cover_tilt")
    assert alarm.breach_count == 1 and alarm.peak_value == 40
    assert alarm.last_breach_at == NOW + timedelta(minutes=2)


def test_a_batch_is_judged_point_by_point_with_its_own_windows(db):
    device, _ = make_device(db.session, "water_depth")
    # 16, 17, 18 cm for two minutes in the middle of a batch, then back to 5: the alarm is
    # raised at 18 (the third minute at ≥ 15 cm), not missed because the batch ends low.
    feed_batch(db, device, "depth", [5, 16, 17, 18, 5])
    [alarm] = open_alarms(db, "water_deep")
    assert alarm.peak_value == 18 and alarm.last_breach_at == NOW + timedelta(minutes=3)
    assert alarm.breach_count == 1


def test_a_rate_runs_from_the_reading_at_or_before_its_window_not_from_the_last_one(db):
    device, _ = make_device(db.session, "water_depth")
    # 9 cm in the last minute, but 9 cm over the rule's 5 minutes (from the reading at or
    # before 5 minutes back): 1.8 cm a minute, under the 2 of water_rising.
    feed(db, device, "depth", [0] * 7 + [9])
    assert open_alarms(db) == []
    other, _ = make_device(db.session, "water_depth")
    # Nothing 5 minutes back: the window starts at the first reading in it, 11 cm in 4 min.
    feed_batch(db, other, "depth", [0, 0, 0, 0, 11])
    [alarm] = open_alarms(db, "water_rising")
    assert alarm.device_id == other.id and alarm.peak_value == 11 / 4


def test_the_hourly_pm10_mean_is_summed_by_the_database_within_a_stated_tolerance(db):
    """The PM10 mean runs over the hour from the reading at or before its start. On
    PostgreSQL the worker has the database sum that window (float8, in time order) instead
    of reading its points into Python, so its mean may differ from the exactly rounded
    statistics.fmean (what threshold_breach and SQLite give) in the last bits: by at most
    (n - 1) x 2^-53 relative for these non-negative values, allowed here as 1e-12. Whole
    numbers add up exactly in binary, so a mean of them exactly at the limit breaches alike."""
    device, _ = make_device(db.session, "dust_pm10")
    values = [150.1 + (i % 7) / 10 for i in range(61)]  # 61 readings a minute apart: an hour
    feed_batch(db, device, "pm10", values)
    [alarm] = open_alarms(db, "pm10_hourly")
    assert alarm.peak_value == pytest.approx(statistics.fmean(values), rel=1e-12, abs=0)
    assert alarm.breach_count == 1 and alarm.last_breach_at == NOW + timedelta(minutes=60)

    exact, _ = make_device(db.session, "dust_pm10")
    feed_batch(db, exact, "pm10", [140, 160] * 30 + [150])  # mean 150 = PM10_LIMIT
    [alarm] = [a for a in open_alarms(db, "pm10_hourly") if a.device_id == exact.id]
    assert alarm.peak_value == 150.0

    short, _ = make_device(db.session, "dust_pm10")
    feed(db, short, "pm10", [400] * 60)  # 59 minutes: no reading an hour back, no mean
    assert [a for a in open_alarms(db) if a.device_id == short.id] == []
    feed(db, short, "pm10", [400], start=NOW + timedelta(minutes=60))
    [alarm] = [a for a in open_alarms(db) if a.device_id == short.id]
    assert alarm.rule.code == "pm10_hourly" and alarm.peak_value == 400.0

"""Detections from video-analytics platforms: key per source, threshold, snapshot, precision."""

import io
from datetime import timedelta

from sqlalchemy import func, select

from portal.models import Alarm, Detection, utcnow
from portal.services import alarms, apikeys, detections
from tests.factories import jpeg_bytes, make_user

PLACE = {"lat": "30.2741", "lng": "120.1551"}


def send(client, key, **fields):
    data = {"kind": "cover_missing", "confidence": "0.9", "time": utcnow().isoformat(), **PLACE}
    data.update(fields)
    return client.post(
        "/api/v1/detections",
        data=data,
        headers={"X-Api-Key": key} if key else {},
        content_type="multipart/form-data",
    )


def test_a_confident_detection_raises_an_alarm_with_its_snapshot(client, db, app):
    _source, key = apikeys.create(db.session, "城市之眼平台", utcnow())
    db.session.commit()
    response = send(client, key, snapshot=(io.BytesIO(jpeg_bytes()), "cam.jpg"), camera="K12")
    assert response.status_code == 201
    detection = db.session.get(Detection, response.get_json()["id"])
    assert detection.raised and len(detection.snapshot_sha256) == 64
    alarm = db.session.get(Alarm, response.get_json()["alarm"])
    assert alarm.state == "raised" and alarm.category_code == "0401"
    # The same thing seen again a few metres away adds to the open alarm.
    again = send(client, key, lat="30.27412", confidence="0.8")
    assert again.get_json()["alarm"] == alarm.id
    db.session.refresh(alarm)
    assert alarm.breach_count == 2


def test_below_the_threshold_a_detection_is_only_logged(client, db):
    _source, key = apikeys.create(db.session, "平台", utcnow())
    db.session.commit()
    response = send(client, key, confidence="0.3")
    assert response.status_code == 201 and response.get_json()["alarm"] is None
    assert db.session.scalar(select(func.count()).select_from(Alarm)) == 0
    assert db.session.scalar(select(func.count()).select_from(Detection)) == 1


def test_bad_detections_are_refused_with_a_message(client, db):
    _source, key = apikeys.create(db.session, "平台", utcnow())
    db.session.commit()
    assert send(client, None).status_code == 401
    assert send(client, "wrong").status_code == 401
    for bad in (
        {"kind": "ufo"},
        {"confidence": "1.5"},
        {"confidence": "abc"},
        {"time": "yesterday"},
        {"time": (utcnow() + timedelta(days=1)).isoformat()},
        {"lat": "95"},
        {"lat": "", "lng": ""},
        {"facility": "NOPE"},
        {"snapshot": (io.BytesIO(b"not an image"), "x.jpg")},
    ):
        assert send(client, key, **bad).status_code == 400, bad
    assert db.session.scalar(select(func.count()).select_from(Detection)) == 0


def test_each_source_has_its_precision(client, db, reference):
    dispatcher = make_user(db.session, "dispatcher")
    good, good_key = apikeys.create(db.session, "A平台", utcnow())
    db.session.commit()
    ids = []
    for i in range(3):
        lat = f"{30.2741 + i * 0.001:.4f}"
        ids.append(send(client, good_key, lat=lat).get_json()["alarm"])
    first, second, third = (db.session.get(Alarm, i) for i in ids)
    alarms.verify(db.session, dispatcher, first, utcnow())
    alarms.verify(db.session, dispatcher, second, utcnow())
    alarms.open_case(db.session, dispatcher, second, "", utcnow())
    alarms.dismiss(db.session, dispatcher, third, "阴影误识别", utcnow())
    db.session.commit()
    [row] = detections.precision(db.session)
    assert row.source.id == good.id
    assert (row.detections, row.raised, row.confirmed, row.dismissed) == (3, 3, 2, 1)
    assert row.precision == 2 / 3

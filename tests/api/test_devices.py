"""The HTTP door for readings: a device's key, batches, idempotence, bad input."""

from datetime import timedelta

from sqlalchemy import func, select

from portal.models import Device, Reading, utcnow
from tests.factories import make_device


def post(client, code, key, body, **kwargs):
    headers = {"X-Device-Key": key} if key is not None else {}
    return client.post(f"/api/v1/devices/{code}/readings", json=body, headers=headers, **kwargs)


def test_a_batch_is_stored_once_and_bad_readings_are_counted(client, db):
    device, key = make_device(db.session, "noise")
    now = utcnow()
    batch = [
        {"ts": (now - timedelta(seconds=i)).isoformat(), "values": {"noise": 50 + i % 5}}
        for i in range(1000)
    ]
    response = post(client, device.code, key, {"readings": batch})
    assert response.status_code == 200
    assert response.get_json() == {"stored": 1000, "refused": {}}
    again = post(client, device.code, key, [*batch[:10], {"ts": "nope", "values": {"noise": 1}}])
    assert again.get_json() == {"stored": 0, "refused": {"duplicate": 10, "bad_time": 1}}
    assert db.session.scalar(select(func.count()).select_from(Reading)) == 1000
    db.session.expire_all()
    assert db.session.get(Device, device.id).bad_reasons == {"duplicate": 10, "bad_time": 1}


def test_wrong_key_unknown_device_and_oversized_batches_are_refused(client, db):
    device, key = make_device(db.session, "noise")
    _other, other_key = make_device(db.session, "noise")
    good = [{"ts": utcnow().isoformat(), "values": {"noise": 60}}]
    assert post(client, device.code, "wrong", good).status_code == 401
    assert post(client, device.code, None, good).status_code == 401
    assert post(client, device.code, other_key, good).status_code == 401  # another's key
    assert post(client, "x" * 500, key, good).status_code == 401
    assert post(client, "nobody", key, good).status_code == 401
    assert post(client, device.code, key, good * 1001).status_code == 413
    garbage = client.post(
        f"/api/v1/devices/{device.code}/readings",
        data=b"{{{",
        headers={"X-Device-Key": key, "Content-Type": "application/json"},
    )
    assert garbage.status_code == 400
    assert post(client, device.code, key, {"readings": "no"}).status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Reading)) == 0
    db.session.expire_all()
    assert db.session.get(Device, device.id).bad_reasons == {"bad_json": 2}

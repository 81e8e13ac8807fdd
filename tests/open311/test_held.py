"""Open311 POSTs from blocked senders are answered as usual but held off every GET."""

import pytest
from sqlalchemy import select

from portal.models import Case, OutboxMessage, utcnow
from portal.services import blocklist
from tests.factories import make_user
from tests.open311.conftest import BASE
from tests.open311.test_api import post


@pytest.mark.parametrize(
    ("kind", "value"),
    [("email", "Wang.Private@example.cn"), ("phone", "13912345678"), ("ip", "127.0.0.1")],
)
def test_a_blocked_senders_request_is_received_but_held(client, db, api_key, kind, value):
    entry = blocklist.add(db.session, make_user(db.session), kind, value, "刷单", utcnow())
    db.session.commit()
    answer = post(client, api_key)
    assert answer.status_code == 201
    number = answer.get_json()[0]["service_request_id"]
    case = db.session.scalar(select(Case).where(Case.number == number))
    assert case.held and case.respond_due_at is None and case.blocked_sender_id == entry.id
    assert db.session.scalar(select(OutboxMessage)) is None
    assert client.get(f"{BASE}/requests/{number}.json").status_code == 404
    for path in ("requests.json", "requests.xml", f"requests.json?service_request_id={number}"):
        assert number not in client.get(f"{BASE}/{path}").get_data(as_text=True), path


def test_other_senders_are_not_held(client, db, api_key):
    blocklist.add(db.session, make_user(db.session), "email", "x@example.cn", "刷单", utcnow())
    db.session.commit()
    number = post(client, api_key).get_json()[0]["service_request_id"]
    assert client.get(f"{BASE}/requests/{number}.json").status_code == 200

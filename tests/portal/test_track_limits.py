"""Query-code lookups and mailed links are limited per address and per case, as settings."""

import pytest
from sqlalchemy import func, select

from portal.config import Settings
from portal.models import OutboxMessage
from portal.services import case_links
from tests.factories import make_case

REPORTER = "resident@example.cn"


@pytest.fixture
def app_config():
    return {
        "RATELIMIT_ENABLED": True,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_TRACK_LOOKUP": "4 per hour",
        "RATELIMIT_TRACK_LOOKUP_CASE": "2 per hour",
        "RATELIMIT_TRACK_LINK": "4 per hour",
        "RATELIMIT_TRACK_LINK_CASE": "2 per hour",
    }


def other_address(client, last_octet: int):
    client.environ_base["REMOTE_ADDR"] = f"10.0.0.{last_octet}"


def test_one_case_is_not_guessed_from_many_addresses(client, db, reference):
    case, token = make_case(db.session)
    for i in range(2):
        other_address(client, i + 1)
        wrong = client.post("/track", data={"number": case.number, "code": "000000"})
        assert wrong.status_code == 422
    other_address(client, 9)
    refused = client.post(
        "/track", data={"number": case.number, "code": case_links.query_code(token)}
    )
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "请求过于频繁" in refused.get_data(as_text=True)
    # Another case is still open to this address.
    other, other_token = make_case(db.session)
    opened = client.post(
        "/track", data={"number": other.number, "code": case_links.query_code(other_token)}
    )
    assert opened.status_code == 303


def test_one_address_does_not_try_many_cases(client, db, reference):
    for i in range(4):
        assert (
            client.post("/track", data={"number": f"2026-00010{i}", "code": "123456"}).status_code
            == 422
        )
    assert client.post("/track", data={"number": "2026-000200", "code": "1"}).status_code == 429


def test_the_lost_link_is_mailed_a_limited_number_of_times_per_case(client, db, reference):
    case, _ = make_case(db.session, email=REPORTER)
    before = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    for i in range(3):
        other_address(client, i + 1)
        client.post("/track/link", data={"case_number": case.number, "email": REPORTER})
    sent = db.session.scalar(select(func.count()).select_from(OutboxMessage)) - before
    assert sent == 2


def test_the_track_limits_are_settings_with_defaults(tmp_path):
    names = [
        "RATELIMIT_TRACK_LOOKUP",
        "RATELIMIT_TRACK_LOOKUP_CASE",
        "RATELIMIT_TRACK_LINK",
        "RATELIMIT_TRACK_LINK_CASE",
    ]
    defaults = Settings({}).load(str(tmp_path))
    assert all(defaults[name] for name in names)
    tuned = Settings({"RATELIMIT_TRACK_LOOKUP_CASE": "1 per day"}).load(str(tmp_path))
    assert tuned["RATELIMIT_TRACK_LOOKUP_CASE"] == "1 per day"

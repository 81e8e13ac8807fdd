"""Comments and suggestions are rate-limited like reports, by settings."""

from datetime import timedelta

import pytest

from portal.config import Settings
from portal.models import utcnow
from tests.factories import make_consultation, make_user


@pytest.fixture
def app_config():
    return {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_COMMENT": "2 per minute",
        "RATELIMIT_SUGGESTION": "2 per minute",
        "WTF_CSRF_ENABLED": False,
    }


def test_the_limits_are_settings_with_defaults(tmp_path):
    defaults = Settings({}).load(str(tmp_path))
    assert defaults["RATELIMIT_COMMENT"] and defaults["RATELIMIT_SUGGESTION"]
    assert defaults["SUGGESTION_POINTS"] > 0
    tuned = Settings(
        {
            "RATELIMIT_COMMENT": "3 per hour",
            "RATELIMIT_SUGGESTION": "4 per hour",
            "SUGGESTION_POINTS": "9",
        }
    ).load(str(tmp_path))
    assert (
        tuned["RATELIMIT_COMMENT"],
        tuned["RATELIMIT_SUGGESTION"],
        tuned["SUGGESTION_POINTS"],
    ) == ("3 per hour", "4 per hour", 9)


def test_suggestions_are_limited_per_address(client, db):
    answers = [client.post("/suggestions/new", data={}).status_code for _ in range(3)]
    assert answers == [422, 422, 429]
    assert "请求过于频繁" in client.post("/suggestions/new", data={}).get_data(as_text=True)
    assert client.get("/suggestions/new").status_code == 200  # reading the form is not limited


def test_comments_are_limited_per_address(client, db):
    staff = make_user(db.session, role="dispatcher")
    consultation = make_consultation(db.session, staff, opened=utcnow() - timedelta(hours=1))
    path = f"/consultations/{consultation.id}/comments"
    answers = [client.post(path, data={}).status_code for _ in range(3)]
    assert answers == [422, 422, 429]
    assert client.get(f"/consultations/{consultation.id}").status_code == 200

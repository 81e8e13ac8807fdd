"""Rate limits on every form residents post and on the read APIs: each limit is a setting, the
answer past it is 429 with a Retry-After and a message in the reader's language, and nothing is
saved. Redis being down does not break a submission."""

import os
from datetime import timedelta

import pytest
import redis
from sqlalchemy import func, select

from portal.config import Settings
from portal.extensions import limiter
from portal.models import (
    Case,
    CaseFollower,
    ConsultationComment,
    OutboxMessage,
    Suggestion,
    SupervisorApplication,
    User,
    utcnow,
)
from tests.conftest import make_app
from tests.factories import category, make_case, make_consultation, make_user

REDIS_URL = os.environ.get("REDIS_URL", "")
LIMIT = 2


@pytest.fixture
def app_config():
    limits = {
        key: f"{LIMIT} per hour"
        for key in (
            "RATELIMIT_REPORT",
            "RATELIMIT_REPORT_FAILED",
            "RATELIMIT_FOLLOW",
            "RATELIMIT_SUGGESTION",
            "RATELIMIT_COMMENT",
            "RATELIMIT_LOGIN",
            "RATELIMIT_SUPERVISOR_APPLY",
            "RATELIMIT_PRIVACY",
            "RATELIMIT_API",
        )
    }
    return {"RATELIMIT_ENABLED": True, "WTF_CSRF_ENABLED": False, **limits}


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def report(db, i: int) -> dict:
    return {
        "category": category(db.session).code,
        "lat": f"{30.2741 + i * 0.01:.6f}",  # far apart: no "similar case nearby" step
        "lng": "120.155100",
        "description": "人行道上的井盖松动了，踩上去会翻。",
        "email": f"r{i}@example.cn",
    }


def application(db, i: int) -> dict:
    return {
        "name": "陈晓",
        "phone": "13800001111",
        "email": f"chen{i}@example.cn",
        "zone": "GS-HS",
        "agree": "y",
    }


def suggestion(db, i: int) -> dict:
    return {"title": f"建议 {i}", "body": "在路口增设一处非机动车停放点。"}


def comment(db, i: int) -> dict:
    return {"body": f"施工请避开早晚高峰。{i}", "display_name": "李女士"}


def follow(db, i: int) -> dict:
    return {"email": f"f{i}@example.cn"}


def privacy(db, i: int) -> dict:
    return {"email": f"p{i}@example.cn"}


def open_case(db) -> str:
    return f"/cases/{make_case(db.session)[0].number}/follow"


def open_consultation(db) -> str:
    staff = make_user(db.session, role="dispatcher")
    consultation = make_consultation(db.session, staff, opened=utcnow() - timedelta(hours=1))
    return f"/consultations/{consultation.id}/comments"


# (what, path or a function making it, form data, the model whose rows must not grow past it)
FORMS = [
    ("report", lambda db: "/report/new", report, Case),
    ("me too", open_case, follow, CaseFollower),
    ("suggestion", lambda db: "/suggestions/new", suggestion, Suggestion),
    ("comment", open_consultation, comment, ConsultationComment),
    ("supervisor application", lambda db: "/supervisor/apply", application, SupervisorApplication),
    ("privacy request", lambda db: "/privacy", privacy, OutboxMessage),
]


@pytest.mark.parametrize(("what", "path", "data", "model"), FORMS, ids=[f[0] for f in FORMS])
def test_each_form_is_limited_and_nothing_is_saved_past_the_limit(
    client, db, reference, what, path, data, model
):
    url = path(db)
    for i in range(LIMIT):
        assert client.post(url, data=data(db, i)).status_code in (200, 303), what
    saved = count(db, model)
    refused = client.post(url, data=data(db, LIMIT))
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    page = refused.get_data(as_text=True)
    assert "请求过于频繁" in page and "没有保存" in page
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.post(url, data=data(db, LIMIT + 1)).get_data(as_text=True)
    assert "Too many requests" in page and "Nothing was saved" in page
    assert count(db, model) == saved  # the refused requests stored nothing
    if url != "/privacy" and "follow" not in url and "comments" not in url:
        assert client.get(url).status_code == 200  # reading the form is not limited


def test_sign_in_is_limited_per_address(client, db):
    user = make_user(db.session, role="dispatcher")
    for _ in range(LIMIT):
        client.post("/login", data={"email": f"nobody{_}@example.cn", "password": "x" * 10})
    refused = client.post("/login", data={"email": user.email, "password": "wrong-password"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    db.session.expire_all()
    assert db.session.get(User, user.id).failed_logins == 0  # the attempt was not even counted


@pytest.mark.parametrize(
    "path",
    ["/api/v1/cases.geojson?bbox=120,30,121,31", "/api/v1/kpi", "/cases.csv"],
)
def test_the_read_apis_are_limited_in_json(client, db, reference, path):
    for _ in range(LIMIT):
        assert client.get(path).status_code == 200
    refused = client.get(path)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    if path.startswith("/api/"):
        assert refused.get_json()["error"]["code"] == 429


def test_the_limits_are_settings_with_defaults(tmp_path):
    defaults = Settings({}).load(str(tmp_path))
    names = ["RATELIMIT_SUPERVISOR_APPLY", "RATELIMIT_PRIVACY", "RATELIMIT_FOLLOW", "RATELIMIT_API"]
    assert all(defaults[name] for name in names)
    assert defaults["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] is True
    tuned = Settings({"RATELIMIT_SUPERVISOR_APPLY": "1 per day", "RATELIMIT_PRIVACY": "2 per day"})
    assert [tuned.load(str(tmp_path))[n] for n in names[:2]] == ["1 per day", "2 per day"]


@pytest.fixture
def dead_redis():
    """Point the limiter at a Redis that is not there; put it back to health afterwards."""
    yield {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"}
    limiter._storage_dead = False  # the singleton remembers the outage across apps


def test_a_submission_does_not_fail_when_redis_is_down(db, migrated, tmp_path, dead_redis):
    down = make_app(
        migrated,
        tmp_path / "down",
        RATELIMIT_ENABLED=True,
        RATELIMIT_REPORT=f"{LIMIT} per hour",
        WTF_CSRF_ENABLED=False,
        **dead_redis,
    )
    client = down.test_client()
    with down.app_context():
        from portal.services import demo

        demo.load_reference(db.session)
        db.session.commit()
        answers = [client.post("/report/new", data=report(db, i)).status_code for i in range(3)]
        # Accepted, and still limited (in the worker's memory) while Redis is away.
        assert answers == [303, 303, 429]
        assert count(db, Case) == LIMIT
        db.session.remove()
        db.engine.dispose()


@pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set: no Redis to share limits")
def test_two_apps_share_the_limit_through_redis(app, db, migrated, tmp_path, reference):
    # A second app on the same Redis stands for a second worker (tests/security has the real
    # two-worker test).
    other = make_app(
        migrated,
        tmp_path / "other",
        RATELIMIT_ENABLED=True,
        RATELIMIT_REPORT=f"{LIMIT} per hour",
        RATELIMIT_REPORT_FAILED=f"{LIMIT} per hour",  # the empty posts below are refused tries
        WTF_CSRF_ENABLED=False,
        RATELIMIT_STORAGE_URI=REDIS_URL,
    )
    first, second = app.test_client(), other.test_client()
    assert app.config["RATELIMIT_STORAGE_URI"].startswith("redis://")
    with app.app_context():
        assert first.post("/report/new", data={}).status_code == 422
    with other.app_context():
        assert second.post("/report/new", data={}).status_code == 422
        assert second.post("/report/new", data={}).status_code == 429
        db.session.remove()
        db.engine.dispose()  # the second "worker" closes its connections
    with redis.Redis.from_url(REDIS_URL) as connection:
        assert connection.keys("LIMITS:*"), "the limiter wrote nothing to Redis"


@pytest.mark.parametrize(
    "path", ["/api/v1/kpi", "/cases.csv", "/open311/v2/services.json", "/report/new"]
)
def test_a_successful_answer_says_nothing_of_retrying(client, db, reference, path):
    # Retry-After tells a client when to come back after a refusal; on a 200 it misleads.
    for _ in range(LIMIT + 300):  # Open311's own limit is 300 a minute
        answer = client.get(path)
        answer.close()  # the CSV is streamed
        if answer.status_code == 429:
            break
        assert answer.status_code == 200
        assert "Retry-After" not in answer.headers
    if path != "/report/new":  # reading the form is not limited
        assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0

"""Rate limits on reporting, held in Redis when REDIS_URL is set (shared by all workers)."""

import os

import pytest
import redis

from tests.conftest import make_app

REDIS_URL = os.environ.get("REDIS_URL", "")


@pytest.fixture
def app_config():
    return {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_REPORT": "2 per minute",
        "WTF_CSRF_ENABLED": False,
    }


def test_report_submissions_are_limited_per_address(client, reference):
    answers = [client.post("/report/new", data={}).status_code for _ in range(3)]
    assert answers == [422, 422, 429]
    page = client.post("/report/new", data={}).get_data(as_text=True)
    assert "请求过于频繁" in page
    assert client.get("/report/new").status_code == 200  # reading the form is not limited


@pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set: no Redis to share limits")
def test_two_workers_share_the_limit_through_redis(app, db, migrated, tmp_path, reference):
    # A second app on the same Redis stands for a second gunicorn worker.
    other = make_app(
        migrated,
        tmp_path / "other",
        RATELIMIT_ENABLED=True,
        RATELIMIT_REPORT="2 per minute",
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
    keys = redis.Redis.from_url(REDIS_URL).keys("LIMITS:*")
    assert keys, "the limiter wrote nothing to Redis"

"""The database out of reach: a clean 503 in both languages, never a 500."""

import pytest

from portal.extensions import db as _db
from tests.conftest import make_app


@pytest.fixture
def unreachable(tmp_path):
    """Return a client of a portal whose database cannot be opened."""
    url = f"sqlite:///{tmp_path / 'missing' / 'portal.db'}"
    app = make_app(url, tmp_path / "uploads", WTF_CSRF_ENABLED=False)
    yield app.test_client()
    with app.app_context():
        _db.engine.dispose()


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/report/new"), ("GET", "/cases"), ("GET", "/suggestions"), ("POST", "/report/new")],
)
def test_pages_answer_503_with_retry_after_in_both_languages(unreachable, method, path):
    data = {"description": "路面塌陷，很危险", "lat": "30.27", "lng": "120.15"}
    answer = unreachable.open(path, method=method, data=data, headers={"Accept-Language": "en"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "30"
    assert "Service temporarily unavailable" in page and "服务暂时不可用" in page


def test_the_api_answers_503_in_json(unreachable):
    answer = unreachable.get("/api/v1/cases.geojson?bbox=120.1,30.2,120.2,30.3")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
    assert answer.get_json()["error"]["code"] == 503


def test_open311_answers_503_in_its_own_format(unreachable):
    answer = unreachable.get("/open311/v2/services.json")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
    assert answer.get_json()[0]["code"] == 503

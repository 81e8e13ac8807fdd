"""The report form's limits: only accepted reports count towards RATELIMIT_REPORT, refused
tries have their own (higher) limit, and a limited try gets the form back with everything
typed and picked, and when to try again. Length limits refuse, never cut."""

import io
import re

import pytest
from sqlalchemy import func, select

from portal.models import Case, PendingPhoto
from tests.factories import jpeg_bytes
from tests.portal.test_report import form_data


@pytest.fixture
def app_config():
    return {
        "RATELIMIT_ENABLED": True,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_REPORT": "2 per hour",
        "RATELIMIT_REPORT_FAILED": "12 per hour",
    }


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def far_apart(db, i: int, **fields) -> dict:
    # Far apart: no "similar case nearby" step between the reports.
    return form_data(db, lat=f"{30.2741 + i * 0.01:.6f}", **fields)


def test_failed_tries_do_not_use_the_accepted_report_limit(client, db, reference):
    for i in range(10):
        assert client.post("/report/new", data=far_apart(db, i, description="")).status_code == 422
    assert [client.post("/report/new", data=far_apart(db, i)).status_code for i in range(2)] == [
        303,
        303,
    ]
    assert count(db, Case) == 2


def test_the_accepted_limit_gives_the_form_back_with_everything_kept(client, db, reference):
    for i in range(2):
        assert client.post("/report/new", data=far_apart(db, i)).status_code == 303
    picture = (io.BytesIO(jpeg_bytes(800, 600, "red")), "red.jpg")
    data = far_apart(db, 5, description="桥下的排水口堵住了，下雨就积水。", photos=[picture])
    refused = client.post("/report/new", data=data, content_type="multipart/form-data")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "请求过于频繁" in page and "分钟后再试" in page
    assert "桥下的排水口堵住了，下雨就积水。" in page and 'value="张先生"' in page
    assert 'name="category"' in page and 'action="/report/new"' in page
    assert len(re.findall(r'src="/report/photos/[^"]+"', page)) == 1
    assert count(db, Case) == 2 and count(db, PendingPhoto) == 1
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.post("/report/new", data=far_apart(db, 6)).get_data(as_text=True)
    assert "Too many requests" in page and "minutes" in page and "Send the report" in page


def test_failed_tries_have_their_own_limit(client, db, reference):
    for i in range(12):
        assert client.post("/report/new", data=far_apart(db, i, description="")).status_code == 422
    refused = client.post("/report/new", data=far_apart(db, 12))
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429 and "人行道上的井盖松动了" in page
    assert count(db, Case) == 0


@pytest.mark.parametrize(
    ("field", "limit", "text"),
    [("description", 2000, "坑" * 10_000), ("address", 255, "路" * 300)],
)
def test_too_long_text_is_refused_and_kept_never_cut(client, db, reference, field, limit, text):
    page = client.get("/report/new").get_data(as_text=True)
    tag = re.search(rf'<(?:textarea|input)[^>]*name="{field}"[^>]*>', page).group(0)
    assert "maxlength" not in tag and f'data-max-chars="{limit}"' in tag
    assert f"最多 {limit} 个字" in page or f"{limit}" in page
    refused = client.post("/report/new", data=form_data(db, **{field: text}))
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and text in page and f'id="{field}-error"' in page
    assert count(db, Case) == 0

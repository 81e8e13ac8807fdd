"""Filters explain themselves: a wrong date is named next to its field, never a 400 or 500."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.factories import make_case, make_notice, make_user

WRONG = [
    # (since, until, the field that is wrong, what its message says)
    ("2026-02-30", "", "since", "不是日期"),
    ("2026-13-01", "", "since", "不是日期"),
    ("", "yesterday", "until", "不是日期"),
    ("2026-11-20", "2026-11-01", "until", "结束日期早于开始日期"),
]


def message_of(page: str, field_id: str) -> str:
    """Return the error text tied to a field through aria-describedby."""
    tag = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', page)[0]
    assert 'aria-invalid="true"' in tag
    described = re.search(r'aria-describedby="([^"]*)"', tag)[1].split()
    error_id = next(i for i in described if i.endswith("-error"))
    return re.search(rf'<p class="field-error" id="{error_id}">(.*?)</p>', page, re.S)[1]


@pytest.mark.parametrize(("since", "until", "wrong", "says"), WRONG)
def test_the_case_list_explains_a_wrong_date(client, db, reference, since, until, wrong, says):
    make_case(db.session)
    response = client.get("/cases", query_string={"since": since, "until": until})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert says in message_of(page, wrong)
    # The filters are unfolded on a phone, so the message is seen.
    assert re.search(r'<details class="phone-fold" open>', page)


def test_the_case_list_ignores_only_the_wrong_date(client, db, reference):
    make_case(db.session)
    page = client.get("/cases?since=2000-01-01&until=2026-02-30").get_data(as_text=True)
    assert "共 1 件" in page
    assert "field-error" in page


def test_calendar_edges_stay_safe(client, db, reference):
    for path in ("/cases", "/notices", "/cases.csv"):
        response = client.get(path, query_string={"since": "0001-01-01", "until": "9999-12-31"})
        assert response.status_code == 200, path


def test_a_list_without_filters_is_folded_and_silent(client, db, reference):
    page = client.get("/cases").get_data(as_text=True)
    assert '<details class="phone-fold">' in page and "field-error" not in page
    # A search alone leaves them folded: its box is outside them, in sight.
    searched = client.get("/cases?q=路灯").get_data(as_text=True)
    assert '<details class="phone-fold">' in searched
    assert '<details class="phone-fold" open>' in client.get("/cases?state=resolved").get_data(
        as_text=True
    )


@pytest.mark.parametrize(("since", "until", "wrong", "says"), WRONG)
def test_the_notice_list_explains_a_wrong_date(client, db, reference, since, until, wrong, says):
    response = client.get("/notices", query_string={"since": since, "until": until})
    assert response.status_code == 200
    assert says in message_of(response.get_data(as_text=True), wrong)


def test_the_notice_list_filters_by_publication_day(client, db, reference):
    author = make_user(db.session, role="admin")
    make_notice(
        db.session,
        author,
        title="十月的公告",
        publish_at=datetime(2026, 10, 10, 2, tzinfo=UTC),
        now=datetime(2026, 10, 9, tzinfo=UTC),
    )
    inside = client.get("/notices?since=2026-10-10&until=2026-10-10").get_data(as_text=True)
    outside = client.get("/notices?since=2026-10-11").get_data(as_text=True)
    assert "十月的公告" in inside and "十月的公告" not in outside


@pytest.mark.parametrize(("since", "until", "wrong", "says"), WRONG)
def test_the_audit_log_explains_a_wrong_date(client, db, login_as, since, until, wrong, says):
    login_as("admin")
    response = client.get("/admin/audit", query_string={"since": since, "until": until})
    assert response.status_code == 200
    assert says in message_of(response.get_data(as_text=True), f"a-{wrong}")


@pytest.mark.parametrize(("since", "until", "wrong", "says"), WRONG)
def test_the_queue_explains_a_wrong_date(client, db, login_as, since, until, wrong, says):
    login_as("dispatcher")
    response = client.get("/admin/", query_string={"since": since, "until": until})
    assert response.status_code == 200
    assert says in message_of(response.get_data(as_text=True), f"f-{wrong}")


def test_the_queue_filters_by_report_day(app, client, db, login_as):
    login_as("dispatcher")
    case, _ = make_case(db.session)
    office = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    day = case.created_at.astimezone(office).date().isoformat()
    shown = client.get(f"/admin/?state=&since={day}&until={day}").get_data(as_text=True)
    hidden = client.get("/admin/?state=&since=2000-01-01&until=2000-01-02").get_data(as_text=True)
    assert case.number in shown and case.number not in hidden


def test_the_back_office_kpi_explains_a_wrong_month(client, db, login_as):
    login_as("dispatcher")
    response = client.get("/admin/kpi?month=2026-13")
    assert response.status_code == 422
    assert "2026-13" in message_of(response.get_data(as_text=True), "kpi-month")

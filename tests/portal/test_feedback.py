"""The private page asks "fixed / not fixed" as soon as a case is 已处置, and for a rating in
each cycle."""

from __future__ import annotations

import pytest

from portal.models import utcnow
from tests.factories import make_case


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


def _resolved(db):
    case, token = make_case(db.session)
    case.state, case.resolved_at = "resolved", utcnow()
    db.session.commit()
    return case, token


def test_a_resolved_case_asks_fixed_or_not_fixed(client, db, reference):
    case, token = _resolved(db)
    page = client.get(f"/track/{token}").get_data(as_text=True)
    assert "问题解决了吗？" in page
    assert f"/track/{token}/rate" in page and f"/track/{token}/reopen" in page
    public = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert "问题解决了吗？" not in public  # only with the private link


def test_not_fixed_at_resolved_sends_the_case_back_with_the_reason(client, db, reference):
    case, token = _resolved(db)
    empty = client.post(f"/track/{token}/reopen", data={"reason": "  "})
    assert empty.status_code == 422 and "请说明" in empty.get_data(as_text=True)
    db.session.refresh(case)
    assert case.state == "resolved"
    response = client.post(f"/track/{token}/reopen", data={"reason": "井盖还是松的"})
    assert response.status_code == 303
    db.session.refresh(case)
    assert case.state in ("accepted", "dispatched") and case.cycle == 2
    page = client.get(f"/track/{token}").get_data(as_text=True)
    assert "井盖还是松的" in page and "问题解决了吗？" not in page


def test_a_refused_reopening_keeps_the_reason(client, db, reference):
    case, token = _resolved(db)
    page = client.get(f"/track/{token}")  # the resident opened the page …
    case.reopen_count = 1  # … and meanwhile the case was already sent back once
    db.session.commit()
    refused = client.post(f"/track/{token}/reopen", data={"reason": "还是坏的，晚上很危险"})
    assert page.status_code == 200 and refused.status_code == 409
    body = refused.get_data(as_text=True)
    assert "还是坏的，晚上很危险" in body and "flash" in body
    db.session.refresh(case)
    assert case.state == "resolved"


def test_fixed_at_resolved_rates_without_closing(client, db, reference):
    case, token = _resolved(db)
    response = client.post(f"/track/{token}/rate", data={"rating": "satisfied", "comment": "好"})
    assert response.status_code == 303
    db.session.refresh(case)
    assert case.state == "resolved" and case.rating == "satisfied"  # staff still verify
    page = client.get(f"/track/{token}").get_data(as_text=True)
    assert "您的评价：<strong>满意</strong>" in page  # one full-width colon, no stray space
    assert f"/track/{token}/rate" not in page  # this cycle is rated


def test_a_reworked_case_asks_for_a_rating_again(client, db, reference):
    case, token = _resolved(db)
    client.post(f"/track/{token}/rate", data={"rating": "satisfied"})
    client.post(f"/track/{token}/reopen", data={"reason": "又坏了"})
    db.session.refresh(case)
    case.state, case.resolved_at, case.closed_at = "closed", utcnow(), utcnow()
    db.session.commit()
    page = client.get(f"/track/{token}").get_data(as_text=True)
    assert f"/track/{token}/rate" in page
    assert (
        client.post(f"/track/{token}/rate", data={"rating": "basically_satisfied"}).status_code
        == 303
    )
    db.session.refresh(case)
    assert [(r.cycle, r.rating) for r in case.ratings] == [
        (1, "satisfied"),
        (2, "basically_satisfied"),
    ]

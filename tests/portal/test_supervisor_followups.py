"""The supervisor's follow-up checks (回头看) on the phone, the office's draw and review, and
the rebound rate on both KPI pages."""

import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.models import Department, FollowUp, utcnow
from tests.factories import jpeg_bytes, make_case, make_user

# The portal's month is Shanghai's: on a month's last day after 16:00 UTC it is already the next.
MONTH = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


@pytest.fixture
def closed(db, reference):
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    case, _ = make_case(db.session, category_code="0101")
    case.department, case.state, case.closed_at = road, "closed", utcnow() - timedelta(days=40)
    db.session.commit()
    return case


def fix(case, typed: bool = False) -> dict:
    if typed:
        return {"lat": f"{case.lat:.6f}", "lng": f"{case.lng:.6f}", "position_source": "typed"}
    return {
        "lat": f"{case.lat:.6f}",
        "lng": f"{case.lng:.6f}",
        "accuracy": "10",
        "fix_time": str(int(utcnow().timestamp() * 1000)),
        "position_source": "device",
    }


def test_the_office_draws_and_the_supervisor_answers_on_site(client, db, auth, closed):
    dispatcher = make_user(db.session, "dispatcher")
    supervisor = make_user(db.session, "supervisor")
    auth.login(dispatcher)
    page = client.get("/admin/followups")
    assert page.status_code == 200 and "回头看" in page.get_data(as_text=True)
    for bad in (
        {"month": "2026-13", "share": "0.1"},
        {"month": MONTH, "share": "7"},
        {"month": MONTH, "share": "0.1", "seed": "99999999999"},
    ):
        assert client.post("/admin/followups", data=bad).status_code == 422
    drawn = client.post("/admin/followups", data={"month": MONTH, "share": "0.5", "seed": "3"})
    assert drawn.status_code == 303
    item = db.session.scalar(select(FollowUp))
    assert item.case_id == closed.id and item.supervisor_id == supervisor.id

    auth.login(supervisor)
    home = client.get("/supervisor/").get_data(as_text=True)
    assert f"/supervisor/followups/{item.id}" in home
    url = f"/supervisor/followups/{item.id}"
    form = client.get(url).get_data(as_text=True)
    assert "提交核查结果" in form and "补充信息" not in form  # not the resident's answer button
    no_photo = client.post(url, data={"verdict": "rebounded", "body": "又坏了", **fix(closed)})
    assert no_photo.status_code == 422 and "照片" in no_photo.get_data(as_text=True)
    sent = client.post(
        url,
        data={
            "verdict": "rebounded",
            "body": "井盖又松了",
            **fix(closed),
            "photo": (io.BytesIO(jpeg_bytes()), "a.jpg"),
        },
    )
    assert sent.status_code == 303
    db.session.expire_all()
    assert db.session.get(FollowUp, item.id).verdict == "rebounded"
    assert closed.state == "dispatched"
    again = client.post(
        url,
        data={
            "verdict": "still_fixed",
            **fix(closed),
            "photo": (io.BytesIO(jpeg_bytes()), "a.jpg"),
        },
    )
    assert again.status_code == 422

    other = make_user(db.session, "supervisor")
    auth.login(other)
    assert client.get(url).status_code == 404
    assert client.get("/supervisor/followups/99999999999999999999").status_code == 404

    for path in ("/kpi", "/admin/kpi"):
        auth.login(dispatcher)
        text = client.get(path).get_data(as_text=True)
        assert "反弹率" in text and "100%" in text


def test_a_typed_answer_waits_for_the_dispatchers_review(client, db, auth, closed):
    from portal.services import followups

    dispatcher = make_user(db.session, "dispatcher")
    supervisor = make_user(db.session, "supervisor")
    followups.draw(db.session, MONTH, 1.0, 3, None, utcnow())
    db.session.commit()
    item = db.session.scalar(select(FollowUp))
    auth.login(supervisor)
    client.post(
        f"/supervisor/followups/{item.id}",
        data={
            "verdict": "rebounded",
            "body": "又坏了",
            **fix(closed, typed=True),
            "photo": (io.BytesIO(jpeg_bytes()), "a.jpg"),
        },
    )
    db.session.expire_all()
    assert closed.state == "closed"
    assert (
        client.post(f"/admin/followups/{item.id}/confirm", data={"reason": "x"}).status_code == 403
    )
    auth.login(dispatcher)
    assert "又坏了" in client.get("/admin/followups").get_data(as_text=True)
    assert (
        client.post(f"/admin/followups/{item.id}/confirm", data={"reason": ""}).status_code == 303
    )
    db.session.expire_all()
    assert closed.state == "closed"  # no reason, nothing done
    assert (
        client.post(f"/admin/followups/{item.id}/confirm", data={"reason": "核实"}).status_code
        == 303
    )
    db.session.expire_all()
    assert closed.state == "dispatched"
    assert client.post("/admin/followups/12345/reject", data={"reason": "x"}).status_code == 404

"""Reports from blocked senders: accepted silently (the normal confirmation and number), but
held off every public surface, out of the work queues and the mail until staff review them."""

import pytest
from sqlalchemy import func, select

from portal.models import (
    BlockedSender,
    Case,
    ConsultationComment,
    OutboxMessage,
    Suggestion,
    utcnow,
)
from portal.services import blocklist
from tests.factories import category, make_case, make_consultation, make_notice, make_user

BOX = "120.14,30.26,120.17,30.29"


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


def block(db, kind: str, value: str) -> BlockedSender:
    staff = make_user(db.session, role="dispatcher")
    entry = blocklist.add(db.session, staff, kind, value, "反复提交广告", utcnow())
    db.session.commit()
    return entry


def submit(client, db, **fields) -> str:
    data = {
        "category": category(db.session).code,
        "lat": "30.274100",
        "lng": "120.155100",
        "description": "人行道上的井盖松动了，踩上去会翻。",
        **fields,
    }
    # Go past the cases nearby, as a resident does who has seen them on the page.
    near = {k: data[k] for k in ("lat", "lng", "category")}
    data["nearby_declined"] = client.get("/api/v1/cases/nearby", query_string=near).json["offer"]
    response = client.post("/report/new", data=data)
    assert response.status_code == 303
    done = client.get(response.headers["Location"])
    assert done.status_code == 200
    return done.get_data(as_text=True)


def public_pages(client, code: str) -> dict[str, str]:
    """Every public surface a case could show on, as text."""
    pages = {
        "list": client.get("/cases"),
        "home": client.get("/"),
        "map": client.get(f"/api/v1/cases.geojson?bbox={BOX}"),
        "nearby": client.get(f"/api/v1/cases/nearby?lat=30.2741&lng=120.1551&category={code}"),
        "csv": client.get("/cases.csv"),
        "open311": client.get("/open311/v2/requests.json"),
        "open311 xml": client.get("/open311/v2/requests.xml"),
    }
    return {name: page.get_data(as_text=True) for name, page in pages.items()}


@pytest.mark.parametrize(
    ("kind", "value", "fields"),
    [
        ("email", "SPAM@example.cn", {"email": "spam@example.cn"}),
        ("phone", "+86 13800001111", {"phone": "13800001111"}),
        ("ip", "127.0.0.1", {}),  # the test client's address
    ],
)
def test_a_blocked_senders_report_is_confirmed_but_held_everywhere(
    client, db, reference, kind, value, fields
):
    shown, _token = make_case(db.session)
    before = client.get("/api/v1/kpi").get_json()
    entry = block(db, kind, value)
    done = submit(client, db, **fields)
    case = db.session.scalar(select(Case).where(Case.held.is_(True)))
    assert case.blocked_sender_id == entry.id  # the block list counts it against its entry
    assert case.number in done  # the sender sees the usual confirmation with a number
    assert case.respond_due_at is None
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0

    assert client.get(f"/cases/{case.number}").status_code == 404
    assert client.get(f"/open311/v2/requests/{case.number}.json").status_code == 404
    pages = public_pages(client, case.category.code)
    for name, page in pages.items():
        assert case.number not in page, name
    for name in ("map", "nearby", "list", "csv", "open311"):
        assert shown.number in pages[name], name  # the pages do list the visible case
    assert client.get("/api/v1/kpi").get_json() == before  # the KPIs do not count it

    link = done.split("/track/", 1)[1].split('"', 1)[0]
    assert client.get(f"/track/{link}").status_code == 200  # the sender still follows it


def test_a_report_from_a_sender_not_listed_is_not_held(client, db, reference):
    block(db, "email", "spam@example.cn")
    submit(client, db, email="neighbour@example.cn", phone="13900000000")
    assert db.session.scalar(select(Case)).held is False


def test_held_cases_stay_out_of_the_work_queues_and_exports(client, db, login_as):
    block(db, "email", "spam@example.cn")
    held, _ = make_case(db.session, email="spam@example.cn", held=True)
    login_as("dispatcher")
    for path in ("/admin/?state=", "/admin/export/cases.csv", "/admin/export/cases.geojson"):
        assert held.number not in client.get(path).get_data(as_text=True), path
    assert held.number in client.get("/admin/review").get_data(as_text=True)
    page = client.get(f"/admin/cases/{held.number}").get_data(as_text=True)
    assert "等待审核" in page and "action-form" not in page  # no action but review


def test_blocked_suggestions_and_comments_are_received_and_held(client, db, reference):
    entry = block(db, "email", "spam@example.cn")
    sent = client.post(
        "/suggestions/new",
        data={"title": "广告推广", "body": "优惠活动请联系。", "email": "spam@example.cn"},
    )
    assert sent.status_code == 303
    assert client.get(sent.headers["Location"]).status_code == 200
    staff = make_user(db.session, role="dispatcher")
    consultation = make_consultation(db.session, staff)
    commented = client.post(
        f"/consultations/{consultation.id}/comments",
        data={"body": "优惠活动请联系。", "email": "spam@example.cn"},
    )
    assert commented.status_code == 303
    assert db.session.scalar(select(Suggestion)).blocked_sender_id == entry.id
    assert db.session.scalar(select(ConsultationComment)).blocked_sender_id == entry.id
    assert db.session.scalar(select(Suggestion)).held
    assert db.session.scalar(select(ConsultationComment)).held


def test_a_notice_never_lists_a_held_case(client, db, reference):
    shown, _ = make_case(db.session)
    held, _ = make_case(db.session, position=(30.28, 120.16), held=True)
    author = make_user(db.session, role="dispatcher")
    notice = make_notice(
        db.session, author, case_numbers=(shown.number, held.number), publish_at=utcnow()
    )
    page = client.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert shown.number in page and held.number not in page

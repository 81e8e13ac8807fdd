"""Privacy on the site: contacts seen only by the staff working the case; a resident erases
theirs from the private page or, on every report, through a link mailed to them."""

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from portal.models import Case, Department, OutboxMessage, utcnow
from tests.factories import make_case

NAME, PHONE, EMAIL = "王秘密", "13712345678", "wang.secret@example.cn"


def csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


def without_token(page: bytes) -> bytes:
    """The page with its CSRF tokens masked: they carry a timestamp that ticks each second."""
    return re.sub(
        rb'(csrf-token" content=|name="csrf_token" (?:type="hidden" )?value=)"[^"]+"',
        rb'\1"-"',
        page,
    )


def department(db, code: str) -> Department:
    return db.session.scalar(select(Department).where(Department.code == code))


@pytest.fixture
def routed(db, reference):
    case, token = make_case(db.session, name=NAME, phone=PHONE, email=EMAIL)
    case.department, case.state = department(db, "ROAD"), "dispatched"
    db.session.commit()
    return case, token


def shows_contact(page: str) -> bool:
    return any(private in page for private in (NAME, PHONE, EMAIL))


@pytest.mark.parametrize(
    ("role", "dept", "sees"),
    [
        ("dispatcher", None, True),
        ("admin", None, True),
        ("handler", "ROAD", True),
        ("handler", "LIGHT", False),
        ("supervisor", None, False),
    ],
)
def test_contacts_on_the_back_office_case_page(client, db, login_as, routed, role, dept, sees):
    case, _ = routed
    login_as(role, department=department(db, dept) if dept else None)
    answer = client.get(f"/admin/cases/{case.number}")
    assert answer.status_code == (200 if sees else 403)
    assert shows_contact(answer.get_data(as_text=True)) is sees


@pytest.mark.parametrize(("role", "dept"), [("handler", "ROAD"), ("handler", "LIGHT")])
def test_handlers_exports_never_carry_contacts(client, db, login_as, routed, role, dept):
    login_as(role, department=department(db, dept))
    for path in ("/admin/export/cases.csv", "/admin/export/cases.geojson"):
        assert not shows_contact(client.get(path).get_data(as_text=True)), path
    sheet = load_workbook(io.BytesIO(client.get("/admin/export/cases.xlsx").get_data())).active
    assert not shows_contact(
        " ".join(str(c) for row in sheet.iter_rows(values_only=True) for c in row)
    )


def test_triage_exports_carry_them(client, db, login_as, routed):
    login_as("dispatcher")
    assert shows_contact(client.get("/admin/export/cases.csv?state=").get_data(as_text=True))


def test_public_pages_and_apis_never_show_contacts(client, db, routed):
    case, token = routed
    for path in (
        f"/cases/{case.number}",
        f"/track/{token}",
        "/cases",
        "/cases.csv",
        "/api/v1/cases.geojson?bbox=120,30,121,31",
        f"/api/v1/cases/nearby?lat=30.2741&lng=120.1551&category={case.category.code}",
        "/open311/v2/requests.json",
        f"/open311/v2/requests/{case.number}.json",
        f"/open311/v2/requests/{case.number}.xml",
    ):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert not shows_contact(answer.get_data(as_text=True)), path


def test_a_supervisor_never_opens_a_residents_case(client, db, login_as, routed):
    case, _ = routed
    login_as("supervisor")
    answer = client.get(f"/supervisor/cases/{case.number}")
    assert answer.status_code == 404 and not shows_contact(answer.get_data(as_text=True))


def test_the_reporter_erases_their_contact_from_the_private_page(client, db, routed):
    case, token = routed
    page = client.get(f"/track/{token}").get_data(as_text=True)
    assert "删除我的联系方式" in page
    assert client.post(f"/track/{token}/erase").status_code == 400  # no CSRF token
    db.session.expire_all()
    assert db.session.get(Case, case.id).reporter_email == EMAIL
    erased = client.post(
        f"/track/{token}/erase", data={"csrf_token": csrf(client, f"/track/{token}")}
    )
    assert erased.status_code == 303
    assert "已从本案件中删除" in client.get(erased.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (case.reporter_name, case.reporter_phone, case.reporter_email) == ("", "", "")
    assert client.get(f"/cases/{case.number}").status_code == 200  # the case stays


def test_the_same_answer_whether_or_not_the_address_is_known(client, db, routed):
    token = csrf(client, "/privacy")
    known = client.post("/privacy", data={"csrf_token": token, "email": EMAIL.upper()})
    unknown = client.post("/privacy", data={"csrf_token": token, "email": "x@example.cn"})
    assert known.status_code == unknown.status_code == 200
    assert without_token(known.get_data()) == without_token(unknown.get_data())
    mails = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "privacy.erase"))
    assert [m.recipient for m in mails] == [EMAIL]
    assert client.post("/privacy", data={"email": EMAIL}).status_code == 400  # CSRF


def test_the_mailed_link_asks_then_erases_everything_with_that_address(client, db, routed):
    case, _ = routed
    other, _ = make_case(db.session, position=(30.28, 120.16), email=EMAIL, name="王")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.post("/privacy", data={"csrf_token": csrf(client, "/privacy"), "email": EMAIL})
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "privacy.erase"))
    assert "Erase your contact details" in mail.subject
    site = re.escape(client.application.config["PUBLIC_URL"])  # links name the site
    link = re.search(site + r"(/privacy/erase/\S+)", mail.body).group(1)

    asked = client.get(link)  # opening the link (a mail scanner may) erases nothing
    assert asked.status_code == 200 and "Erase my contact details" in asked.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Case, case.id).reporter_email == EMAIL
    done = client.post(link, data={"csrf_token": csrf(client, link)})
    assert done.status_code == 200 and "were erased" in done.get_data(as_text=True)
    db.session.expire_all()
    for number in (case.id, other.id):
        erased = db.session.get(Case, number)
        assert (erased.reporter_name, erased.reporter_email, erased.reporter_phone) == ("", "", "")
    assert client.get(link[:-3] + "abc").status_code == 410  # a changed link is refused
    assert utcnow()

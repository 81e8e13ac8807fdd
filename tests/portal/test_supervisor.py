"""The supervisors' area: applying, the month's sites, filing a report, verifying a fix."""

import io
import re

import pytest
from sqlalchemy import select

from portal.models import CHECKLIST, Case, Inspection, Project, SupervisorApplication, utcnow
from portal.services import spotchecks
from tests.factories import jpeg_bytes

SITE = (30.2741, 120.1551)


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


@pytest.fixture
def site(db, reference):
    project = Project(
        code="GS-2026-07",
        name="小河路管网改造",
        lat=SITE[0],
        lng=SITE[1],
        geometry={"type": "Point", "coordinates": [SITE[1], SITE[0]]},
        phase="construction",
        active_site=True,
    )
    db.session.add(project)
    db.session.commit()
    return project


def test_a_resident_applies(client, db, reference):
    data = {
        "name": "陈晓",
        "phone": "13800001111",
        "email": "chen@example.cn",
        "zone": "GS-HS",
        "motivation": "关心工地安全",
    }
    assert client.post("/supervisor/apply", data=data).status_code == 422  # no agreement
    assert client.post("/supervisor/apply", data={**data, "agree": "y"}).status_code == 303
    application = db.session.scalar(select(SupervisorApplication))
    assert application.zone.code == "GS-HS" and application.status == "pending"
    assert application.agreed_at is not None  # when they agreed to the code of conduct
    again = client.post("/supervisor/apply", data={**data, "agree": "y"})
    assert again.status_code == 422


def report_form(client, code: str, fail: str | None = None, **extra) -> dict:
    page = client.get(f"/supervisor/inspect/{code}").get_data(as_text=True)
    key = re.search(r'name="client_key" type="hidden" value="([0-9a-f]+)"', page).group(1)
    data = {"client_key": key, "lat": str(SITE[0]), "lng": str(SITE[1])}
    for item in CHECKLIST:
        data[f"item-{item}"] = "fail" if item == fail else "pass"
    data.update(extra)
    return data


def test_a_supervisor_files_a_report_with_a_failure(client, db, login_as, site):
    supervisor = login_as("supervisor")
    spotchecks.assign(db.session, utcnow().strftime("%Y-%m"), 1, seed=1, actor=None, now=utcnow())
    db.session.commit()
    home = client.get("/supervisor/").get_data(as_text=True)
    assert "小河路管网改造" in home
    data = report_form(client, site.code, fail="dust", **{"note-dust": "裸土未覆盖"})
    no_photo = client.post(f"/supervisor/inspect/{site.code}", data={**data, "action": "submit"})
    assert no_photo.status_code == 422
    draft = db.session.scalar(select(Inspection))
    assert draft.status == "draft" and draft.items["dust"]["note"] == "裸土未覆盖"
    data["photo-dust"] = (io.BytesIO(jpeg_bytes()), "dust.jpg")
    done = client.post(
        f"/supervisor/inspect/{site.code}",
        data={**data, "action": "submit"},
        content_type="multipart/form-data",
    )
    assert done.status_code == 303
    db.session.refresh(draft)
    assert draft.status == "submitted" and draft.assignment_id is not None
    [case] = db.session.scalars(select(Case)).all()
    assert case.source == "inspection" and case.reporter_email == supervisor.email
    # The same form sent again makes nothing new.
    data.pop("photo-dust")
    again = client.post(f"/supervisor/inspect/{site.code}", data={**data, "action": "submit"})
    assert again.status_code == 303
    assert len(db.session.scalars(select(Case)).all()) == 1
    assert case.number in client.get("/supervisor/").get_data(as_text=True)


def test_background_draft_saves_answer_204(client, db, login_as, site):
    login_as("supervisor")
    data = report_form(client, site.code)
    answer = client.post(
        f"/supervisor/inspect/{site.code}",
        data={**data, "action": "save"},
        headers={"X-Requested-With": "fetch"},
    )
    assert answer.status_code == 204
    assert db.session.scalar(select(Inspection.status)) == "draft"


def test_the_same_report_submitted_twice_at_once(app, client, db, login_as, site):
    import threading

    from portal.services import inspections
    from portal.services.photos import PhotoStore
    from tests.factories import jpeg_photo

    supervisor = login_as("supervisor")
    data = report_form(client, site.code, fail="dust", **{"note-dust": "裸土未覆盖"})
    client.post(f"/supervisor/inspect/{site.code}", data={**data, "action": "save"})
    draft = db.session.scalar(select(Inspection))
    store = PhotoStore(app.config["UPLOAD_DIR"])
    inspections.add_photo(db.session, draft, "dust", jpeg_photo(), store, utcnow())
    db.session.commit()
    url, user_id = f"/supervisor/inspect/{site.code}", supervisor.get_id()
    start, answers = threading.Barrier(2), []

    def submit():
        other = app.test_client()
        with other.session_transaction() as session:
            session["_user_id"] = user_id
        start.wait()
        answers.append(other.post(url, data={**data, "action": "submit"}))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(a.status_code for a in answers) == [303, 303]  # no error page
    assert len({a.headers["Location"] for a in answers}) == 1
    assert len(db.session.scalars(select(Case)).all()) == 1


def test_reopening_the_form_resumes_the_draft(client, db, login_as, site):
    login_as("supervisor")
    data = report_form(client, site.code)
    partial = {
        "client_key": data["client_key"],
        "lat": data["lat"],
        "lng": data["lng"],
        "item-dust": "fail",
        "note-dust": "裸土未覆盖",
        "action": "save",
    }
    saved = client.post(
        f"/supervisor/inspect/{site.code}", data=partial, headers={"X-Requested-With": "fetch"}
    )
    assert saved.status_code == 204
    draft = db.session.scalar(select(Inspection))
    assert draft.saved_at is not None
    # Reopened from the site list or from the draft's "Inspect" link: the same report, filled in.
    report_page = client.get(f"/supervisor/inspections/{draft.id}").get_data(as_text=True)
    link = f"/supervisor/inspect/{site.code}?report={draft.id}"
    assert f'href="{link}"' in report_page
    assert f'value="{data["client_key"]}"' in client.get(link).get_data(as_text=True)
    page = client.get(f"/supervisor/inspect/{site.code}").get_data(as_text=True)
    assert f'value="{data["client_key"]}"' in page
    assert re.search(r'name="item-dust" value="fail" checked', page)
    assert "裸土未覆盖</textarea>" in page and f'value="{SITE[0]:.6f}"' in page
    assert f'data-server-saved="{int(draft.saved_at.timestamp() * 1000)}"' in page
    assert len(db.session.scalars(select(Inspection)).all()) == 1
    # Another supervisor starts their own report of the same site.
    login_as("supervisor")
    assert data["client_key"] not in client.get(f"/supervisor/inspect/{site.code}").get_data(
        as_text=True
    )


def test_projects_and_contractors_are_public(client, db, site):
    page = client.get(f"/projects/{site.code}").get_data(as_text=True)
    assert "小河路管网改造" in page and "施工" in page
    assert client.get("/projects/NOPE").status_code == 404
    assert "红榜" in client.get("/contractors").get_data(as_text=True)

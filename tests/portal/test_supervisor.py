"""The supervisors' area: applying, the month's sites, filing a report, verifying a fix."""

import io
import re

import pytest
from sqlalchemy import func, select

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


def device_fix(lat: float = SITE[0], lng: float = SITE[1], accuracy: str = "12") -> dict:
    """Return the position fields as the page's script fills them from the Geolocation API."""
    return {
        "lat": f"{lat:.6f}",
        "lng": f"{lng:.6f}",
        "accuracy": accuracy,
        "fix_time": str(int(utcnow().timestamp() * 1000)),
        "position_source": "device",
    }


def report_form(client, code: str, fail: str | None = None, **extra) -> dict:
    page = client.get(f"/supervisor/inspect/{code}").get_data(as_text=True)
    key = re.search(r'name="client_key" type="hidden" value="([0-9a-f]+)"', page).group(1)
    data = {"client_key": key, **device_fix()}
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
    client.get("/lang/en")
    done = client.post(
        f"/supervisor/inspect/{site.code}",
        data={**data, "action": "submit"},
        content_type="multipart/form-data",
    )
    assert done.status_code == 303
    assert "Report submitted: 1 finding sent to the office." in client.get(done.location).get_data(
        as_text=True
    )
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
    assert not draft.position_typed
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


def test_a_forged_post_with_typed_site_coordinates_is_held_for_staff(client, db, login_as, site):
    from portal.services import contractors

    supervisor = login_as("supervisor")
    data = report_form(client, site.code, fail="dust")
    # What the tester sent from 11 km away: the site's own coordinates, no location permission,
    # and a page that claims they came from the phone.
    forged = {**data, "accuracy": "", "fix_time": "", "position_source": "device"}
    forged["photo-dust"] = (io.BytesIO(jpeg_bytes()), "dust.jpg")
    done = client.post(
        f"/supervisor/inspect/{site.code}",
        data={**forged, "action": "submit"},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    page = done.get_data(as_text=True)
    report = db.session.scalar(select(Inspection))
    assert report.status == "submitted" and report.position_typed and report.flagged
    assert report.review_reasons == ["typed"]
    assert "待工作人员核实</strong>（原因：位置为手动输入，并非手机定位）" in page
    assert "手动输入的位置，距工地 0 米（非手机定位）" in page and "· 距工地 0 米" not in page
    assert db.session.scalars(select(Case)).all() == [] and supervisor.points == 0
    assert contractors.propose(db.session, utcnow()) == []
    assert "待工作人员核实" in client.get("/supervisor/").get_data(as_text=True)


def test_an_imprecise_phone_position_is_held(client, db, login_as, site):
    login_as("supervisor")
    data = {**report_form(client, site.code), **device_fix(accuracy="2500")}
    data["photo-tidy"] = (io.BytesIO(jpeg_bytes()), "site.jpg")
    client.post(
        f"/supervisor/inspect/{site.code}",
        data={**data, "action": "submit"},
        content_type="multipart/form-data",
    )
    report = db.session.scalar(select(Inspection))
    assert report.review_reasons == ["accuracy"] and not report.position_typed


def test_a_pass_from_the_phone_on_site_with_a_photo_counts(client, db, login_as, site):
    login_as("supervisor")
    data = {**report_form(client, site.code), **device_fix(SITE[0] + 0.001, SITE[1])}
    data["photo-tidy"] = (io.BytesIO(jpeg_bytes()), "site.jpg")
    done = client.post(
        f"/supervisor/inspect/{site.code}",
        data={**data, "action": "submit"},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    page = done.get_data(as_text=True)
    report = db.session.scalar(select(Inspection))
    assert report.verdict == "pass" and not report.flagged and report.accuracy_m == 12
    assert "合格" in page and re.search(r"· 距工地 11\d 米", page) and "待工作人员核实" not in page
    assert "报告已提交：未发现问题。" in page  # not "0 个问题已报送"


def test_a_pass_without_a_photo_is_refused_and_keeps_the_form(client, db, login_as, site):
    login_as("supervisor")
    data = report_form(client, site.code, **{"note-tidy": "现场整洁"})
    refused = client.post(f"/supervisor/inspect/{site.code}", data={**data, "action": "submit"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "合格也需要至少一张现场照片" in page
    assert db.session.scalar(select(Inspection.status)) == "draft"
    assert re.search(r'name="item-tidy" value="pass" checked', page)
    assert "现场整洁</textarea>" in page and f'value="{data["lat"]}"' in page
    assert f'value="{data["fix_time"]}"' in page and 'value="device"' in page
    # A photo sent with a refused report is kept with the draft, and named on the page.
    with_photo = {**data, "item-dust": "", "photo-tidy": (io.BytesIO(jpeg_bytes()), "a.jpg")}
    again = client.post(
        f"/supervisor/inspect/{site.code}",
        data={**with_photo, "action": "submit"},
        content_type="multipart/form-data",
    )
    assert again.status_code == 422 and "已保存 1 张照片" in again.get_data(as_text=True)
    data.pop("photo-tidy", None)
    done = client.post(f"/supervisor/inspect/{site.code}", data={**data, "action": "submit"})
    assert done.status_code == 303
    assert db.session.scalar(select(Inspection.verdict)) == "pass"


def test_a_submit_with_items_unanswered_marks_those_items(client, db, login_as, site):
    login_as("supervisor")
    data = report_form(client, site.code)
    for item in ("dust", "muck"):
        data.pop(f"item-{item}")
    refused = client.post(f"/supervisor/inspect/{site.code}", data={**data, "action": "submit"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "提交前请完成所有检查项。" in page
    marked = re.findall(
        r'<p class="field-error" id="item-(\w+)-error">请为此项选择一个结果。</p>', page
    )
    assert marked == ["dust", "muck"]
    assert page.count('aria-invalid="true"') == 2
    # Saving a draft with items left open is not a refusal: nothing is marked.
    saved = client.post(f"/supervisor/inspect/{site.code}", data={**data, "action": "save"})
    assert "field-error" not in client.get(
        saved.location or f"/supervisor/inspect/{site.code}"
    ).get_data(as_text=True)


def test_a_photo_with_exif_from_11_km_away_holds_the_report(client, db, login_as, site):
    from tests.factories import exif_jpeg_bytes

    login_as("supervisor")
    data = report_form(client, site.code)
    data["photo-tidy"] = (io.BytesIO(exif_jpeg_bytes(gps=(SITE[0] + 0.1, SITE[1]))), "a.jpg")
    done = client.post(
        f"/supervisor/inspect/{site.code}",
        data={**data, "action": "submit"},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    report = db.session.scalar(select(Inspection))
    assert report.review_reasons == ["photo_far"]
    assert "照片自带的定位不在现场范围内" in done.get_data(as_text=True)


def resolved_finding(app, db, supervisor, site) -> Case:
    from portal.services import inspections, workflow
    from portal.services.photos import PhotoStore
    from tests.factories import jpeg_photo, make_user, on_site

    store = PhotoStore(app.config["UPLOAD_DIR"])
    report = inspections.draft(db.session, supervisor, site, "resolved", utcnow())
    answers = {i: {"result": "fail" if i == "muck" else "pass", "note": ""} for i in CHECKLIST}
    inspections.save(report, answers, on_site(*SITE))
    inspections.add_photo(db.session, report, "muck", jpeg_photo(), store, utcnow())
    [case] = inspections.submit(db.session, report, utcnow())
    dispatcher = make_user(db.session, "dispatcher")
    workflow.accept(db.session, case, dispatcher, "normal", utcnow())
    workflow.route(db.session, case, dispatcher, case.suggested_department, utcnow())
    handler = make_user(db.session, "handler", department=case.department)
    workflow.resolve(db.session, case, handler, "渣土已清运", [], store, utcnow())
    db.session.commit()
    return case


def test_a_check_on_site_follows_the_same_rules(app, client, db, login_as, site):
    from portal.models import SiteCheck

    supervisor = login_as("supervisor")
    case = resolved_finding(app, db, supervisor, site)
    url = f"/supervisor/cases/{case.number}"
    page = client.get(url).get_data(as_text=True)
    assert 'name="position_source"' in page and 'name="photo"' in page
    base = {"version": str(case.version_id), "body": "已清运", "action": "close"}
    no_photo = client.post(url, data={**base, **device_fix()})
    assert no_photo.status_code == 422 and "至少一张" in no_photo.get_data(as_text=True)
    assert 'value="已清运' in no_photo.get_data(as_text=True) or "已清运</textarea>" in (
        no_photo.get_data(as_text=True)
    )
    nowhere = client.post(url, data={**base, "photo": (io.BytesIO(jpeg_bytes()), "a.jpg")})
    assert nowhere.status_code == 422 and "位置缺失或无效" in nowhere.get_data(as_text=True)
    typed = {**base, "lat": f"{SITE[0]}", "lng": f"{SITE[1]}", "position_source": "device"}
    typed["photo"] = (io.BytesIO(jpeg_bytes()), "done.jpg")
    held = client.post(url, data=typed, content_type="multipart/form-data", follow_redirects=True)
    assert "待工作人员核实" in held.get_data(as_text=True)
    db.session.refresh(case)
    check = db.session.scalar(select(SiteCheck))
    assert case.state == "resolved" and check.review_reasons == ["typed"] and check.pending_review
    points = supervisor.points
    assert 'id="check-form"' not in client.get(url).get_data(as_text=True)  # one at a time
    check.rejected_at = utcnow()  # staff rejected it (tested in the back office)
    db.session.commit()
    honest = {**base, **device_fix(), "photo": (io.BytesIO(jpeg_bytes()), "done.jpg")}
    client.post(url, data=honest, content_type="multipart/form-data")
    db.session.refresh(case)
    db.session.refresh(supervisor)
    assert case.state == "closed" and supervisor.points == points + 1


@pytest.mark.parametrize("report", ["25282303045959128", "-1", "0", "x"])
def test_a_report_id_no_column_holds_opens_a_fresh_form(client, db, login_as, site, report):
    # Past 2**31 - 1 PostgreSQL's driver overflowed: a 500 found by the route fuzzing.
    login_as("supervisor")
    answer = client.get(f"/supervisor/inspect/{site.code}?report={report}")
    assert answer.status_code == 200
    assert db.session.scalar(select(func.count()).select_from(Inspection)) == 0


def test_the_apply_button_says_submit_the_application(client, reference):
    assert "提交申请" in client.get("/supervisor/apply").get_data(as_text=True)


def test_next_months_assignments_show_once_drawn(client, db, login_as, site):
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    supervisor = login_as("supervisor")
    today = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date()
    following = (today.replace(day=1) + timedelta(days=32)).strftime("%Y-%m")
    page = client.get("/supervisor/").get_data(as_text=True)
    assert f"{following}（下月）" not in page
    spotchecks.assign(db.session, following, 1, seed=1, actor=None, now=utcnow())
    db.session.commit()
    page = client.get("/supervisor/").get_data(as_text=True)
    assert f"{following}（下月）待检查的工地" in page and site.name in page
    assert supervisor.role == "supervisor"

"""Admins and dispatchers: projects, contractors, applications, the draw, reports, lists."""

import re

import pytest
from sqlalchemy import select

from portal.models import (
    CHECKLIST,
    Contractor,
    Inspection,
    ListEntry,
    Project,
    SpotCheckRound,
    SupervisorApplication,
    User,
    utcnow,
)
from portal.services import supervisors
from tests.factories import make_user


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


def test_admin_registers_a_contractor_and_a_project(client, db, login_as):
    login_as("admin")
    bad = client.post(
        "/admin/contractors", data={"name": "某建设公司", "credit_code": "91110000600037341X"}
    )
    assert bad.status_code == 422 and "统一社会信用代码无效" in bad.get_data(as_text=True)
    assert (
        client.post(
            "/admin/contractors", data={"name": "某建设公司", "credit_code": "91110000600037341L"}
        ).status_code
        == 303
    )
    firm = db.session.scalar(select(Contractor))
    line = '{"type": "LineString", "coordinates": [[120.15, 30.27], [120.16, 30.27]]}'
    data = {
        "code": "GS-2026-09",
        "name": "大关路改造",
        "geometry": line,
        "contractor": str(firm.id),
        "department": "ROAD",
        "phase": "construction",
        "active_site": "y",
        "planned_start": "2026-03-01",
    }
    assert client.post("/admin/projects/new", data=data).status_code == 303
    project = db.session.scalar(select(Project))
    assert project.geometry["type"] == "LineString" and project.lng == pytest.approx(120.155)
    assert client.post("/admin/projects/new", data=data).status_code == 422  # code taken
    edit = {**data, "geometry": "", "lat": "30.28", "lng": "120.17", "phase": "acceptance"}
    edit.pop("active_site")
    assert client.post(f"/admin/projects/{project.code}/edit", data=edit).status_code == 303
    db.session.refresh(project)
    assert project.phase == "acceptance" and not project.active_site
    assert (
        client.post(
            "/admin/projects/new", data={**data, "code": "X", "geometry": "{bad"}
        ).status_code
        == 422
    )


def test_admin_approves_and_declines_applications(client, db, login_as):
    login_as("admin")
    yes = supervisors.apply(
        db.session, "甲", "13800000001", "a@example.cn", None, "", utcnow(), agreed_at=utcnow()
    )
    no = supervisors.apply(
        db.session, "乙", "13800000002", "b@example.cn", None, "", utcnow(), agreed_at=utcnow()
    )
    db.session.commit()
    assert client.post(f"/admin/applications/{yes.id}/approve", data={}).status_code == 303
    assert (
        client.post(f"/admin/applications/{no.id}/decline", data={"reason": ""}).status_code == 303
    )
    assert (
        client.post(f"/admin/applications/{no.id}/decline", data={"reason": "名额已满"}).status_code
        == 303
    )
    statuses = dict(
        db.session.execute(select(SupervisorApplication.email, SupervisorApplication.status)).all()
    )
    assert statuses == {"a@example.cn": "approved", "b@example.cn": "declined"}
    assert db.session.scalar(select(User.role).where(User.email == "a@example.cn")) == "supervisor"


def test_dispatcher_runs_the_draw_and_confirms_an_off_site_report(client, db, login_as):
    supervisor = make_user(db.session, "supervisor")
    project = Project(
        code="S1",
        name="工地",
        lat=30.27,
        lng=120.15,
        phase="construction",
        geometry={"type": "Point", "coordinates": [120.15, 30.27]},
        active_site=True,
    )
    db.session.add(project)
    db.session.commit()
    login_as("dispatcher")
    month = utcnow().strftime("%Y-%m")
    assert (
        client.post(
            "/admin/spotchecks", data={"month": month, "per_supervisor": "2", "seed": "5"}
        ).status_code
        == 303
    )
    assert db.session.scalar(select(SpotCheckRound.seed)) == 5
    again = client.post("/admin/spotchecks", data={"month": month, "per_supervisor": "2"})
    assert again.status_code == 422
    report = Inspection(
        client_key="k",
        project=project,
        supervisor=supervisor,
        status="submitted",
        verdict="fail",
        off_site=True,
        distance_m=900,
        lat=30.28,
        lng=120.15,
        submitted_at=utcnow(),
        items={i: {"result": "fail" if i == "muck" else "pass", "note": ""} for i in CHECKLIST},
    )
    db.session.add(report)
    db.session.commit()
    page = client.get("/admin/inspections").get_data(as_text=True)
    assert "不在现场" in page
    url = f"/admin/inspections/{report.id}"
    unexplained = client.post(url, data={"decision": "confirm", "reason": " "})
    assert unexplained.status_code == 422 and "请填写理由" in unexplained.get_data(as_text=True)
    assert db.session.scalar(select(Inspection.confirmed_at)) is None
    confirmed = client.post(url, data={"decision": "confirm", "reason": "监督员电话说明"})
    assert confirmed.status_code == 303
    db.session.refresh(report)
    assert report.confirmed_at is not None and report.review_note == "监督员电话说明"
    shown = client.get(f"/admin/inspections/{report.id}").get_data(as_text=True)
    assert re.search(r"/admin/cases/\d{4}-\d{6}", shown)


def test_admin_publishes_the_black_list(client, db, login_as):
    firm = Contractor(name="问题公司", credit_code="91110000600037341L")
    db.session.add(
        ListEntry(contractor=firm, kind="black", reason="多次扬尘", proposed_at=utcnow())
    )
    db.session.commit()
    login_as("admin")
    entry = db.session.scalar(select(ListEntry))
    assert (
        client.post(
            f"/admin/lists/{entry.id}/confirm", data={"reason": "三次扬尘未整改"}
        ).status_code
        == 303
    )
    public = client.get("/contractors").get_data(as_text=True)
    assert "问题公司" in public and "三次扬尘未整改" in public
    assert client.post(f"/admin/lists/{entry.id}/dismiss", data={}).status_code == 303
    db.session.refresh(entry)
    assert entry.dismissed_at is None  # already published: nothing changes


def test_admin_confirms_only_with_a_reason_and_renews_an_entry(client, db, login_as):
    firm = Contractor(name="问题公司", credit_code="91110000600037341L")
    db.session.add(
        ListEntry(contractor=firm, kind="black", reason="重复扬尘", proposed_at=utcnow())
    )
    db.session.commit()
    login_as("admin")
    entry = db.session.scalar(select(ListEntry))
    page = client.get("/admin/lists").get_data(as_text=True)
    assert re.search(r"<textarea[^>]*required>重复扬尘</textarea>", page)  # the proposal prefills
    refused = client.post(f"/admin/lists/{entry.id}/confirm", data={"reason": " "})
    assert "请填写理由" in client.get(refused.headers["Location"]).get_data(as_text=True)
    db.session.refresh(entry)
    assert entry.confirmed_at is None
    client.post(f"/admin/lists/{entry.id}/confirm", data={"reason": "三次扬尘未整改"})
    assert client.post(f"/admin/lists/{entry.id}/renew", data={"reason": ""}).status_code == 303
    db.session.refresh(entry)
    assert entry.renewed_at is None
    client.post(f"/admin/lists/{entry.id}/renew", data={"reason": "复查仍未整改"})
    db.session.refresh(entry)
    assert entry.renewal_reason == "复查仍未整改" and entry.renewed_at is not None
    assert "复查仍未整改" in client.get("/contractors").get_data(as_text=True)


def test_admin_suspends_and_reinstates_a_supervisor(app, client, db, login_as):
    supervisor = make_user(db.session, "supervisor", name="赵监督")
    outdoors = app.test_client()
    with outdoors.session_transaction() as session:
        session["_user_id"] = supervisor.get_id()
    assert outdoors.get("/supervisor/").status_code == 200
    login_as("admin")
    assert "赵监督" in client.get("/admin/supervisors").get_data(as_text=True)
    url = f"/admin/supervisors/{supervisor.id}"
    client.post(f"{url}/suspend", data={"reason": ""})
    db.session.refresh(supervisor)
    assert supervisor.suspended_at is None  # a reason is required
    assert client.post(f"{url}/suspend", data={"reason": "冒用他人照片"}).status_code == 303
    shown = client.get("/admin/supervisors").get_data(as_text=True)
    assert "已停职" in shown and "冒用他人照片" in shown
    refused = outdoors.get("/supervisor/")
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]
    client.post(f"{url}/reinstate", data={"reason": "申诉属实，恢复资格"})
    db.session.refresh(supervisor)
    assert supervisor.suspended_at is None
    with outdoors.session_transaction() as session:
        session["_user_id"] = supervisor.get_id()
    assert outdoors.get("/supervisor/").status_code == 200


def test_coverage_per_zone_and_contractor(client, db, login_as):
    from portal.services import spotchecks

    make_user(db.session, "supervisor")
    firm = Contractor(name="覆盖测试公司", credit_code="91110000600037341L")
    db.session.add(
        Project(
            code="C1",
            name="工地",
            lat=30.2741,
            lng=120.1551,
            contractor=firm,
            geometry={"type": "Point", "coordinates": [120.1551, 30.2741]},
            phase="construction",
            active_site=True,
        )
    )
    db.session.commit()
    spotchecks.assign(db.session, "2026-12", 1, seed=1, actor=None, now=utcnow())
    db.session.commit()
    login_as("dispatcher")
    page = client.get("/admin/spotchecks").get_data(as_text=True)
    assert "覆盖测试公司" in page and "2026-12" in page


@pytest.fixture
def held_reports(app, db):
    """Two reports of one site: one typed with a photo from 11 km away, one measured on site."""
    import io

    from portal.services import evidence, inspections
    from portal.services.photos import PhotoStore, process
    from tests.factories import exif_jpeg_bytes, jpeg_photo, on_site

    supervisor = make_user(db.session, "supervisor", name="周监督")
    project = Project(
        code="S9",
        name="运河东路改造工地",
        lat=30.27,
        lng=120.15,
        phase="construction",
        geometry={"type": "Point", "coordinates": [120.15, 30.27]},
        active_site=True,
    )
    db.session.add(project)
    store, now = PhotoStore(app.config["UPLOAD_DIR"]), utcnow()
    items = {i: {"result": "fail" if i == "muck" else "pass", "note": ""} for i in CHECKLIST}
    far = process(io.BytesIO(exif_jpeg_bytes(gps=(30.37, 120.15))), max_bytes=10**7)
    held = inspections.draft(db.session, supervisor, project, "held", now)
    inspections.save(held, items, evidence.read_position("30.27", "120.15"), now)
    inspections.add_photo(db.session, held, "muck", far, store, now)
    inspections.submit(db.session, held, now)
    fine = inspections.draft(db.session, supervisor, project, "fine", now)
    inspections.save(fine, items, on_site(30.2701, 120.15, accuracy=6), now)
    inspections.add_photo(db.session, fine, "muck", jpeg_photo(), store, now)
    inspections.submit(db.session, fine, now)
    db.session.commit()
    return held, fine


def test_staff_see_the_evidence_and_filter_the_reports_waiting_for_review(
    client, db, login_as, held_reports
):
    held, fine = held_reports
    login_as("dispatcher")
    everything = client.get("/admin/inspections").get_data(as_text=True)
    pending = client.get("/admin/inspections?review=pending").get_data(as_text=True)
    assert f"/admin/inspections/{fine.id}" in everything
    assert f"/admin/inspections/{held.id}" in pending
    assert f'/admin/inspections/{fine.id}"' not in pending and "待工作人员核实" in pending
    page = client.get(f"/admin/inspections/{held.id}").get_data(as_text=True)
    assert "位置为手动输入，并非手机定位" in page and "照片自带的定位不在现场范围内" in page
    assert "手动输入（或缺少当时的手机定位精度和时间）" in page
    assert re.search(r"GPS 位置距工地 11\d{3} 米", page) and 'id="review-form"' in page
    shown = client.get(f"/admin/inspections/{fine.id}").get_data(as_text=True)
    assert "手机定位" in shown and "6 米" in shown and "无 EXIF 信息" in shown
    assert 'id="review-form"' not in shown


def test_staff_reject_a_held_report_with_a_reason(client, db, login_as, held_reports):
    from portal.models import AuditEntry, Case

    held, _ = held_reports
    dispatcher = login_as("dispatcher")
    url = f"/admin/inspections/{held.id}"
    unexplained = client.post(url, data={"decision": "reject", "reason": ""})
    assert unexplained.status_code == 422 and held.rejected_at is None
    done = client.post(url, data={"decision": "reject", "reason": "照片定位在11公里外"})
    assert done.status_code == 303
    db.session.refresh(held)
    assert held.rejected_by_id == dispatcher.id and held.review_note == "照片定位在11公里外"
    assert db.session.scalars(select(Case).where(Case.inspection_id == held.id)).all() == []
    logged = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "inspection.reject"))
    assert logged.actor_id == dispatcher.id and logged.after["reason"] == "照片定位在11公里外"
    page = client.get(url).get_data(as_text=True)
    assert "工作人员核实后不予认可" in page and 'id="review-form"' not in page


def test_photos_are_served_to_staff_without_their_exif(client, db, login_as, held_reports):
    import io

    from PIL import Image

    held, _ = held_reports
    login_as("dispatcher")
    [photo] = held.photos
    assert photo.exif_found  # what it said was read before stripping ...
    with client.get(f"/admin/inspections/photos/{photo.sha256}.jpg") as response:
        served = response.get_data()
    assert b"Exif\x00" not in served and b"GPS" not in served  # ... and none of it is served
    assert dict(Image.open(io.BytesIO(served)).getexif()) == {}


def test_staff_confirm_a_held_check_on_site(app, client, db, login_as):
    import io

    from PIL import Image

    from portal.models import SiteCheck
    from portal.services import evidence, inspections, site_checks, workflow
    from portal.services.photos import PhotoStore, process
    from tests.factories import exif_jpeg_bytes, jpeg_photo, on_site

    supervisor = make_user(db.session, "supervisor")
    project = Project(
        code="S8",
        name="工地",
        lat=30.27,
        lng=120.15,
        phase="construction",
        geometry={"type": "Point", "coordinates": [120.15, 30.27]},
        active_site=True,
    )
    db.session.add(project)
    store, now = PhotoStore(app.config["UPLOAD_DIR"]), utcnow()
    items = {i: {"result": "fail" if i == "muck" else "pass", "note": ""} for i in CHECKLIST}
    report = inspections.draft(db.session, supervisor, project, "to-check", now)
    inspections.save(report, items, on_site(30.27, 120.15), now)
    inspections.add_photo(db.session, report, "muck", jpeg_photo(), store, now)
    [case] = inspections.submit(db.session, report, now)
    dispatcher = login_as("dispatcher")
    workflow.accept(db.session, case, dispatcher, "normal", now)
    workflow.route(db.session, case, dispatcher, case.suggested_department, now)
    handler = make_user(db.session, "handler", department=case.department)
    workflow.resolve(db.session, case, handler, "已清运", [], store, now)
    with_gps = process(io.BytesIO(exif_jpeg_bytes(gps=(30.27, 120.15))), max_bytes=10**7)
    typed = evidence.read_position("30.27", "120.15")
    site_checks.record(
        db.session, case, supervisor, "close", "已清运", typed, [with_gps], store, now
    )
    db.session.commit()
    check = db.session.scalar(select(SiteCheck))
    points = supervisor.points
    listed = client.get("/admin/checks?review=pending").get_data(as_text=True)
    assert f"/admin/checks/{check.id}" in listed
    page = client.get(f"/admin/checks/{check.id}").get_data(as_text=True)
    assert "位置为手动输入，并非手机定位" in page and "GPS 位置距工地 0 米" in page
    with client.get(f"/admin/checks/photos/{check.photos[0].sha256}.jpg") as response:
        served = response.get_data()
    assert dict(Image.open(io.BytesIO(served)).getexif()) == {}
    assert client.post(f"/admin/checks/{check.id}", data={"decision": "confirm"}).status_code == 422
    done = client.post(
        f"/admin/checks/{check.id}", data={"decision": "confirm", "reason": "视频核实"}
    )
    assert done.status_code == 303
    for changed in (case, supervisor, check):
        db.session.refresh(changed)
    assert case.state == "closed" and supervisor.points == points + workflow.VERIFY_POINTS
    assert check.confirmed_by_id == dispatcher.id and check.review_note == "视频核实"


def test_labels_of_the_inspection_list_and_a_finding(client, db, login_as, held_reports):
    from portal.models import Case, utcnow
    from portal.services import inspections

    _held, fine = held_reports
    login_as("dispatcher")
    listing = client.get("/admin/inspections").get_data(as_text=True)
    assert '<th scope="col">日期</th>' in listing
    found = inspections.findings_to_cases(db.session, fine, utcnow())
    db.session.commit()
    if not found:
        found = db.session.scalars(select(Case).where(Case.source == "inspection")).all()
    page = client.get(f"/admin/cases/{found[0].number}").get_data(as_text=True)
    assert "市民监督员 周监督" in page

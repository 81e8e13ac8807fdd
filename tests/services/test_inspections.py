"""Inspection reports: drafts, the geofence, one submission, findings as 48-hour cases."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.models import CHECKLIST, Case, Contractor, Project, utcnow
from portal.services import inspections, spotchecks, workflow
from portal.services.photos import PhotoStore
from tests.factories import jpeg_photo, make_user, on_site

SITE = (30.2741, 120.1551)


@pytest.fixture
def site(db, reference):
    contractor = Contractor(name="杭州市政建设有限公司", credit_code="91110000600037341L")
    project = Project(
        code="GS-2026-01",
        name="湖墅南路排水改造工程",
        lat=SITE[0],
        lng=SITE[1],
        geometry={"type": "Point", "coordinates": [SITE[1], SITE[0]]},
        phase="construction",
        active_site=True,
        contractor=contractor,
    )
    db.session.add(project)
    db.session.commit()
    return project


@pytest.fixture
def supervisor(db, reference):
    return make_user(db.session, "supervisor", email="jian@example.cn")


def filled(fail: tuple[str, ...] = ()) -> dict:
    return {
        item: {
            "result": "fail" if item in fail else "pass",
            "note": "围挡倒了一段" if item in fail else "",
        }
        for item in CHECKLIST
    }


def test_a_failed_item_becomes_a_case_with_a_48_hour_response(app, db, site, supervisor):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    now = utcnow()
    report = inspections.draft(db.session, supervisor, site, "key-1", now)
    inspections.save(report, filled(fail=("fencing",)), on_site(*SITE))
    inspections.add_photo(db.session, report, "fencing", jpeg_photo("red"), store, now)
    made = inspections.submit(db.session, report, now)
    db.session.commit()
    [case] = made
    assert case.source == "inspection" and case.category.code == "0703"
    assert case.project_id == site.id and case.inspection_item == "fencing"
    assert case.respond_due_at == now + timedelta(hours=48)
    assert [p.sha256 for p in case.photos] == [report.photos[0].sha256]
    assert report.verdict == "fail" and not report.off_site and report.distance_m < 1


def test_submitting_twice_creates_one_report_and_one_set_of_cases(db, site, supervisor, app):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    report = inspections.draft(db.session, supervisor, site, "key-2", utcnow())
    inspections.save(report, filled(fail=("dust",)), on_site(*SITE))
    inspections.add_photo(db.session, report, "dust", jpeg_photo(), store, utcnow())
    first = inspections.submit(db.session, report, utcnow())
    again = inspections.draft(db.session, supervisor, site, "key-2", utcnow())
    assert again is report
    second = inspections.submit(db.session, again, utcnow())
    assert [c.id for c in first] == [c.id for c in second]
    assert db.session.scalar(select(func.count()).select_from(Case)) == 1


def test_a_draft_keeps_partial_answers(db, site, supervisor):
    report = inspections.draft(db.session, supervisor, site, "key-3", utcnow())
    inspections.save(report, {"dust": {"result": "pass", "note": ""}}, None)
    db.session.commit()
    db.session.expire_all()
    kept = inspections.draft(db.session, supervisor, site, "key-3", utcnow())
    assert kept.items == {"dust": {"result": "pass", "note": ""}} and kept.status == "draft"
    with pytest.raises(inspections.InspectionError):
        inspections.submit(db.session, kept, utcnow())  # incomplete


def test_failures_need_a_photo_and_a_position(db, site, supervisor):
    report = inspections.draft(db.session, supervisor, site, "key-4", utcnow())
    inspections.save(report, filled(fail=("muck",)), on_site(*SITE))
    with pytest.raises(inspections.InspectionError) as refused:
        inspections.submit(db.session, report, utcnow())
    assert refused.value.args[0] == "photo"


def test_off_site_reports_wait_for_a_dispatcher(app, db, site, supervisor):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    report = inspections.draft(db.session, supervisor, site, "key-5", utcnow())
    away = on_site(SITE[0] + 0.01, SITE[1])  # ~1.1 km away
    inspections.save(report, filled(fail=("tidy",)), away)
    inspections.add_photo(db.session, report, "tidy", jpeg_photo(), store, utcnow())
    assert inspections.submit(db.session, report, utcnow()) == []
    assert report.off_site and report.distance_m > 1000 and report.review_reasons == ["off_site"]
    dispatcher = make_user(db.session, "dispatcher")
    with pytest.raises(inspections.InspectionError):
        inspections.confirm(db.session, report, dispatcher, " ", utcnow())  # no reason
    [case] = inspections.confirm(db.session, report, dispatcher, "监督员电话说明位置", utcnow())
    assert case.source == "inspection"
    with pytest.raises(inspections.InspectionError):
        inspections.confirm(db.session, report, dispatcher, "再次确认", utcnow())


def test_points_for_accepted_findings_and_verified_fixes(app, db, site, supervisor):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    report = inspections.draft(db.session, supervisor, site, "key-6", utcnow())
    inspections.save(report, filled(fail=("night_permit",)), on_site(*SITE))
    inspections.add_photo(db.session, report, "night_permit", jpeg_photo(), store, utcnow())
    [case] = inspections.submit(db.session, report, utcnow())
    dispatcher = make_user(db.session, "dispatcher")
    workflow.accept(db.session, case, dispatcher, "high", utcnow())
    assert supervisor.points == workflow.FINDING_POINTS
    workflow.route(db.session, case, dispatcher, case.suggested_department, utcnow())
    handler = make_user(db.session, "handler", department=case.department)
    workflow.resolve(db.session, case, handler, "已停工整改", [], store, utcnow())
    assert workflow.allowed(case, supervisor) == ["close", "rework"]
    workflow.close(db.session, case, supervisor, "现场核查已整改", utcnow())
    assert case.state == "closed"
    assert supervisor.points == workflow.FINDING_POINTS + workflow.VERIFY_POINTS
    other = make_user(db.session, "supervisor")
    assert workflow.allowed(case, other) == [] and not workflow.can_see(case, other)


def test_assignments_are_linked_to_reports(db, site, supervisor):
    now = utcnow()
    spotchecks.assign(db.session, now.strftime("%Y-%m"), 1, seed=1, actor=None, now=now)
    report = inspections.draft(db.session, supervisor, site, "key-7", now)
    assert report.assignment_id is not None


def test_a_form_inserted_meanwhile_by_another_request_is_returned(
    app, db, site, supervisor, monkeypatch
):
    from sqlalchemy.orm import Session

    from portal.models import Inspection

    with Session(db.engine) as other:  # the other request of the same form committed first
        other.add(
            Inspection(
                client_key="key-race", project_id=site.id, supervisor_id=supervisor.id, items={}
            )
        )
        other.commit()
    real, looked = inspections._by_key, []

    def too_early(session, key):  # this request looked before the other one committed
        looked.append(key)
        return None if len(looked) == 1 else real(session, key)

    monkeypatch.setattr(inspections, "_by_key", too_early)
    report = inspections.draft(db.session, supervisor, site, "key-race", utcnow())
    assert len(looked) == 2 and report.client_key == "key-race" and report.id is not None
    assert db.session.scalar(select(func.count()).select_from(Inspection)) == 1
    inspections.save(report, filled(), on_site(*SITE))  # the session is still usable
    inspections.add_photo(
        db.session, report, "tidy", jpeg_photo(), PhotoStore(app.config["UPLOAD_DIR"]), utcnow()
    )
    assert inspections.submit(db.session, report, utcnow()) == []
    db.session.commit()
    assert report.status == "submitted"


def test_a_finding_closes_only_after_the_supervisors_check(app, db, site, supervisor):
    from portal.models import AuditEntry

    store = PhotoStore(app.config["UPLOAD_DIR"])
    report = inspections.draft(db.session, supervisor, site, "key-8", utcnow())
    inspections.save(report, filled(fail=("fencing",)), on_site(*SITE))
    inspections.add_photo(db.session, report, "fencing", jpeg_photo(), store, utcnow())
    [case] = inspections.submit(db.session, report, utcnow())
    dispatcher, admin = make_user(db.session, "dispatcher"), make_user(db.session, "admin")
    workflow.accept(db.session, case, dispatcher, "normal", utcnow())
    workflow.route(db.session, case, dispatcher, case.suggested_department, utcnow())
    handler = make_user(db.session, "handler", department=case.department)
    workflow.resolve(db.session, case, handler, "围挡已恢复", [], store, utcnow())
    assert "close" not in workflow.allowed(case, dispatcher)
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.close(db.session, case, dispatcher, "已整改", utcnow())
    assert refused.value.code == "verification" and case.state == "resolved"
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.close(db.session, case, admin, " ", utcnow())
    assert refused.value.code == "reason" and case.state == "resolved"
    points = supervisor.points
    event = workflow.close(db.session, case, admin, "监督员已停职，经视频核实已整改", utcnow())
    db.session.commit()
    assert case.state == "closed" and event.kind == "closed_unverified" and event.public
    assert event.body == "监督员已停职，经视频核实已整改" and supervisor.points == points
    logged = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "case.close_unverified")
    )
    assert logged.actor == admin and logged.after["reason"] == "监督员已停职，经视频核实已整改"

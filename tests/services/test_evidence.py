"""On-site evidence: a typed or imprecise position, or photos whose own EXIF disagrees with the
site or the visit, hold a report or a check for staff; held ones earn and count nothing."""

import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Case, Contractor, Project, utcnow
from portal.services import contractors, evidence, inspections, site_checks, workflow
from portal.services.photos import PhotoStore, process
from tests.factories import exif_jpeg_bytes, jpeg_photo, make_user, on_site

SITE = (30.2741, 120.1551)
FAR = (SITE[0] + 0.1, SITE[1])  # about 11 km north


@pytest.fixture
def site(db, reference):
    contractor = Contractor(name="杭州市政建设有限公司", credit_code="91110000600037341L")
    project = Project(
        code="GS-2026-09",
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


@pytest.fixture
def store(app):
    return PhotoStore(app.config["UPLOAD_DIR"])


def answers(fail: tuple[str, ...] = ()) -> dict:
    from portal.models import CHECKLIST

    return {
        i: {"result": "fail" if i in fail else "pass", "note": "裸土未覆盖" if i in fail else ""}
        for i in CHECKLIST
    }


def file_report(db, site, supervisor, store, position, *, fail=(), photo=None, key=None, now=None):
    now = now or utcnow()
    report = inspections.draft(db.session, supervisor, site, key or f"k-{id(position)}", now)
    inspections.save(report, answers(fail), position, now=now)
    item = fail[0] if fail else "tidy"
    inspections.add_photo(db.session, report, item, photo or jpeg_photo(), store, now)
    made = inspections.submit(db.session, report, now)
    db.session.commit()
    return report, made


def typed(lat: float, lng: float) -> evidence.Position:
    return evidence.read_position(str(lat), str(lng))


def test_a_typed_position_at_the_site_is_held_and_earns_nothing(db, site, supervisor, store):
    report, made = file_report(db, site, supervisor, store, typed(*SITE), fail=("dust",))
    assert report.distance_m < 1  # the typed coordinates are the site's own
    assert report.flagged and report.review_reasons == ["typed"] and report.pending_review
    assert made == [] and db.session.scalars(select(Case)).all() == []
    assert supervisor.points == 0
    assert not inspections.counts(report)


def test_a_device_claim_without_accuracy_or_with_a_stale_time_counts_as_typed(db, site):
    now = utcnow()
    claims = {
        "no accuracy": evidence.Position(*SITE, None, now, from_device=True),
        "no time": evidence.Position(*SITE, 5.0, None, from_device=True),
        "stale": evidence.Position(*SITE, 5.0, now - timedelta(hours=1), from_device=True),
        "future": evidence.Position(*SITE, 5.0, now + timedelta(hours=1), from_device=True),
        "not claimed": evidence.Position(*SITE, 5.0, now, from_device=False),
    }
    assert {k: evidence.is_typed(p, now) for k, p in claims.items()} == dict.fromkeys(claims, True)
    assert not evidence.is_typed(on_site(*SITE, at=now - timedelta(seconds=30)), now)


def test_the_form_fields_are_read_as_the_page_sends_them():
    fix = evidence.read_position("30.2741", "120.1551", "12.5", "1795000000000", "device")
    assert fix.accuracy_m == 12.5 and fix.from_device
    assert fix.device_at.isoformat() == "2026-11-18T11:06:40+00:00"
    nonsense = evidence.read_position("30.2741", "120.1551", "-3", "nan", "device")
    assert nonsense.accuracy_m is None and nonsense.device_at is None
    assert evidence.read_position("", "") is None
    with pytest.raises(evidence.InvalidPosition):
        evidence.read_position("95", "120")


def test_an_accuracy_worse_than_the_radius_is_held(db, site, supervisor, store):
    vague = on_site(*SITE, accuracy=1500)
    report, made = file_report(db, site, supervisor, store, vague)
    assert report.flagged and report.review_reasons == ["accuracy"] and made == []


def test_a_measured_position_with_a_photo_passes(db, site, supervisor, store):
    report, _ = file_report(db, site, supervisor, store, on_site(SITE[0] + 0.001, SITE[1]))
    assert report.verdict == "pass" and not report.flagged and report.review_reasons == []
    assert not report.position_typed and report.accuracy_m == 8.0 and inspections.counts(report)
    assert 100 < report.distance_m < 120


def test_a_pass_needs_a_photo(db, site, supervisor):
    report = inspections.draft(db.session, supervisor, site, "no-photo", utcnow())
    inspections.save(report, answers(), on_site(*SITE))
    with pytest.raises(inspections.InspectionError) as refused:
        inspections.submit(db.session, report, utcnow())
    assert refused.value.args[0] == "pass_photo" and report.status == "draft"


def test_a_photo_whose_gps_is_11_km_away_holds_the_report(db, site, supervisor, store):
    far = process(io.BytesIO(exif_jpeg_bytes(gps=FAR)), max_bytes=10**7)
    assert far.original_exif.lat == pytest.approx(FAR[0], abs=1e-5)
    report, made = file_report(db, site, supervisor, store, on_site(*SITE), photo=far)
    assert report.review_reasons == ["photo_far"] and made == []
    [photo] = report.photos
    assert photo.exif_found and 11_000 < photo.exif_distance_m < 11_200


def test_a_photo_taken_a_day_before_holds_the_report(app, db, site, supervisor, store):
    now = utcnow()
    day_old = process(
        io.BytesIO(exif_jpeg_bytes(taken=now - timedelta(days=1), offset="+00:00")),
        max_bytes=10**7,
    )
    report, _ = file_report(db, site, supervisor, store, on_site(*SITE), photo=day_old, now=now)
    assert report.review_reasons == ["photo_time"]
    assert abs(report.photos[0].exif_taken_at - (now - timedelta(days=1))) < timedelta(seconds=1)


def test_exif_time_without_offset_is_the_office_time_and_no_exif_is_no_mismatch(
    db, site, supervisor, store
):
    from zoneinfo import ZoneInfo

    now = utcnow()
    local = now.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    here = process(io.BytesIO(exif_jpeg_bytes(gps=SITE, taken=local)), max_bytes=10**7)
    report, _ = file_report(db, site, supervisor, store, on_site(*SITE), photo=here, now=now)
    assert not report.flagged and report.photos[0].exif_distance_m < 1
    bare, _ = file_report(db, site, supervisor, store, on_site(*SITE), key="bare")
    assert not bare.flagged and not bare.photos[0].exif_found


def test_staff_confirm_a_held_report_then_its_findings_earn_points(db, site, supervisor, store):
    report, _ = file_report(db, site, supervisor, store, typed(*SITE), fail=("fencing",))
    dispatcher = make_user(db.session, "dispatcher")
    with pytest.raises(inspections.InspectionError):
        inspections.confirm(db.session, report, dispatcher, "", utcnow())
    [case] = inspections.confirm(db.session, report, dispatcher, "视频核实在现场", utcnow())
    workflow.accept(db.session, case, dispatcher, "high", utcnow())
    assert supervisor.points == workflow.FINDING_POINTS and inspections.counts(report)
    logged = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "inspection.confirm"))
    assert logged.actor == dispatcher and logged.after["reason"] == "视频核实在现场"


def test_held_passes_propose_no_red_list_entry_until_confirmed(db, site, supervisor, store):
    reports = [
        file_report(db, site, supervisor, store, typed(*SITE), key=f"red-{n}")[0] for n in range(3)
    ]
    assert contractors.propose(db.session, utcnow()) == []
    assert contractors.record(db.session, site.contractor, utcnow() - timedelta(1), utcnow()) == (
        contractors.Record()
    )
    dispatcher = make_user(db.session, "dispatcher")
    for report in reports:
        inspections.confirm(db.session, report, dispatcher, "已电话核实", utcnow())
    [entry] = contractors.propose(db.session, utcnow())
    assert entry.kind == "red" and entry.contractor == site.contractor


def test_staff_reject_a_held_report_and_it_counts_nowhere(db, site, supervisor, store):
    reports = [
        file_report(db, site, supervisor, store, typed(*SITE), fail=("dust",), key=f"rj-{n}")[0]
        for n in range(3)
    ]
    dispatcher = make_user(db.session, "dispatcher")
    for report in reports:
        assert (
            inspections.reject(db.session, report, dispatcher, "位置系手工输入", utcnow()) is None
        )
    db.session.commit()
    assert db.session.scalars(select(Case)).all() == [] and supervisor.points == 0
    assert contractors.propose(db.session, utcnow()) == []
    assert not any(inspections.counts(r) for r in reports)
    with pytest.raises(inspections.InspectionError):
        inspections.confirm(db.session, reports[0], dispatcher, "改为确认", utcnow())
    logged = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "inspection.reject"))
    assert [e.after["reason"] for e in logged] == ["位置系手工输入"] * 3


def resolved_finding(db, site, supervisor, store) -> Case:
    _, [case] = file_report(db, site, supervisor, store, on_site(*SITE), fail=("fencing",))
    dispatcher = make_user(db.session, "dispatcher")
    workflow.accept(db.session, case, dispatcher, "normal", utcnow())
    workflow.route(db.session, case, dispatcher, case.suggested_department, utcnow())
    handler = make_user(db.session, "handler", department=case.department)
    workflow.resolve(db.session, case, handler, "围挡已恢复", [], store, utcnow())
    db.session.commit()
    return case


def test_a_check_on_site_with_good_evidence_closes_the_finding(db, site, supervisor, store):
    case = resolved_finding(db, site, supervisor, store)
    points = supervisor.points
    check = site_checks.record(
        db.session, case, supervisor, "close", "已恢复", on_site(*SITE), [jpeg_photo()], store,
        utcnow(),
    )  # fmt: skip
    assert not check.flagged and check.applied_at and case.state == "closed"
    assert supervisor.points == points + workflow.VERIFY_POINTS


def test_a_typed_check_waits_for_staff_and_earns_after_confirmation(db, site, supervisor, store):
    case = resolved_finding(db, site, supervisor, store)
    points = supervisor.points
    with pytest.raises(site_checks.SiteCheckError) as refused:
        site_checks.record(
            db.session, case, supervisor, "close", "已恢复", typed(*SITE), [], store, utcnow()
        )
    assert refused.value.args[0] == "photo"
    check = site_checks.record(
        db.session, case, supervisor, "close", "已恢复", typed(*SITE), [jpeg_photo()], store,
        utcnow(),
    )  # fmt: skip
    assert check.pending_review and check.review_reasons == ["typed"]
    assert case.state == "resolved" and supervisor.points == points
    with pytest.raises(site_checks.SiteCheckError) as refused:  # one pending check at a time
        site_checks.record(
            db.session, case, supervisor, "close", "又去了", on_site(*SITE), [jpeg_photo()],
            store, utcnow(),
        )  # fmt: skip
    assert refused.value.args[0] == "pending"
    dispatcher = make_user(db.session, "dispatcher")
    site_checks.confirm(db.session, check, dispatcher, "照片与现场一致", utcnow())
    assert case.state == "closed" and supervisor.points == points + workflow.VERIFY_POINTS


def test_a_check_with_a_far_photo_rejected_by_staff_changes_nothing(db, site, supervisor, store):
    case = resolved_finding(db, site, supervisor, store)
    points = supervisor.points
    far = process(io.BytesIO(exif_jpeg_bytes(gps=FAR)), max_bytes=10**7)
    check = site_checks.record(
        db.session, case, supervisor, "close", "已恢复", on_site(*SITE), [far], store, utcnow()
    )
    assert check.review_reasons == ["photo_far"] and case.state == "resolved"
    dispatcher = make_user(db.session, "dispatcher")
    site_checks.reject(db.session, check, dispatcher, "照片不在现场", utcnow())
    assert case.state == "resolved" and supervisor.points == points and not check.pending_review
    vague = on_site(*SITE, accuracy=900)
    again = site_checks.record(
        db.session, case, supervisor, "rework", "仍未恢复", vague, [jpeg_photo()], store, utcnow()
    )
    assert again.review_reasons == ["accuracy"] and case.state == "resolved"

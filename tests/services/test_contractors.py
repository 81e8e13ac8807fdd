"""Contractors' records and the red and black list rules."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.models import CHECKLIST, AuditEntry, Contractor, Inspection, ListEntry, Project, utcnow
from portal.services import contractors
from tests.factories import make_case, make_user


@pytest.fixture
def builder(db, reference):
    firm = Contractor(name="示范建设集团", credit_code="91110000600037341L")
    project = Project(
        code="P1",
        name="工地",
        lat=30.2741,
        lng=120.1551,
        contractor=firm,
        geometry={"type": "Point", "coordinates": [120.1551, 30.2741]},
        phase="construction",
        active_site=True,
    )
    db.session.add(project)
    db.session.commit()
    return firm, project


def inspect(db, project, verdict, when):
    supervisor = make_user(db.session, "supervisor")
    report = Inspection(
        client_key=f"k{when.timestamp()}{verdict}",
        project=project,
        supervisor=supervisor,
        status="submitted",
        verdict=verdict,
        items={i: {"result": "pass", "note": ""} for i in CHECKLIST},
        submitted_at=when,
        lat=30.2741,
        lng=120.1551,
    )
    db.session.add(report)
    db.session.commit()
    return report


def finding(db, project, report, when, item="dust"):
    case, _ = make_case(db.session, category_code="0701", now=when)
    case.source, case.project_id, case.inspection_id, case.inspection_item = (
        "inspection",
        project.id,
        report.id,
        item,
    )
    db.session.commit()
    return case


def test_repeated_findings_propose_a_black_list_entry(db, builder):
    firm, project = builder
    now = utcnow()
    for days in (60, 30, 5):
        report = inspect(db, project, "fail", now - timedelta(days=days))
        finding(db, project, report, now - timedelta(days=days))
    record = contractors.record(db.session, firm, now - timedelta(days=365), now)
    assert (record.inspections, record.findings, record.repeated) == (3, 3, 2)
    [entry] = contractors.propose(db.session, now)
    assert entry.kind == "black" and "重复" in entry.reason
    assert contractors.propose(db.session, now) == []  # already proposed
    assert contractors.published(db.session, "black", now.date()) == []  # not automatic
    admin = make_user(db.session, "admin")
    contractors.confirm(db.session, admin, entry, "三个月内扬尘问题反复出现", now)
    assert contractors.published(db.session, "black", now.date()) == [entry]
    assert not contractors.published(db.session, "black", now.date() + timedelta(days=400))


def test_clean_records_propose_the_red_list(db, builder):
    firm, project = builder
    now = utcnow()
    for days in (80, 40, 10):
        inspect(db, project, "pass", now - timedelta(days=days))
    [entry] = contractors.propose(db.session, now)
    assert entry.kind == "red" and entry.contractor == firm
    contractors.dismiss(db.session, make_user(db.session, "admin"), entry, now)
    assert contractors.published(db.session, "red", now.date()) == []


def test_a_failed_acceptance_proposes_the_black_list(db, builder):
    firm, project = builder
    now = utcnow()
    project.acceptance_result, project.acceptance_date = "failed", now.date()
    db.session.commit()
    record = contractors.record(db.session, firm, now - timedelta(days=365), now)
    assert (record.acceptances, record.acceptances_passed) == (1, 0)
    [entry] = contractors.propose(db.session, now)
    assert entry.kind == "black" and "验收未通过 1 项" in entry.reason


def test_only_answers_after_the_deadline_count_as_late(db, builder):
    firm, project = builder
    now = utcnow()
    report = inspect(db, project, "fail", now - timedelta(days=5))
    waiting = finding(db, project, report, now - timedelta(hours=1), item="dust")
    overdue = finding(db, project, report, now - timedelta(days=4), item="muck")
    on_time = finding(db, project, report, now - timedelta(days=3), item="tidy")
    late = finding(db, project, report, now - timedelta(days=5), item="fencing")
    for case, answered in ((on_time, timedelta(hours=2)), (late, timedelta(hours=60))):
        case.responded_at = case.created_at + answered
    for case in (waiting, overdue, on_time, late):
        case.respond_due_at = case.created_at + timedelta(hours=48)
    db.session.commit()
    record = contractors.record(db.session, firm, now - timedelta(days=365), now)
    # Still within its 48 hours: not late yet; unanswered past them, or answered after: late.
    assert (record.findings, record.answered_late) == (4, 2)


def test_entries_last_as_long_as_the_setting_says_and_need_a_reason(app, db, builder):
    firm, _ = builder
    app.config["LIST_VALID_DAYS"] = 30
    now = utcnow()
    entry = ListEntry(contractor=firm, kind="red", reason="近一年抽查全部合格", proposed_at=now)
    db.session.add(entry)
    admin = make_user(db.session, "admin")
    with pytest.raises(contractors.ListError, match="reason"):
        contractors.confirm(db.session, admin, entry, "  ", now)
    assert entry.confirmed_at is None
    contractors.confirm(db.session, admin, entry, "近一年抽查全部合格，予以表扬", now)
    assert entry.expires_on == now.date() + timedelta(days=30)
    assert contractors.published(db.session, "red", now.date() + timedelta(days=30)) == [entry]
    assert contractors.published(db.session, "red", now.date() + timedelta(days=31)) == []


def test_an_admin_renews_a_published_entry_with_a_reason(app, db, builder):
    firm, _ = builder
    now = utcnow()
    entry = ListEntry(contractor=firm, kind="black", reason="多次扬尘", proposed_at=now)
    db.session.add(entry)
    admin = make_user(db.session, "admin")
    with pytest.raises(contractors.ListError, match="state"):
        contractors.renew(db.session, admin, entry, "仍未整改", now)  # not published yet
    contractors.confirm(db.session, admin, entry, "三次扬尘未整改", now - timedelta(days=300))
    with pytest.raises(contractors.ListError, match="reason"):
        contractors.renew(db.session, admin, entry, "", now)
    contractors.renew(db.session, admin, entry, "复查仍有扬尘问题", now)
    db.session.commit()
    assert entry.expires_on == now.date() + timedelta(days=app.config["LIST_VALID_DAYS"])
    assert (entry.renewal_reason, entry.renewed_by, entry.reason) == (
        "复查仍有扬尘问题",
        admin,
        "三次扬尘未整改",
    )
    logged = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "list.black.renew"))
    assert logged.actor == admin and logged.after["renewal_reason"] == "复查仍有扬尘问题"


def test_site_sensor_exceedances_count_and_can_blacklist(db, builder):
    from portal.models import Alarm
    from portal.services import alarms
    from tests.factories import make_device

    firm, project = builder
    now = utcnow()
    device, _ = make_device(db.session, "noise", project=project)
    [rule] = [
        r
        for r in alarms.rules_by_device(db.session, {device.id: "noise"})[device.id]
        if r.code == "noise_limit"
    ]
    for hours in range(3):
        db.session.add(
            Alarm(
                device_id=device.id,
                rule_id=rule.id,
                state="cleared",
                lat=device.lat,
                lng=device.lng,
                opened_at=now - timedelta(hours=hours),
                last_breach_at=now,
                breach_count=1,
            )
        )
    db.session.commit()
    record = contractors.record(db.session, firm, now - timedelta(days=365), now)
    assert record.exceedances == 3
    rules = contractors.Rules(black_exceedances=3)
    [entry] = contractors.propose(db.session, now, rules)
    assert entry.kind == "black" and "在线监测超标告警 3 次" in entry.reason

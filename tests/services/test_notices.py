"""Notices: drafts, publishing now or later, withdrawal, audit, and what the public sees."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Notice, Zone, utcnow
from portal.services import notices
from portal.services.photos import PhotoStore
from tests.factories import jpeg_photo, make_case, make_notice, make_project, make_user


@pytest.fixture
def author(db, reference):
    return make_user(db.session, "dispatcher")


def audit_actions(db, notice):
    entries = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.object_type == "notice", AuditEntry.object_id == str(notice.id))
        .order_by(AuditEntry.id)
    )
    return [(e.action, e.actor_id) for e in entries]


def test_a_draft_takes_the_street_of_its_project_and_links_cases(db, author):
    project = make_project(db.session)
    case, _ = make_case(db.session)
    notice = make_notice(
        db.session, author, project=project, case_numbers=(case.number,), title="  工程进展  "
    )
    assert notice.status(utcnow()) == "draft" and notice.title == "工程进展"
    assert notice.zone.level == "street" and notice.zone.code == "GS-MS"
    assert [c.number for c in notice.cases] == [case.number]
    assert notice.author is author
    assert audit_actions(db, notice) == [("notice.create", author.id)]


def test_a_chosen_zone_wins_and_no_project_means_no_zone(db, author):
    district = db.session.scalar(select(Zone).where(Zone.level == "district"))
    project = make_project(db.session)
    draft = notices.NoticeDraft("通告", "正文", "traffic", project=project, zone=district)
    chosen = notices.save(db.session, author, Notice(), draft, PhotoStore("/x"), utcnow())
    assert chosen.zone is district
    loose = notices.save(
        db.session, author, Notice(), notices.NoticeDraft("通告", "正文", "traffic"), None, utcnow()
    )
    assert loose.zone is None and loose.project is None


def test_unknown_case_numbers_are_named(db, author):
    case, _ = make_case(db.session)
    numbers = notices.parse_case_numbers(f"{case.number}, 2026-999999\n2026-888888 {case.number}")
    assert numbers == [case.number, "2026-999999", "2026-888888"]
    with pytest.raises(notices.NoticeError) as refused:
        notices.find_cases(db.session, numbers)
    assert refused.value.args == ("cases", ["2026-888888", "2026-999999"])


def test_the_cover_goes_through_the_photo_store(app, db, author):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    photo = jpeg_photo("navy")
    draft = notices.NoticeDraft("完工", "正文", "completion", cover=photo)
    notice = notices.save(db.session, author, Notice(), draft, store, utcnow())
    db.session.commit()
    assert notice.cover_sha256 == photo.sha256 and store.exists(photo.sha256)
    draft = notices.NoticeDraft("完工", "正文", "completion", remove_cover=True)
    notices.save(db.session, author, notice, draft, store, utcnow())
    assert notice.cover_sha256 is None


def test_scheduled_notices_go_public_at_their_time_without_a_job(db, author):
    now = utcnow()
    notice = make_notice(db.session, author, title="下周封路")
    notices.publish(db.session, author, notice, now, at=now + timedelta(hours=2))
    db.session.commit()
    public = lambda at: db.session.scalars(notices.public_notices(at)).all()  # noqa: E731
    assert notice.status(now) == "scheduled" and public(now) == []
    later = now + timedelta(hours=2, seconds=1)
    assert notice.status(later) == "published" and public(later) == [notice]
    assert audit_actions(db, notice)[-1] == ("notice.schedule", author.id)


def test_a_scheduled_notice_can_move_or_go_back_to_draft_but_not_into_the_past(db, author):
    now = utcnow()
    notice = make_notice(db.session, author)
    with pytest.raises(notices.NoticeError, match="past"):
        notices.publish(db.session, author, notice, now, at=now - timedelta(minutes=1))
    notices.publish(db.session, author, notice, now, at=now + timedelta(days=1))
    notices.publish(db.session, author, notice, now, at=now + timedelta(days=2))
    assert notice.publish_at == now + timedelta(days=2)
    notices.unschedule(db.session, author, notice, now)
    assert notice.status(now) == "draft"
    actions = [a for a, _ in audit_actions(db, notice)]
    assert actions == ["notice.create", "notice.schedule", "notice.schedule", "notice.unschedule"]


def test_published_notices_cannot_be_edited_or_rescheduled(db, author):
    now = utcnow()
    notice = make_notice(db.session, author, publish_at=now - timedelta(hours=1))
    with pytest.raises(notices.NoticeError, match="state"):
        notices.save(
            db.session, author, notice, notices.NoticeDraft("改", "改", "progress"), None, now
        )
    with pytest.raises(notices.NoticeError, match="state"):
        notices.publish(db.session, author, notice, now, at=now + timedelta(days=1))
    with pytest.raises(notices.NoticeError, match="state"):
        notices.unschedule(db.session, author, notice, now)


def test_withdrawal_needs_a_reason_and_keeps_the_notice_public(db, author):
    now = utcnow()
    admin = make_user(db.session, "admin")
    notice = make_notice(db.session, author, publish_at=now - timedelta(days=1))
    with pytest.raises(notices.NoticeError, match="reason"):
        notices.withdraw(db.session, admin, notice, "   ", now)
    notices.withdraw(db.session, admin, notice, " 封闭时段有误 ", now)
    db.session.commit()
    assert notice.status(now) == "withdrawn" and notice.withdraw_reason == "封闭时段有误"
    assert notice.withdrawn_by is admin and notice.withdrawn_at == now
    assert db.session.scalars(notices.public_notices(now)).all() == [notice]
    with pytest.raises(notices.NoticeError, match="state"):
        notices.withdraw(db.session, admin, notice, "again", now)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "notice.withdraw"))
    assert entry.actor is admin and entry.after["reason"] == "封闭时段有误"


def test_drafts_and_scheduled_notices_cannot_be_withdrawn(db, author):
    now = utcnow()
    draft = make_notice(db.session, author)
    with pytest.raises(notices.NoticeError, match="state"):
        notices.withdraw(db.session, author, draft, "原因", now)
    notices.publish(db.session, author, draft, now, at=now + timedelta(days=1))
    with pytest.raises(notices.NoticeError, match="state"):
        notices.withdraw(db.session, author, draft, "原因", now)


def test_filters_and_search(db, author):
    now = utcnow()
    road = make_project(db.session, "GS-2026-91", name="大关路道路提升工程")
    far = make_project(
        db.session,
        "GS-2026-92",
        geometry={"type": "Point", "coordinates": [120.1400, 30.2800]},
    )
    a = make_notice(
        db.session,
        author,
        title="大关路封闭施工",
        body="机动车请绕行",
        kind="traffic",
        project=road,
        publish_at=now - timedelta(days=2),
    )
    b = make_notice(
        db.session,
        author,
        title="小河路完工",
        body="人行道已恢复 100%",
        kind="completion",
        project=far,
        publish_at=now - timedelta(days=1),
    )
    make_notice(db.session, author, title="大关路草稿", project=road)

    def found(**filters):
        query = notices.filtered(notices.NoticeFilters(**filters), now)
        return [n.title for n in db.session.scalars(query)]

    assert found() == [b.title, a.title]
    assert found(project="GS-2026-91") == [a.title]
    assert found(kind="completion") == [b.title]
    assert found(zone=a.zone.code) == [a.title] and a.zone != b.zone
    assert found(zone=a.zone.parent.code) == [b.title, a.title]  # the district holds both
    assert found(q="绕行") == [a.title] and found(q="小河") == [b.title]
    assert found(q="100%") == [b.title] and found(q="%") == [b.title] and found(q="_") == []


def test_related_cases_of_a_project_include_those_its_notices_name(db, author):
    now = utcnow()
    project = make_project(db.session)
    named, _ = make_case(db.session, description="施工围挡倒了，挡住了人行道。")
    hidden, _ = make_case(db.session, description="重复的内容，已隐藏处理。")
    hidden.hidden = True
    unrelated, _ = make_case(db.session, description="另一个地方的问题，与工程无关。")
    own, _ = make_case(db.session, description="工地门口路面有泥浆，很滑。")
    own.project_id = project.id
    db.session.commit()
    make_notice(
        db.session,
        author,
        project=project,
        case_numbers=(named.number, hidden.number),
        publish_at=now - timedelta(hours=1),
    )
    draft_only, _ = make_case(db.session, description="只在草稿里提到的案件内容。")
    make_notice(db.session, author, project=project, case_numbers=(draft_only.number,))
    related = notices.related_cases(db.session, project, now)
    assert {c.number for c in related} == {named.number, own.number}
    assert unrelated not in related

"""Consultations: who may open one, when comments are taken, moderation and the response."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, ConsultationComment
from portal.services import consultations
from portal.services.consultations import ConsultationError
from tests.factories import make_consultation, make_project, make_user


@pytest.fixture
def staff(db):
    return make_user(db.session, role="dispatcher")


def actions(db) -> list[str]:
    return [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_only_planned_projects_are_consulted_on(db, staff):
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    building = make_project(db.session, phase="construction")
    with pytest.raises(ConsultationError, match="phase"):
        consultations.start(db.session, staff, building, "标题", "问题", date(2026, 12, 10), now)
    tender = make_project(db.session, phase="tender")
    made = consultations.start(db.session, staff, tender, "标题", "问题", date(2026, 12, 10), now)
    assert made.project is tender and made.opens_at == now
    assert actions(db)[-1] == "consultation.open"


def test_the_closing_date_cannot_be_past(db, staff):
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    project = make_project(db.session)
    with pytest.raises(ConsultationError, match="date"):
        consultations.start(db.session, staff, project, "标题", "问题", date(2026, 11, 24), now)
    # Closing today is allowed: comments run to the end of the day.
    consultations.start(db.session, staff, project, "标题", "问题", date(2026, 11, 25), now)


def test_comments_are_taken_until_the_end_of_the_closing_day_beijing_time(db, staff):
    opened = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    consultation = make_consultation(db.session, staff, opened=opened, days=5)
    assert consultation.closes_on == date(2026, 11, 25)
    # 23:59 on 25 November in Beijing is 15:59 UTC; midnight there is 16:00 UTC.
    last_minute = datetime(2026, 11, 25, 15, 59, tzinfo=UTC)
    comment, token = consultations.add_comment(db.session, consultation, "支持改造。", last_minute)
    assert comment.status == "pending" and token
    assert consultations.is_open(consultation, last_minute)
    midnight = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    assert consultations.has_closed(consultation, midnight)
    with pytest.raises(ConsultationError, match="closed"):
        consultations.add_comment(db.session, consultation, "晚到的意见。", midnight)
    with pytest.raises(ConsultationError, match="closed"):
        consultations.add_comment(db.session, consultation, "太早了。", opened - timedelta(hours=1))


def test_the_private_token_finds_the_comment_and_is_stored_hashed(db, staff):
    consultation = make_consultation(db.session, staff)
    comment, token = consultations.add_comment(
        db.session, consultation, "支持改造。", consultation.opens_at
    )
    db.session.commit()
    assert consultations.find_comment(db.session, token) is comment
    assert token not in comment.tracking_token_hash
    assert consultations.find_comment(db.session, token + "x") is None
    assert consultations.find_comment(db.session, "x" * 500) is None


def test_moderation_approves_or_declines_with_a_reason_once(db, staff):
    consultation = make_consultation(db.session, staff)
    first, _ = consultations.add_comment(
        db.session, consultation, "第一条意见。", consultation.opens_at
    )
    second, _ = consultations.add_comment(
        db.session, consultation, "第二条意见。", consultation.opens_at
    )
    now = consultation.opens_at + timedelta(hours=1)
    consultations.approve(db.session, staff, first, now)
    assert first.status == "approved" and first.moderated_by_id == staff.id
    assert first.moderated_at == now
    with pytest.raises(ConsultationError, match="reason"):
        consultations.decline(db.session, staff, second, "  ", now)
    assert second.status == "pending"
    consultations.decline(db.session, staff, second, "与本次征求意见无关。", now)
    assert (second.status, second.reason) == ("declined", "与本次征求意见无关。")
    with pytest.raises(ConsultationError, match="decided"):
        consultations.approve(db.session, staff, second, now)
    with pytest.raises(ConsultationError, match="decided"):
        consultations.decline(db.session, staff, first, "改主意", now)
    assert actions(db)[-2:] == ["consultation.comment.approve", "consultation.comment.decline"]
    assert consultations.approved_comments(db.session, consultation) == [first]
    assert consultations.pending_comments(db.session) == []


def test_the_response_is_published_only_once_closed(db, staff):
    opened = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
    consultation = make_consultation(db.session, staff, opened=opened, days=10)
    still_open = datetime(2026, 11, 11, 15, 0, tzinfo=UTC)  # 23:00 in Beijing
    with pytest.raises(ConsultationError, match="open"):
        consultations.respond(db.session, staff, consultation, "答复。", still_open)
    closed = datetime(2026, 11, 12, 1, 0, tzinfo=UTC)
    with pytest.raises(ConsultationError, match="response"):
        consultations.respond(db.session, staff, consultation, " ", closed)
    consultations.respond(db.session, staff, consultation, "已采纳增设信号灯的意见。", closed)
    assert consultation.response == "已采纳增设信号灯的意见。"
    assert (consultation.responded_by_id, consultation.responded_at) == (staff.id, closed)
    with pytest.raises(ConsultationError, match="responded"):
        consultations.respond(db.session, staff, consultation, "再改一次。", closed)
    assert actions(db)[-1] == "consultation.respond"


def test_the_public_sees_open_ones_first_and_nothing_before_it_opens(db, staff):
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    closed = make_consultation(db.session, staff, opened=now - timedelta(days=40), days=10)
    later = make_consultation(db.session, staff, opened=now - timedelta(days=1), days=20)
    sooner = make_consultation(db.session, staff, opened=now - timedelta(days=2), days=5)
    upcoming = make_consultation(db.session, staff, opened=now + timedelta(days=1), days=5)
    open_, past = consultations.public(db.session, now)
    assert open_ == [sooner, later]
    assert past == [closed]
    assert upcoming not in open_ + past
    assert db.session.scalar(select(ConsultationComment)) is None

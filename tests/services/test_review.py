"""Held for review: a held case starts no clock and mails nobody until staff release it;
rejected, it stays out of sight. Comments and suggestions likewise. Every decision audited."""

import pytest
from sqlalchemy import func, select

from portal.extensions import db as _db
from portal.models import AuditEntry, OutboxMessage, utcnow
from portal.services import case_search, consultations, review, suggestions
from tests.factories import make_case, make_consultation, make_user


def outbox_count() -> int:
    return _db.session.scalar(select(func.count()).select_from(OutboxMessage))


def actions() -> list[str]:
    return list(_db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def public_numbers() -> list[str]:
    return [c.number for c in _db.session.scalars(case_search.public_cases())]


def test_a_held_case_waits_without_clocks_or_mail_until_released(db, reference):
    case, _token = make_case(db.session, email="held@example.cn", held=True)
    assert case.held and case.respond_due_at is None and case.resolve_due_at is None
    assert outbox_count() == 0 and public_numbers() == []
    assert review.held(db.session).cases == [case]
    staff = make_user(db.session, role="dispatcher")

    review.release_case(db.session, staff, case, utcnow())
    db.session.commit()
    assert not case.held and case.respond_due_at is not None
    assert public_numbers() == [case.number]
    mail = db.session.scalars(select(OutboxMessage)).one()
    assert mail.recipient == "held@example.cn" and case.number in mail.subject
    assert [e.kind for e in case.events] == ["submitted", "released"]
    assert not case.events[-1].public
    assert actions() == ["case.release"]
    assert len(review.held(db.session)) == 0
    with pytest.raises(review.ReviewError):
        review.release_case(db.session, staff, case, utcnow())


def test_a_rejected_held_case_stays_hidden_and_nobody_is_told(db, reference):
    case, _token = make_case(db.session, email="spam@example.cn", held=True)
    staff = make_user(db.session, role="dispatcher")
    with pytest.raises(review.ReviewError) as refused:
        review.reject_case(db.session, staff, case, " ", utcnow())
    assert refused.value.code == "reason"
    review.reject_case(db.session, staff, case, "广告", utcnow())
    db.session.commit()
    assert case.state == "rejected" and case.held and public_numbers() == []
    assert outbox_count() == 0
    assert actions() == ["case.reject_held"]
    assert db.session.scalars(select(AuditEntry)).one().after["reason"] == "广告"


def test_held_comments_and_suggestions_skip_the_ordinary_queues(db, reference):
    staff = make_user(db.session, role="dispatcher")
    consultation = make_consultation(db.session, staff)
    now = utcnow()
    comment, _ = consultations.add_comment(db.session, consultation, "刷屏", now, held=True)
    kept, _ = consultations.add_comment(db.session, consultation, "好意见", now, held=True)
    idea, _ = suggestions.send(db.session, "广告", "买买买", now, held=True)
    db.session.commit()
    assert consultations.pending_comments(db.session) == []
    held = review.held(db.session)
    assert held.comments == [comment, kept] and held.suggestions == [idea]
    with pytest.raises(consultations.ConsultationError):
        consultations.approve(db.session, staff, comment, now)  # not before review

    review.reject_comment(db.session, staff, comment, "广告", now)
    review.release_comment(db.session, staff, kept, now)
    review.reject_suggestion(db.session, staff, idea, "广告", now)
    db.session.commit()
    assert comment.status == "declined" and idea.status == "declined"
    assert consultations.pending_comments(db.session) == [kept]
    assert outbox_count() == 0  # a rejected sender is not told
    assert actions()[-3:] == [
        "consultation_comment.reject_held",
        "consultation_comment.release",
        "suggestion.reject_held",
    ]

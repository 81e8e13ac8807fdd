"""Residents' personal data: who reads contacts, erasure on request, purge after retention."""

from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from portal.models import (
    AuditEntry,
    Case,
    CaseFollower,
    Department,
    OutboxMessage,
    SupervisorApplication,
    utcnow,
)
from portal.services import cases, consultations, privacy, suggestions
from tests.factories import make_case, make_consultation, make_user

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # the fixed clock of the purge
RESIDENT = "zhang@example.cn"


def rows(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def audit_text(db) -> str:
    return " ".join(
        f"{e.before} {e.after} {e.address}" for e in db.session.scalars(select(AuditEntry))
    )


def test_who_may_read_contacts(db, reference):
    case, _ = make_case(db.session)
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    light = db.session.scalar(select(Department).where(Department.code == "LIGHT"))
    case.department = road
    db.session.commit()
    may = privacy.may_see_contacts
    assert may(make_user(db.session, role="dispatcher"), case)
    assert may(make_user(db.session, role="admin"), case)
    assert may(make_user(db.session, role="handler", department=road), case)
    assert not may(make_user(db.session, role="handler", department=light), case)
    assert not may(make_user(db.session, role="supervisor"), case)


def test_erasing_one_case_keeps_the_case_and_audits_without_personal_data(db, reference):
    case, _ = make_case(db.session, name="张三", phone="13800000000", email=RESIDENT)
    privacy.erase_case_contact(db.session, case, utcnow())
    db.session.commit()
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (case.reporter_name, case.reporter_phone, case.reporter_email) == ("", "", "")
    assert case.description and case.events[-1].kind == "contact_erased"
    assert not case.events[-1].public
    [entry] = db.session.scalars(select(AuditEntry)).all()
    assert entry.action == "privacy.erase_case" and entry.object_id == case.number
    for private in ("张三", "13800000000", RESIDENT):
        assert private not in audit_text(db)


def test_an_erasure_link_is_mailed_only_for_a_known_address(app, db, reference):
    make_case(db.session, email=RESIDENT)
    link_for = lambda token: f"http://portal/privacy/erase/{token}"  # noqa: E731
    assert privacy.request_erasure(db.session, " Zhang@Example.cn ", link_for, "en")
    assert not privacy.request_erasure(db.session, "nobody@example.cn", link_for, "en")
    [mail] = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "privacy.erase")
    ).all()
    assert mail.recipient == RESIDENT and "Erase your contact details" in mail.subject
    token = mail.body.split("/privacy/erase/")[1].split()[0]
    assert privacy.email_of_link(token) == RESIDENT
    assert privacy.email_of_link(token[:-2] + "xx") is None


def test_an_erasure_link_expires(app, db, monkeypatch):
    token = privacy._serializer().dumps(RESIDENT)
    hours = app.config["PRIVACY_LINK_HOURS"]
    later = lambda self: int(utcnow().timestamp()) + (hours + 1) * 3600  # noqa: E731
    monkeypatch.setattr(TimestampSigner, "get_timestamp", later)
    assert privacy.email_of_link(token) is None


def test_erasing_an_email_everywhere(db, reference):
    staff = make_user(db.session, role="dispatcher")
    now = utcnow()
    mine, _ = make_case(db.session, name="张三", phone="13800000000", email=RESIDENT)
    also, _ = make_case(db.session, position=(30.28, 120.16), email=RESIDENT)
    other, _ = make_case(db.session, position=(30.27, 120.15), name="李四", email="li@example.cn")
    cases.follow(db.session, other, now, email=RESIDENT, phone="13800000000")
    cases.follow(db.session, other, now, email="wu@example.cn")
    consultation = make_consultation(db.session, staff, opened=now - timedelta(hours=1))
    comment, _ = consultations.add_comment(
        db.session, consultation, "意见", now, display_name="张", email=RESIDENT
    )
    idea, _ = suggestions.send(db.session, "建议", "内容", now, email=RESIDENT, phone="138")
    db.session.add(OutboxMessage(recipient=RESIDENT, subject="s", body="b", sent_at=now))
    db.session.add(OutboxMessage(recipient=RESIDENT, subject="s", body="b"))
    db.session.commit()
    outbox_before = rows(db, OutboxMessage)

    counts = privacy.erase_email(db.session, RESIDENT, now)
    db.session.commit()
    # The outbox held the two reports' confirmations, unsent, and two more messages.
    assert counts == {"cases": 2, "followers": 1, "comments": 1, "suggestions": 1, "outbox": 4}
    assert rows(db, Case) == 3  # the cases stay
    for case in (db.session.get(Case, mine.id), db.session.get(Case, also.id)):
        assert (case.reporter_name, case.reporter_phone, case.reporter_email) == ("", "", "")
    db.session.expire_all()
    assert db.session.get(Case, other.id).reporter_email == "li@example.cn"
    followers = db.session.scalars(select(CaseFollower).order_by(CaseFollower.id)).all()
    assert [(f.email, f.phone) for f in followers] == [("", ""), ("wu@example.cn", "")]
    assert (comment.email, comment.display_name, idea.email, idea.phone) == ("", "", "", "")
    assert rows(db, OutboxMessage) == outbox_before - 3  # unsent mail to it is dropped
    recipients = set(db.session.scalars(select(OutboxMessage.recipient)))
    assert "" in recipients and RESIDENT not in recipients
    entry = db.session.scalars(select(AuditEntry)).all()[-1]
    assert entry.action == "privacy.erase_email" and entry.after["cases"] == 2
    assert RESIDENT not in audit_text(db) and "13800000000" not in audit_text(db)


@pytest.fixture
def aged(db, reference):
    """Personal data on both sides of a 730-day retention period at NOW."""
    old, recent = NOW - timedelta(days=800), NOW - timedelta(days=100)
    staff = make_user(db.session, role="dispatcher")
    made = {}
    for name, closed_at, state in (
        ("old_closed", old, "closed"),
        ("recent_closed", recent, "closed"),
        ("old_open", None, "dispatched"),
    ):
        case, _ = make_case(
            db.session,
            position=(30.27 + len(made) * 0.01, 120.15),
            name="张三",
            phone="13800000000",
            email=f"{name}@example.cn",
            now=old,
        )
        cases.follow(db.session, case, old, email=f"f-{name}@example.cn")
        case.state, case.closed_at = state, closed_at
        made[name] = case
    consultation = make_consultation(db.session, staff, opened=old)
    consultations.add_comment(db.session, consultation, "旧意见", old, email="c@example.cn")
    suggestions.send(db.session, "新", "内容", recent, email="s2@example.cn")
    old_idea, _ = suggestions.send(db.session, "旧", "内容", old, email="s1@example.cn")
    old_idea.status, old_idea.decided_at = "declined", old
    for decided_at in (old, recent):
        db.session.add(
            SupervisorApplication(
                name="陈",
                phone="139",
                email=f"a{decided_at.year}@example.cn",
                status="declined",
                decided_at=decided_at,
                created_at=decided_at,
            )
        )
    db.session.add(
        AuditEntry(
            actor_label="system",
            action="account.lock",
            object_type="account",
            object_id="1",
            address="198.51.100.7",
            created_at=old,
        )
    )
    db.session.add(
        OutboxMessage(recipient="o@example.cn", subject="s", body="b", created_at=old, sent_at=old)
    )
    db.session.commit()
    return made


def test_purge_counts_then_erases_what_is_older_than_the_period(db, aged):
    expected = {
        "cases": 1,
        "followers": 1,
        "comments": 1,
        "suggestions": 1,
        "declined_applications": 1,
        "addresses": 1,
        "outbox": 1,
    }
    period = timedelta(days=730)
    assert privacy.purge(db.session, NOW, period, dry_run=True) == expected
    db.session.rollback()
    assert db.session.get(Case, aged["old_closed"].id).reporter_email  # the dry run changed nothing

    assert privacy.purge(db.session, NOW, period) == expected
    db.session.commit()
    db.session.expire_all()
    old, recent, still_open = (db.session.get(Case, aged[n].id) for n in aged)
    assert (old.reporter_name, old.reporter_phone, old.reporter_email) == ("", "", "")
    assert recent.reporter_email and still_open.reporter_email  # not answered long enough
    emails = set(db.session.scalars(select(CaseFollower.email)))
    assert emails == {"", "f-recent_closed@example.cn", "f-old_open@example.cn"}
    assert rows(db, SupervisorApplication) == 1
    assert "198.51.100.7" not in audit_text(db)
    assert privacy.purge(db.session, NOW, period, dry_run=True) == dict.fromkeys(expected, 0)
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-1] == "privacy.purge"


def test_the_purge_command_prints_counts(runner, db, aged):
    dry = runner.invoke(args=["privacy", "purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would be erased" in dry.output and "declined_applications" in dry.output
    assert db.session.get(Case, aged["old_closed"].id).reporter_email
    done = runner.invoke(args=["privacy", "purge", "--older-than-days", "30"])
    assert done.exit_code == 0 and "erased: cases: " in done.output
    db.session.expire_all()
    assert db.session.get(Case, aged["recent_closed"].id).reporter_email == ""

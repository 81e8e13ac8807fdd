"""Applications to become a citizen supervisor."""

import re

import pytest
from sqlalchemy import select

from portal.models import OutboxMessage, utcnow
from portal.services import password_links, supervisors
from tests.factories import make_user


def test_approval_creates_the_account_and_mails_a_set_password_link(db, reference):
    application = supervisors.apply(
        db.session,
        "陈晓",
        "13800001111",
        "Chen@example.cn",
        None,
        "住在附近，关心工地安全",
        utcnow(),
        agreed_at=utcnow(),
    )
    with pytest.raises(supervisors.ApplicationError):
        supervisors.apply(
            db.session, "陈晓", "1", "chen@example.cn", None, "", utcnow(), agreed_at=utcnow()
        )
    admin = make_user(db.session, "admin")
    user = supervisors.approve(db.session, admin, application, utcnow())
    assert user.role == "supervisor" and application.status == "approved"
    mail = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.recipient == "chen@example.cn")
    )
    # No password travels: the mail carries a link to choose one, and the account has none yet.
    assert "Password" not in mail.body and "密码：" not in mail.body and user.password_hash == ""
    link = re.search(r"http://127\.0\.0\.1:5000/password/set/(\S+)", mail.body).group(1)
    assert password_links.account_of(db.session, link, utcnow()) == (user, password_links.SETUP)
    with pytest.raises(supervisors.ApplicationError):
        supervisors.approve(db.session, admin, application, utcnow())


def test_decline_needs_a_reason(db, reference):
    application = supervisors.apply(
        db.session, "王", "1", "w@example.cn", None, "", utcnow(), agreed_at=utcnow()
    )
    admin = make_user(db.session, "admin")
    with pytest.raises(supervisors.ApplicationError):
        supervisors.decline(db.session, admin, application, " ", utcnow())
    supervisors.decline(db.session, admin, application, "名额已满", utcnow())
    assert application.status == "declined"
    assert "名额已满" in db.session.scalar(select(OutboxMessage.body))


def test_a_suspended_supervisor_cannot_sign_in_and_gets_no_spot_checks(db, reference):
    from portal.models import AuditEntry, Project
    from portal.services import accounts, spotchecks

    admin = make_user(db.session, "admin")
    kept = make_user(db.session, "supervisor")
    paused = make_user(db.session, "supervisor", email="paused@example.cn")
    paused.password_hash = accounts.hash_password("a long enough password")
    db.session.add(
        Project(
            code="S",
            name="工地",
            lat=30.27,
            lng=120.15,
            phase="construction",
            geometry={"type": "Point", "coordinates": [120.15, 30.27]},
            active_site=True,
        )
    )
    with pytest.raises(supervisors.ApplicationError, match="reason"):
        supervisors.suspend(db.session, admin, paused, " ", utcnow())
    with pytest.raises(supervisors.ApplicationError, match="state"):
        supervisors.suspend(db.session, admin, admin, "不是监督员", utcnow())
    supervisors.suspend(db.session, admin, paused, "多次提交不实报告", utcnow())
    db.session.commit()
    assert not paused.is_active and paused.suspension_reason == "多次提交不实报告"
    login = accounts.authenticate(db.session, paused.email, "a long enough password", utcnow())
    assert login is None
    round_ = spotchecks.assign(db.session, "2026-12", 1, seed=1, actor=None, now=utcnow())
    assert {a.supervisor_id for a in round_.assignments} == {kept.id}
    with pytest.raises(supervisors.ApplicationError, match="reason"):
        supervisors.reinstate(db.session, admin, paused, "", utcnow())
    supervisors.reinstate(db.session, admin, paused, "经核实已改正", utcnow())
    db.session.commit()
    assert paused.is_active and paused.suspended_at is None
    assert accounts.authenticate(db.session, paused.email, "a long enough password", utcnow())
    actions = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.object_id == str(paused.id))
    ).all()
    assert {"supervisor.suspend", "supervisor.reinstate"} <= set(actions)

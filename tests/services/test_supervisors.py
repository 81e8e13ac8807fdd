"""Applications to become a citizen supervisor."""

import re

import pytest
from sqlalchemy import select

from portal.models import OutboxMessage, utcnow
from portal.services import accounts, supervisors
from tests.factories import make_user


def test_approval_creates_the_account_and_mails_the_login(db, reference):
    application = supervisors.apply(
        db.session,
        "陈晓",
        "13800001111",
        "Chen@example.cn",
        None,
        "住在附近，关心工地安全",
        utcnow(),
    )
    with pytest.raises(supervisors.ApplicationError):
        supervisors.apply(db.session, "陈晓", "1", "chen@example.cn", None, "", utcnow())
    admin = make_user(db.session, "admin")
    user = supervisors.approve(db.session, admin, application, utcnow())
    assert user.role == "supervisor" and application.status == "approved"
    mail = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.recipient == "chen@example.cn")
    )
    password = re.search(r"(?:Password|密码)[:：]\s*([A-Za-z0-9_-]+)", mail.body).group(1)
    assert accounts.check_password(user, password)
    with pytest.raises(supervisors.ApplicationError):
        supervisors.approve(db.session, admin, application, utcnow())


def test_decline_needs_a_reason(db, reference):
    application = supervisors.apply(db.session, "王", "1", "w@example.cn", None, "", utcnow())
    admin = make_user(db.session, "admin")
    with pytest.raises(supervisors.ApplicationError):
        supervisors.decline(db.session, admin, application, " ", utcnow())
    supervisors.decline(db.session, admin, application, "名额已满", utcnow())
    assert application.status == "declined"
    assert "名额已满" in db.session.scalar(select(OutboxMessage.body))

"""The migration that takes mailed passwords out of the outbox (958c2c132264): its data step."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sqlalchemy import select

from portal.models import OutboxMessage, User, utcnow
from portal.services import accounts, audit
from tests.factories import make_user

MIGRATION = next(
    (Path(__file__).parent.parent / "migrations" / "versions").glob("*_958c2c132264_*.py")
)


def load_migration():
    spec = importlib.util.spec_from_file_location("mailed_passwords", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mailed_passwords_are_removed_and_handed_out_ones_must_change(db, reference):
    def account(email: str, role: str = "supervisor") -> User:
        user = make_user(db.session, role, email=email)
        user.password_hash = accounts.hash_password("handed out 12345")
        return user

    chen, lin = account("chen@example.cn"), account("lin@example.cn")
    staff, changed = account("li@example.cn", "handler"), account("wang@example.cn", "admin")
    audit.record(db.session, changed, "account.password", "account", changed.id, now=utcnow())
    zh = "\n".join(
        [
            "您的申请已通过。请在此登录：http://127.0.0.1:5000/login",
            "账号：chen@example.cn",
            "密码：Xk3v_9aQpL2m （登录后请修改）",
        ]
    )
    en = "\n".join(
        [
            "Your application was approved. Sign in at http://127.0.0.1:5000/login",
            "E-mail: lin@example.cn",
            "Password: Qw9-Zr4tYb7s (change it after signing in)",
        ]
    )
    other = "您反映的问题已处理。如需修改密码：请登录后台。"  # no password line: left alone
    db.session.add_all(
        [
            OutboxMessage(recipient="chen@example.cn", subject="s", body=zh, kind="supervisor"),
            OutboxMessage(recipient="lin@example.cn", subject="s", body=en, kind="supervisor"),
            OutboxMessage(recipient="x@example.cn", subject="s", body=other, kind="case"),
        ]
    )
    db.session.commit()

    load_migration().remove_mailed_passwords(db.session.connection())
    db.session.commit()

    bodies = db.session.scalars(select(OutboxMessage.body).order_by(OutboxMessage.id)).all()
    assert "Xk3v_9aQpL2m" not in bodies[0] and "Qw9-Zr4tYb7s" not in bodies[1]
    assert "忘记密码" in bodies[0] and "账号：chen@example.cn" in bodies[0]
    assert "Forgot your password?" in bodies[1] and "E-mail: lin@example.cn" in bodies[1]
    assert bodies[2] == other
    for user in (chen, lin, staff, changed):
        db.session.refresh(user)
    # The mailed passwords sit in every backup: they no longer open the accounts.
    assert chen.password_hash == "" and lin.password_hash == ""
    # A password handed out at creation and never changed must be changed at next sign-in.
    assert staff.must_change_password and accounts.check_password(staff, "handed out 12345")
    assert not changed.must_change_password
